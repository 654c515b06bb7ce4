/** BatchMatMul on pbq-wasm: the quantized product (BatchMatMul_impl.ts) or the wasm kernel. */
import type { BatchMatMulAttrs, BatchMatMulInputs } from '@tensorflow/tfjs-core';
import { batchMatMulConfig as makeConfig } from '../shared/kernels_for_base';
import { batchMatMulArgs } from '../shared/matmul_args';
import { batchMatMulImpl } from './BatchMatMul_impl';
import { servingEmptyInnerProducts } from './empty_product';

export const batchMatMulConfig = servingEmptyInnerProducts(makeConfig('wasm', batchMatMulImpl),
  (call) => batchMatMulArgs(call.inputs as BatchMatMulInputs, call.attrs as unknown as BatchMatMulAttrs));
