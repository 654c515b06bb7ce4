/**
 * The decision every pbq matmul kernel makes first: run bitlayers, or hand the call to the base
 * backend's float kernel. Bitlayers need float32 operands with at least one element; anything
 * else (int32 matmul, empty tensors) goes to the base kernel, never to a wrong answer.
 */
import { engine, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { DataId } from '@tensorflow/tfjs-core';
import { getConfig, PbqConfig } from '../src/config';
import type { MatMulArgs } from './bitlayer_matmul_cpu';

/** A backend that can run a bitlayer matmul (both pbq backends implement this). */
export interface BitlayerBackend {
  bitlayerMatMul(args: MatMulArgs, config: PbqConfig): TensorInfo;
}

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

export type MatMulRoute = 'bitlayer' | 'base';

/** Where a matmul goes under `config` (documented in the README, "Which matmuls are quantized"). */
export function routeMatMul(args: MatMulArgs, config: PbqConfig): MatMulRoute {
  const { a, b } = args;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return 'base';
  if (a.shape.some((d) => d === 0) || b.shape.some((d) => d === 0)) return 'base';
  if (config.activationMatMul === 'float' && !isVariableData(b.dataId)) return 'base';
  return 'bitlayer';
}

/** Builds the kernel function of BatchMatMul or _FusedMatMul over a base backend's kernel. */
export function bitlayerKernel(base: KernelFunc): KernelFunc {
  return (kernelArgs) => {
    const { inputs, attrs } = kernelArgs;
    const attr = attrs as NamedAttrMap;
    const args: MatMulArgs = {
      a: inputs.a as TensorInfo,
      b: inputs.b as TensorInfo,
      transposeA: Boolean(attr.transposeA),
      transposeB: Boolean(attr.transposeB),
      bias: inputs.bias as TensorInfo | undefined,
      preluActivationWeights: inputs.preluActivationWeights as TensorInfo | undefined,
      activation: (attr.activation as MatMulArgs['activation']) ?? 'linear',
      leakyreluAlpha: attr.leakyreluAlpha as number | undefined,
    };
    const config = getConfig();
    if (routeMatMul(args, config) === 'base') return base(kernelArgs);
    return (kernelArgs.backend as unknown as BitlayerBackend).bitlayerMatMul(args, config);
  };
}
