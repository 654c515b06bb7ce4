/** BatchMatMul on pbq-cpu: the quantized product (BatchMatMul_impl.ts) or the cpu kernel. */
import { batchMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { batchMatMulImpl } from './BatchMatMul_impl';

export const batchMatMulConfig = makeConfig('cpu', batchMatMulImpl);
