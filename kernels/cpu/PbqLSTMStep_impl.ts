/** PbqLSTMStep on the CPU engine (equations: kernels/shared/lstm_step.ts). */
import { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendCPU } from '../../src/backend_cpu';
import type { PbqConfig } from '../../src/config';
import { checkLstmShapes, lstmCellUpdate, LstmStepArgs } from '../shared/lstm_step';
import { batchMatMulImpl } from './BatchMatMul_impl';

export function lstmStepImpl(backend: PbqBackendCPU, args: LstmStepArgs, config: PbqConfig): [TensorInfo, TensorInfo] {
  const { batch, units } = checkLstmShapes(args);
  const product = (a: TensorInfo, b: TensorInfo, bias?: TensorInfo) =>
    batchMatMulImpl(backend, { a, b, transposeA: false, transposeB: false, bias, activation: 'linear' }, config);
  const zx = product(args.x, args.kernel, args.bias);
  const zh = product(args.h, args.recurrentKernel);
  const read = (t: TensorInfo) => backend.data.get(t.dataId).values as Float32Array;
  const hOut = new Float32Array(batch * units);
  const cOut = new Float32Array(batch * units);
  lstmCellUpdate(read(zx), read(zh), read(args.c), batch, units, args.recurrentActivation, hOut, cOut);
  backend.disposeIntermediateTensorInfo(zx);
  backend.disposeIntermediateTensorInfo(zh);
  return [backend.makeTensorInfo([batch, units], 'float32', hOut), backend.makeTensorInfo([batch, units], 'float32', cOut)];
}
