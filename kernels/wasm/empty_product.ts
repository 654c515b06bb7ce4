/**
 * Products over an empty inner dimension (K = 0, output not empty): tfjs-backend-wasm 4.22
 * returns such an output uninitialized, where tfjs-cpu gives act(0 + bias). The shared routing
 * hands empty operands to the base kernel, so pbq-wasm serves these itself: its product is
 * exact at K = 0 (every row is a zero row), then the shared epilogue.
 */
import { KernelConfig, KernelFunc, TensorInfo, util } from '@tensorflow/tfjs-core';
import type { PbqBackendWasm } from '../../src/backend_wasm';
import { getConfig } from '../../src/config';
import type { MatMulArgs } from '../shared/matmul_args';
import { planMatMul } from '../shared/matmul_plan';
import { batchMatMulImpl } from './BatchMatMul_impl';

function isEmptyInnerProduct(args: MatMulArgs): boolean {
  const { a, b } = args;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return false;
  const plan = planMatMul(a.shape, b.shape, args.transposeA, args.transposeB);
  return plan.k === 0 && util.sizeFromShape(plan.outShape) > 0;
}

/** `config` with K = 0 products served by pbq-wasm's own product. */
export function servingEmptyInnerProducts(
  config: KernelConfig, parse: (call: Parameters<KernelFunc>[0]) => MatMulArgs,
): KernelConfig {
  const routed = config.kernelFunc;
  return {
    ...config,
    kernelFunc: (call) => {
      const args = parse(call);
      if (!isEmptyInnerProduct(args)) return routed(call);
      return batchMatMulImpl(call.backend as PbqBackendWasm, args, getConfig()) as TensorInfo;
    },
  };
}
