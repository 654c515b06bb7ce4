/**
 * PbqLSTMStep on WebGL 2: the gate products are two bitlayer matmul passes (x·W + b, then h·U
 * with the first product fused in as its bias), and one cell pass below computes the gates and
 * the state update for every (batch, unit) (lstm_cell_gpu.ts). CPU twin: kernels/cpu/PbqLSTMStep_impl.ts.
 */
import { getKernel, TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGL } from '../../src/backend_webgl';
import type { PbqConfig } from '../../src/config';
import { checkLstmShapes, gatePreactivations, LstmStepArgs } from '../shared/lstm_step';
import { batchMatMulImpl } from './BatchMatMul_impl';
import { runShapeFree } from './glsl_common';
import { LstmCellProgram } from './lstm_cell_gpu';

function slice(backend: PbqBackendWebGL, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const kernel = getKernel('Slice', 'webgl');
  if (!kernel) throw new Error('pbq: the webgl Slice kernel is not registered');
  return kernel.kernelFunc({ inputs: { x }, backend, attrs: { begin, size } }) as TensorInfo;
}

export function lstmStepImpl(backend: PbqBackendWebGL, args: LstmStepArgs, config: PbqConfig): [TensorInfo, TensorInfo] {
  const { batch, units } = checkLstmShapes(args);
  const z = gatePreactivations((m) => batchMatMulImpl(backend, m, config), args, (t) => backend.disposeIntermediateTensorInfo(t));
  const temps = [z];
  try {
    const both = runShapeFree(backend, new LstmCellProgram(batch, units, args.recurrentActivation), [z, args.c]);
    temps.push(both);
    const h = slice(backend, both, [0, 0, 0], [1, batch, units]);
    const c = slice(backend, both, [1, 0, 0], [1, batch, units]);
    return [{ ...h, shape: [batch, units] }, { ...c, shape: [batch, units] }];
  } finally {
    for (const t of temps) backend.disposeIntermediateTensorInfo(t);
  }
}
