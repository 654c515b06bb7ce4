/**
 * The float epilogue of _FusedMatMul on the CPU side of a base (pbq-cpu; any base whose output
 * is in host memory): y = act(y + bias), with tfjs's broadcasting of bias and prelu weights
 * against the output and tfjs-backend-cpu's activation formulas.
 */
import { backend_util, util } from '@tensorflow/tfjs-core';

/** A broadcast operand of the epilogue: values of `shape`, read at output positions. */
export interface BroadcastOperand {
  values: ArrayLike<number>;
  shape: number[];
}

/** For each flat output index, the flat index into an operand broadcast to outShape. */
export function broadcastIndices(shape: number[], outShape: number[]): Int32Array {
  const size = util.sizeFromShape(outShape);
  const out = new Int32Array(size);
  const rank = outShape.length;
  const offset = rank - shape.length;
  const strides = util.computeStrides(shape);
  const outStrides = util.computeStrides(outShape);
  for (let i = 0; i < size; i++) {
    let rem = i;
    let index = 0;
    for (let d = 0; d < rank; d++) {
      const coord = d < rank - 1 ? Math.floor(rem / outStrides[d]) : rem;
      if (d < rank - 1) rem -= coord * outStrides[d];
      const sd = d - offset;
      if (sd >= 0 && shape[sd] !== 1) index += coord * (sd < shape.length - 1 ? strides[sd] : 1);
    }
    out[i] = index;
  }
  return out;
}

function activate(x: number, activation: backend_util.Activation, alpha: number): number {
  switch (activation) {
    case 'linear': return x;
    case 'relu': return x < 0 ? 0 : x;
    case 'relu6': return Math.min(Math.max(0, x), 6);
    case 'elu': return x >= 0 ? x : Math.exp(x) - 1;
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'leakyrelu':
    case 'prelu': return x < 0 ? alpha * x : x;
  }
}

/** Applies bias and activation in place on `y` of shape `outShape`. */
export function applyEpilogue(
  y: Float32Array, outShape: number[],
  opts: { bias?: BroadcastOperand; activation?: backend_util.Activation; prelu?: BroadcastOperand; leakyreluAlpha?: number },
): void {
  const activation = opts.activation ?? 'linear';
  const { bias, prelu } = opts;
  const biasIndex = bias && broadcastIndices(bias.shape, outShape);
  const preluIndex = activation === 'prelu' && prelu ? broadcastIndices(prelu.shape, outShape) : undefined;
  if (activation === 'prelu' && !prelu) throw new Error('pbq: prelu activation needs preluActivationWeights');
  const leaky = opts.leakyreluAlpha ?? 0.2;
  for (let i = 0; i < y.length; i++) {
    let v = y[i];
    if (bias && biasIndex) v += bias.values[biasIndex[i]];
    const alpha = preluIndex && prelu ? prelu.values[preluIndex[i]] : leaky;
    y[i] = activate(v, activation, alpha);
  }
}
