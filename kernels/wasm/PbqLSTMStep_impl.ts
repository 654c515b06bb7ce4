/**
 * PbqLSTMStep on pbq-wasm: the two products in the SIMD engine (BatchMatMul_impl.ts), the cell
 * update (kernels/shared/lstm_step.ts) on the backend's memory, in place.
 */
import { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWasm } from '../../src/backend_wasm';
import type { PbqConfig } from '../../src/config';
import { checkLstmShapes, lstmCellUpdate, LstmStepArgs } from '../shared/lstm_step';
import { batchMatMulImpl } from './BatchMatMul_impl';

export function lstmStepImpl(backend: PbqBackendWasm, args: LstmStepArgs, config: PbqConfig): [TensorInfo, TensorInfo] {
  const { batch, units } = checkLstmShapes(args);
  const product = (a: TensorInfo, b: TensorInfo, bias?: TensorInfo) =>
    batchMatMulImpl(backend, { a, b, transposeA: false, transposeB: false, bias, activation: 'linear' }, config);
  const zx = product(args.x, args.kernel, args.bias);
  const zh = product(args.h, args.recurrentKernel);
  const h = backend.makeOutput([batch, units], 'float32');
  const c = backend.makeOutput([batch, units], 'float32');
  // views after every allocation (one may grow the memory)
  const view = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  lstmCellUpdate(view(zx), view(zh), view(args.c), batch, units, args.recurrentActivation, view(h), view(c));
  backend.disposeData(zx.dataId);
  backend.disposeData(zh.dataId);
  return [h, c];
}
