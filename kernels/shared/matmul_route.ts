/**
 * The decision every pbq matmul kernel makes first: run the quantized product, or hand the call
 * to the base backend's float kernel. Quantized products need float32 operands with at least one
 * element; anything else (int32 matmul, empty tensors) goes to the base kernel, never to a wrong
 * answer. Shared by every base (kernels/<base>/BatchMatMul.ts and _FusedMatMul.ts).
 */
import { engine, getKernel, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { DataId } from '@tensorflow/tfjs-core';
import type { PbqConfig } from '../../src/config';
import type { MatMulArgs } from './matmul_args';

/** True when `dataId` holds the value of a tf.Variable (a model weight). */
export function isVariableData(dataId: DataId): boolean {
  const vars = engine().state.registeredVariables;
  for (const name in vars) {
    if (vars[name].dataId === dataId) return true;
  }
  return false;
}

/**
 * NaN/Inf policy of a B operand: a model weight (a Variable) with NaN/Inf is an error; any other
 * operand propagates NaN to the affected output channels, as float matmul does.
 */
export function nonFiniteWeights(b: TensorInfo): 'throw' | 'nan' {
  return isVariableData(b.dataId) ? 'throw' : 'nan';
}

export type MatMulRoute = 'quantized' | 'base';

/** Where a matmul goes under `config` (README, "What runs quantized"). */
export function routeMatMul(args: MatMulArgs, config: PbqConfig): MatMulRoute {
  const { a, b } = args;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return 'base';
  if (a.shape.some((d) => d === 0) || b.shape.some((d) => d === 0)) return 'base';
  if (config.activationMatMul === 'float' && !isVariableData(b.dataId)) return 'base';
  return 'quantized';
}

/** The stock kernel `kernelName` of base backend `base` (registered by its package). */
export function baseKernel(kernelName: string, base: string): KernelFunc {
  const kernel = getKernel(kernelName, base);
  if (!kernel) throw new Error(`pbq: the ${base} kernel ${kernelName} is not registered (is @tensorflow/tfjs-backend-${base} loaded?)`);
  return kernel.kernelFunc;
}

/** A kernel config for another backend name (the same kernel serves 'pbq-<base>' and 'pbq'). */
export function forBackend(config: KernelConfig, backendName: string): KernelConfig {
  return { ...config, backendName };
}
