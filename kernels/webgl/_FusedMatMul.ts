/** _FusedMatMul on pbq-webgl: the quantized product with its epilogue (BatchMatMul_impl.ts) or the webgl kernel. */
import { fusedMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { batchMatMulImpl } from './BatchMatMul_impl';

export const fusedMatMulConfig = makeConfig('webgl', batchMatMulImpl);
