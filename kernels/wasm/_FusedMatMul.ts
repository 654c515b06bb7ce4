/** _FusedMatMul on pbq-wasm: the quantized product with its epilogue (BatchMatMul_impl.ts) or the wasm kernel. */
import type { _FusedMatMulAttrs, _FusedMatMulInputs } from '@tensorflow/tfjs-core';
import { fusedMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { fusedMatMulArgs } from '../shared/matmul_args';
import { batchMatMulImpl } from './BatchMatMul_impl';
import { servingEmptyInnerProducts } from './empty_product';

export const fusedMatMulConfig = servingEmptyInnerProducts(makeConfig('wasm', batchMatMulImpl),
  (call) => fusedMatMulArgs(call.inputs as _FusedMatMulInputs, call.attrs as unknown as _FusedMatMulAttrs));
