/** BatchMatMul on pbq-webgpu: the quantized product (BatchMatMul_impl.ts) or the webgpu kernel. */
import { batchMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { batchMatMulImpl } from './BatchMatMul_impl';

export const batchMatMulConfig = makeConfig('webgpu', batchMatMulImpl);
