/** PbqLSTMStep on the CPU engine (equations: kernels/shared/lstm_step.ts). */
import { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendCPU } from '../../src/backend_cpu';
import type { PbqConfig } from '../../src/config';
import { checkLstmShapes, LstmStepArgs, RecurrentActivation } from '../shared/lstm_step';
import { batchMatMulImpl } from './BatchMatMul_impl';

/** The gate nonlinearity, rounded to float32 like a tfjs op result. */
export function gate(z: number, kind: RecurrentActivation): number {
  return Math.fround(kind === 'sigmoid' ? 1 / (1 + Math.exp(-z)) : Math.min(1, Math.max(0, 0.2 * z + 0.5)));
}

export function lstmStepImpl(backend: PbqBackendCPU, args: LstmStepArgs, config: PbqConfig): [TensorInfo, TensorInfo] {
  const { batch, units } = checkLstmShapes(args);
  const product = (a: TensorInfo, b: TensorInfo, bias?: TensorInfo) =>
    batchMatMulImpl(backend, { a, b, transposeA: false, transposeB: false, bias, activation: 'linear' }, config);
  const zx = product(args.x, args.kernel, args.bias);
  const zh = product(args.h, args.recurrentKernel);
  const read = (t: TensorInfo) => backend.data.get(t.dataId).values as Float32Array;
  const zxv = read(zx);
  const zhv = read(zh);
  const c = read(args.c);
  const hOut = new Float32Array(batch * units);
  const cOut = new Float32Array(batch * units);
  const H = units;
  for (let b = 0; b < batch; b++) {
    const z = (g: number, j: number) => Math.fround(zxv[b * 4 * H + g * H + j] + zhv[b * 4 * H + g * H + j]);
    for (let j = 0; j < H; j++) {
      const i = gate(z(0, j), args.recurrentActivation);
      const f = gate(z(1, j), args.recurrentActivation);
      const g = Math.fround(Math.tanh(z(2, j)));
      const o = gate(z(3, j), args.recurrentActivation);
      const cNew = Math.fround(Math.fround(f * c[b * H + j]) + Math.fround(i * g));
      cOut[b * H + j] = cNew;
      hOut[b * H + j] = Math.fround(o * Math.fround(Math.tanh(cNew)));
    }
  }
  backend.disposeIntermediateTensorInfo(zx);
  backend.disposeIntermediateTensorInfo(zh);
  return [backend.makeTensorInfo([batch, units], 'float32', hOut), backend.makeTensorInfo([batch, units], 'float32', cOut)];
}
