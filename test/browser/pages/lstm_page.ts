/** Page code of the GLSL LSTM step test: stock tf.layers.lstm under pbq on WebGL 2. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../../../src/index';
import { FUSED_LSTM_FLAG } from '../../../src/layers';
import { lstmModel, TOKENS } from '../../lstm_fixture';


const api = {
  /** Fused and composed outputs under pbq/WebGL, which kernels ran, and memory before/after. */
  async compare(recurrentActivation: 'hardSigmoid' | 'sigmoid', weightBits: number, seed: number) {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits, activationBits: 8 });
    const model = lstmModel(recurrentActivation, seed);
    const tokens = tf.tensor2d(TOKENS);
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
