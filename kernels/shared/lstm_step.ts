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
import type { MatMulArgs } from './matmul_args';

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

/**
 * z = x·W + h·U + b with two of the base's quantized matmuls: x·W + b first, then h·U with that
 * product as its bias (the GPU bases' epilogue adds it). `free` releases the intermediate.
 */
export function gatePreactivations(
  matMul: (args: MatMulArgs) => TensorInfo, a: LstmStepArgs, free: (t: TensorInfo) => void,
): TensorInfo {
  const zx = matMul({ a: a.x, b: a.kernel, transposeA: false, transposeB: false, bias: a.bias, activation: 'linear' });
  try {
    return matMul({ a: a.h, b: a.recurrentKernel, transposeA: false, transposeB: false, bias: zx, activation: 'linear' });
  } finally {
    free(zx);
  }
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

/** The gate nonlinearity, rounded to float32 like a tfjs op result. */
export function gate(z: number, kind: RecurrentActivation): number {
  return Math.fround(kind === 'sigmoid' ? 1 / (1 + Math.exp(-z)) : Math.min(1, Math.max(0, 0.2 * z + 0.5)));
}

/**
 * The cell update in float32 on host arrays (the bases whose tensors are host memory: cpu,
 * wasm): z = zx + zh ([B, 4H], Keras gate order i, f, g, o), c' = f·c + i·g, h' = o·tanh(c').
 */
export function lstmCellUpdate(
  zx: ArrayLike<number>, zh: ArrayLike<number>, c: ArrayLike<number>, batch: number, units: number,
  kind: RecurrentActivation, hOut: Float32Array, cOut: Float32Array,
): void {
  const H = units;
  for (let b = 0; b < batch; b++) {
    const z = (g: number, j: number) => Math.fround(zx[b * 4 * H + g * H + j] + zh[b * 4 * H + g * H + j]);
    for (let j = 0; j < H; j++) {
      const i = gate(z(0, j), kind);
      const f = gate(z(1, j), kind);
      const g = Math.fround(Math.tanh(z(2, j)));
      const o = gate(z(3, j), kind);
      const cNew = Math.fround(Math.fround(f * c[b * H + j]) + Math.fround(i * g));
      cOut[b * H + j] = cNew;
      hOut[b * H + j] = Math.fround(o * Math.fround(Math.tanh(cNew)));
    }
  }
}
