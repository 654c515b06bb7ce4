/**
 * PbqLSTMStep on WebGPU: the gate products are two bitlayer matmuls (x·W + b, then h·U with the
 * first product as its bias, so z = x·W + h·U + b leaves the second epilogue), and two cell
 * passes compute h' and c' from z and c (lstm_cell_wgsl.ts). CPU twin: kernels/cpu/PbqLSTMStep_impl.ts.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGPU } from '../../src/backend_webgpu';
import type { PbqConfig } from '../../src/config';
import { checkLstmShapes, gatePreactivations, LstmStepArgs } from '../shared/lstm_step';
import { batchMatMulImpl } from './BatchMatMul_impl';
import { LstmCellProgram } from './lstm_cell_wgsl';

export function lstmStepImpl(backend: PbqBackendWebGPU, args: LstmStepArgs, config: PbqConfig): [TensorInfo, TensorInfo] {
  const { batch, units } = checkLstmShapes(args);
  const z = gatePreactivations((m) => batchMatMulImpl(backend, m, config), args, (t) => backend.disposeData(t.dataId));
  try {
    const cell = (output: 'h' | 'c') => {
      const program = new LstmCellProgram(batch, units, args.recurrentActivation, output);
      return backend.runWebGPUProgram(program, [z, args.c], 'float32', program.uniformData);
    };
    return [cell('h'), cell('c')];
  } finally {
    backend.disposeData(z.dataId);
  }
}
