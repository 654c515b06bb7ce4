/** _FusedMatMul on pbq-webgpu: the quantized product with its fused epilogue, or the webgpu kernel. */
import { fusedMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { batchMatMulImpl } from './BatchMatMul_impl';

export const fusedMatMulConfig = makeConfig('webgpu', batchMatMulImpl);
