/** Page code of the GLSL LSTM step test: stock tf.layers.lstm under pbq on WebGL 2. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../../../src/index';
import { FUSED_LSTM_FLAG } from '../../../src/layers';

function lstmModel(recurrentActivation: 'hardSigmoid' | 'sigmoid', seed: number): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.embedding({ inputDim: 30, outputDim: 12, inputLength: 7, embeddingsInitializer: tfl.initializers.randomUniform({ minval: -1, maxval: 1, seed }) }));
  model.add(tfl.layers.lstm({
    units: 20, recurrentActivation, returnSequences: true,
    kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }),
    recurrentInitializer: tfl.initializers.glorotUniform({ seed: seed + 2 }),
    biasInitializer: tfl.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: seed + 3 }),
  }));
  model.add(tfl.layers.dense({ units: 30, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 4 }) }));
  return model;
}

const api = {
  /** Fused and composed outputs under pbq/WebGL, which kernels ran, and memory before/after. */
  async compare(recurrentActivation: 'hardSigmoid' | 'sigmoid', weightBits: number, seed: number) {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits, activationBits: 8 });
    const model = lstmModel(recurrentActivation, seed);
    const tokens = tf.tensor2d([[1, 5, 9, 2, 2, 7, 29], [0, 3, 3, 11, 18, 4, 6], [12, 12, 12, 1, 0, 0, 5]], [3, 7]);
    const run = async (fused: boolean) => {
      tf.env().set(FUSED_LSTM_FLAG, fused);
      let out: number[] = [];
      const profile = await tf.profile(() => {
        const y = model.predict(tokens) as tf.Tensor;
        out = Array.from(y.dataSync());
        y.dispose();
      });
      return { out, usedKernel: profile.kernelNames.includes('PbqLSTMStep') };
    };
    const fused = await run(true);
    const composed = await run(false);
    const before = tf.memory().numTensors;
    await run(true);
    const after = tf.memory().numTensors;
    tf.env().set(FUSED_LSTM_FLAG, true);
    model.dispose();
    tokens.dispose();
    return { fused, composed, before, after, base: pbq.detectBaseKind() };
  },
};
Object.assign(window, api);
