/** BatchMatMul on pbq-webgpu: the quantized product (BatchMatMul_impl.ts) or the webgpu kernel. */
import { BatchMatMul, KernelConfig } from '@tensorflow/tfjs-core';
import { batchMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { batchMatMulImpl, withZeroInnerDimension } from './BatchMatMul_impl';

const config = makeConfig('webgpu', batchMatMulImpl);

export const batchMatMulConfig: KernelConfig = { ...config, kernelFunc: withZeroInnerDimension(BatchMatMul, config.kernelFunc) };
