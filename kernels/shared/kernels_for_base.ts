/**
 * How every base builds and registers pbq's kernels. A base (kernels/<base>/) supplies its
 * implementations; these helpers turn them into tfjs KernelConfigs with the shared routing
 * (quantized product, or the base's own float kernel) and copy the base's other kernels.
 */
import {
  BatchMatMul, BatchMatMulAttrs, BatchMatMulInputs, getKernel, getKernelsForBackend, KernelBackend, KernelConfig, KernelFunc,
  NamedAttrMap, NamedTensorInfoMap, registerKernel, TensorInfo, _FusedMatMul, _FusedMatMulAttrs, _FusedMatMulInputs,
} from '@tensorflow/tfjs-core';
import { getConfig, PbqConfig } from '../../src/config';
import { LSTM_STEP, LstmStepArgs, lstmStepArgs } from './lstm_step';
import { batchMatMulArgs, fusedMatMulArgs, MatMulArgs } from './matmul_args';
import { baseKernel, routeMatMul } from './matmul_route';

/** A base's quantized matmul: the product, bias and activation of MatMulArgs. */
export type MatMulImpl<B extends KernelBackend> = (backend: B, args: MatMulArgs, config: PbqConfig) => TensorInfo;

/** A base's fused LSTM step: [h', c']. */
export type LstmStepImpl<B extends KernelBackend> = (backend: B, args: LstmStepArgs, config: PbqConfig) => TensorInfo[];

/**
 * The kernel function of BatchMatMul (or _FusedMatMul) on a pbq base: the quantized product where
 * routeMatMul allows it, else the base's own kernel (int32 operands, empty tensors, 'float' policy).
 */
function matMulKernel<B extends KernelBackend>(
  kernelName: typeof BatchMatMul | typeof _FusedMatMul, base: string, impl: MatMulImpl<B>,
): KernelFunc {
  return (call) => {
    const args = kernelName === BatchMatMul
      ? batchMatMulArgs(call.inputs as BatchMatMulInputs, call.attrs as unknown as BatchMatMulAttrs)
      : fusedMatMulArgs(call.inputs as _FusedMatMulInputs, call.attrs as unknown as _FusedMatMulAttrs);
    const config = getConfig();
    if (routeMatMul(args, config) === 'base') return baseKernel(kernelName, base)(call);
    return impl(call.backend as B, args, config);
  };
}

export function batchMatMulConfig<B extends KernelBackend>(base: string, impl: MatMulImpl<B>): KernelConfig {
  return { kernelName: BatchMatMul, backendName: `pbq-${base}`, kernelFunc: matMulKernel(BatchMatMul, base, impl) };
}

export function fusedMatMulConfig<B extends KernelBackend>(base: string, impl: MatMulImpl<B>): KernelConfig {
  return { kernelName: _FusedMatMul, backendName: `pbq-${base}`, kernelFunc: matMulKernel(_FusedMatMul, base, impl) };
}

export function lstmStepConfig<B extends KernelBackend>(base: string, impl: LstmStepImpl<B>): KernelConfig {
  return {
    kernelName: LSTM_STEP,
    backendName: `pbq-${base}`,
    kernelFunc: ({ inputs, backend, attrs }) =>
      impl(backend as B, lstmStepArgs(inputs as NamedTensorInfoMap, attrs as NamedAttrMap), getConfig()),
  };
}

/**
 * Registers, under `backendName`, every kernel of the base backend `base` (its kernel functions
 * and setup functions as they are), then pbq's own kernels over them. Idempotent.
 */
export function registerKernelsOver(base: string, backendName: string, own: readonly KernelConfig[]): void {
  const ownNames = new Set(own.map((k) => k.kernelName));
  for (const kernel of getKernelsForBackend(base)) {
    if (ownNames.has(kernel.kernelName) || getKernel(kernel.kernelName, backendName)) continue;
    registerKernel({ ...kernel, backendName });
  }
  for (const kernel of own) {
    if (!getKernel(kernel.kernelName, backendName)) registerKernel({ ...kernel, backendName });
  }
}
