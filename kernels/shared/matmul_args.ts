/**
 * The arguments every pbq matmul implementation takes, read once from tfjs-core's kernel
 * inputs and attributes (BatchMatMul and _FusedMatMul share them; BatchMatMul has no epilogue).
 */
import type { backend_util, BatchMatMulAttrs, BatchMatMulInputs, TensorInfo, _FusedMatMulAttrs, _FusedMatMulInputs } from '@tensorflow/tfjs-core';

export interface MatMulArgs {
  a: TensorInfo;
  b: TensorInfo;
  transposeA: boolean;
  transposeB: boolean;
  bias?: TensorInfo;
  preluActivationWeights?: TensorInfo;
  activation: backend_util.Activation;
  leakyreluAlpha?: number;
}

/** MatMulArgs of a BatchMatMul call. */
export function batchMatMulArgs(inputs: BatchMatMulInputs, attrs: BatchMatMulAttrs): MatMulArgs {
  return {
    a: inputs.a as TensorInfo,
    b: inputs.b as TensorInfo,
    transposeA: Boolean(attrs.transposeA),
    transposeB: Boolean(attrs.transposeB),
    activation: 'linear',
  };
}

/** MatMulArgs of a _FusedMatMul call. */
export function fusedMatMulArgs(inputs: _FusedMatMulInputs, attrs: _FusedMatMulAttrs): MatMulArgs {
  return {
    a: inputs.a,
    b: inputs.b,
    transposeA: Boolean(attrs.transposeA),
    transposeB: Boolean(attrs.transposeB),
    bias: inputs.bias,
    preluActivationWeights: inputs.preluActivationWeights,
    activation: attrs.activation ?? 'linear',
    leakyreluAlpha: attrs.leakyreluAlpha,
  };
}

/** True when the call has a bias or a non-linear activation to apply after the product. */
export function hasEpilogue(args: MatMulArgs): boolean {
  return args.bias !== undefined || args.activation !== 'linear';
}

/** The prelu weights of a prelu epilogue (tfjs requires them; a clear error when missing). */
export function preluWeights(args: MatMulArgs): TensorInfo | undefined {
  if (args.activation !== 'prelu') return undefined;
  if (!args.preluActivationWeights) throw new Error('pbq: prelu activation needs preluActivationWeights');
  return args.preluActivationWeights;
}
