/** _FusedMatMul on pbq-webgpu: the quantized product with its fused epilogue, or the webgpu kernel. */
import { KernelConfig, _FusedMatMul } from '@tensorflow/tfjs-core';
import { fusedMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { batchMatMulImpl, withZeroInnerDimension } from './BatchMatMul_impl';

const config = makeConfig('webgpu', batchMatMulImpl);

export const fusedMatMulConfig: KernelConfig = { ...config, kernelFunc: withZeroInnerDimension(_FusedMatMul, config.kernelFunc) };
