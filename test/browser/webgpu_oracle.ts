/** The CPU engine's outputs of a WebGPU test case (pbq-cpu in Node), for comparison with the WGSL kernels. */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/index';
import { configure } from '../../src/config';
import { quantizeWeights } from '../../src/quantize';
import { randomValues } from '../helpers';
import { decodeFloats, MatMulCase, Operand } from './pages/webgpu_case';

function configureFor(c: MatMulCase): void {
  configure({ weightBits: c.weightBits, activationBits: c.activationBits, accumulator: c.accumulator ?? { type: 'exact' } });
}

/** The case's output on the pbq-cpu backend (CPU engine). */
export async function cpuOutput(c: MatMulCase): Promise<{ values: number[]; shape: number[] }> {
  await tf.setBackend('pbq-cpu');
  configureFor(c);
  const t = (o?: Operand) => o && tf.tensor(decodeFloats(o.values), o.shape, 'float32');
  const fused = c.bias !== undefined || (c.activation ?? 'linear') !== 'linear';
  const y = tf.tidy(() => !fused ? tf.matMul(t(c.a) as tf.Tensor, t(c.b) as tf.Tensor, c.transposeA, c.transposeB) : tf.fused.matMul({
    a: t(c.a) as tf.Tensor2D, b: t(c.b) as tf.Tensor2D, transposeA: c.transposeA, transposeB: c.transposeB,
    bias: t(c.bias), activation: c.activation, preluActivationWeights: t(c.prelu), leakyreluAlpha: c.leakyreluAlpha,
  }));
  const out = { values: Array.from(await y.data()), shape: y.shape };
  y.dispose();
  return out;
}

/** A random case; shapes are [..., M, K] × [..., K, N] before the transposes are applied. */
export function randomCase(
  seed: number, aShape: number[], bShape: number[], weightBits: number, activationBits: number,
  opts: Partial<MatMulCase> = {},
): MatMulCase {
  const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
  return {
    a: { values: Array.from(randomValues(size(aShape), seed, 2)), shape: aShape },
    b: { values: Array.from(randomValues(size(bShape), seed + 1, 0.7)), shape: bShape },
    weightBits, activationBits, ...opts,
  };
}

/** Planes stored by a converter: chosen ranges and per-channel bit widths (max = weightBits of the case). */
export interface StoredPlanes { ranges: number[]; channelBits: number[] }

/** y = a · stored(b) on the pbq-cpu backend, b a variable whose planes are seeded in the weight cache. */
export async function seededOutput(c: MatMulCase, stored: StoredPlanes): Promise<{ values: number[]; shape: number[] }> {
  await tf.setBackend('pbq-cpu');
  configureFor(c);
  const a = tf.tensor(decodeFloats(c.a.values), c.a.shape, 'float32');
  const init = tf.tensor(decodeFloats(c.b.values), c.b.shape, 'float32');
  const b = tf.variable(init);
  init.dispose();
  const [k, n] = b.shape;
  const layout = { batch: 1, k, n, transposed: false };
  const weight = quantizeWeights(decodeFloats(c.b.values), layout, Math.max(...stored.channelBits), stored);
  (tf.backend() as unknown as { weightCache: { seed(d: unknown, l: typeof layout, q: typeof weight): void } }).weightCache.seed(b.dataId, layout, weight);
  const y = tf.matMul(a, b);
  const out = { values: Array.from(await y.data()), shape: y.shape };
  tf.dispose([a, b, y]);
  return out;
}
