/** _FusedMatMul on pbq-cpu: the quantized product with its epilogue (BatchMatMul_impl.ts) or the cpu kernel. */
import { fusedMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { batchMatMulImpl } from './BatchMatMul_impl';

export const fusedMatMulConfig = makeConfig('cpu', batchMatMulImpl);
