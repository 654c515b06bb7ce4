/**
 * PbqLSTMStep: one LSTM time step as one registered kernel of the 'pbq' backend.
 *
 *   z  = x·W + h·U + b                      (bitlayer matmuls: x and h quantized per row)
 *   i, f, g, o = split(z, 4)                (Keras gate order)
 *   c' = σ(f)·c + σ(i)·tanh(g),   h' = σ(o)·tanh(c')
 *
 * σ is the layer's recurrent activation ('hardSigmoid' = clip(0.2x + 0.5, 0, 1), the Keras
 * default, or 'sigmoid'). Outputs [h', c']. Each base implements it in
 * kernels/<base>/PbqLSTMStep_impl.ts; src/layers/lstm_route.ts routes stock tf.layers.lstm cells
 * here under every pbq backend.
 */
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { PbqLSTMStep } from '../../src/kernel_names';
import type { RecurrentActivation } from '../../src/kernel_names';

export type { RecurrentActivation };
export const LSTM_STEP = PbqLSTMStep;

export interface LstmStepArgs {
  x: TensorInfo;
  h: TensorInfo;
  c: TensorInfo;
  kernel: TensorInfo;
  recurrentKernel: TensorInfo;
  bias?: TensorInfo;
  recurrentActivation: RecurrentActivation;
}

/** Shape checks shared by every base: x [B, E], h and c [B, H], W [E, 4H], U [H, 4H], b [4H]. */
export function checkLstmShapes(a: LstmStepArgs): { batch: number; units: number } {
  const [batch, inDim] = a.x.shape;
  const units = a.h.shape[1];
  const ok = a.x.shape.length === 2 && a.h.shape.length === 2 && a.c.shape.length === 2 &&
    a.h.shape[0] === batch && a.c.shape[0] === batch && a.c.shape[1] === units &&
    a.kernel.shape[0] === inDim && a.kernel.shape[1] === 4 * units &&
    a.recurrentKernel.shape[0] === units && a.recurrentKernel.shape[1] === 4 * units &&
    (a.bias === undefined || (a.bias.shape.length === 1 && a.bias.shape[0] === 4 * units));
  if (!ok) {
    throw new Error(`pbq: ${LSTM_STEP} shapes do not fit: x [${a.x.shape}], h [${a.h.shape}], c [${a.c.shape}], ` +
      `kernel [${a.kernel.shape}], recurrentKernel [${a.recurrentKernel.shape}], bias [${a.bias?.shape ?? ''}]`);
  }
  return { batch, units };
}

/** LstmStepArgs of a PbqLSTMStep call (inputs x, h, c, kernel, recurrentKernel[, bias]). */
export function lstmStepArgs(inputs: NamedTensorInfoMap, attrs: NamedAttrMap): LstmStepArgs {
  const args: LstmStepArgs = {
    x: inputs.x as TensorInfo,
    h: inputs.h as TensorInfo,
    c: inputs.c as TensorInfo,
    kernel: inputs.kernel as TensorInfo,
    recurrentKernel: inputs.recurrentKernel as TensorInfo,
    bias: inputs.bias,
    recurrentActivation: attrs.recurrentActivation as RecurrentActivation,
  };
  checkLstmShapes(args);
  return args;
}
