/**
 * pbq's own kernel, named as tfjs-core names its kernels (kernel_names.ts): the name, the inputs
 * and the attributes of the call that src/layers/ makes and every base implements
 * (kernels/<base>/PbqLSTMStep.ts).
 */
import type { NamedTensorInfoMap } from '@tensorflow/tfjs-core';

/** One LSTM time step: [h', c'] from x, h, c, kernel, recurrentKernel (and bias). */
export const PbqLSTMStep = 'PbqLSTMStep';

/** The gate nonlinearity σ: 'hardSigmoid' = clip(0.2x + 0.5, 0, 1) (the Keras default), or 'sigmoid'. */
export type RecurrentActivation = 'hardSigmoid' | 'sigmoid';

export type PbqLSTMStepInputs = Pick<NamedTensorInfoMap, 'x' | 'h' | 'c' | 'kernel' | 'recurrentKernel' | 'bias'>;

export interface PbqLSTMStepAttrs {
  recurrentActivation: RecurrentActivation;
}
