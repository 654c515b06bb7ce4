/** A small seeded Embedding → LSTM → Dense model, shared by the Node and browser LSTM tests. */
import * as tfl from '@tensorflow/tfjs-layers';

export function lstmModel(recurrentActivation: 'hardSigmoid' | 'sigmoid', seed: number): tfl.LayersModel {
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

/** Three sequences of 7 token ids < 30. */
export const TOKENS = [[1, 5, 9, 2, 2, 7, 29], [0, 3, 3, 11, 18, 4, 6], [12, 12, 12, 1, 0, 0, 5]];
