/** The CPU engine's view of a matmul case, for comparison with the GLSL kernels. */
import * as tf from '@tensorflow/tfjs-core';
import '../src/index';
import { configure } from '../src/config';
import { buildByteTables, decodeCodes, partialSums, wordPartials } from '../src/engine';
import { accumulate, dotProductBound } from '../src/accumulator';
import { channelPlanes, quantizeWeights } from '../src/quantize';
import { quantizeAOperand } from '../kernels/cpu/BatchMatMul_impl';
import { planMatMul } from '../kernels/shared/matmul_plan';
import type { MatMulCase } from './browser/pages/bitlayer_page';
import { randomValues } from './helpers';
import { decodeFloats } from './browser/pages/float_codec';

/** Partial sums [outBatch, M, N, t+1] (S_0..S_{t-1}, T) computed by the CPU engine. */
export function cpuPartials(c: MatMulCase): number[] {
  const tA = !!c.transposeA;
  const tB = !!c.transposeB;
  const plan = planMatMul(c.a.shape, c.b.shape, tA, tB);
  const acts = quantizeAOperand(decodeFloats(c.a.values), plan, tA, c.activationBits);
  const w = quantizeWeights(decodeFloats(c.b.values), { batch: plan.bBatch, k: plan.k, n: plan.n, transposed: tB }, c.weightBits);
  const out: number[] = [];
  for (let ob = 0; ob < plan.outBatch; ob++) {
    for (let m = 0; m < plan.m; m++) {
      const row = plan.aIndex[ob] * plan.m + m;
      for (let n = 0; n < plan.n; n++) {
        const t = channelPlanes(w, plan.bIndex[ob] * plan.n + n, c.weightBits);
        out.push(...partialSums(acts, row, w, plan.bIndex[ob], n, t), acts.codeSums[row]);
      }
    }
  }
  return out;
}

/** The case's output on the pbq-cpu backend (CPU engine). */
export async function cpuOutput(c: MatMulCase): Promise<{ values: number[]; shape: number[] }> {
  await tf.setBackend('pbq-cpu');
  configure({ weightBits: c.weightBits, activationBits: c.activationBits, accumulator: c.accumulator ?? { type: 'exact' } });
  const t = (o?: MatMulCase['a']) => o && tf.tensor(decodeFloats(o.values), o.shape, 'float32');
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

/** Installs stored planes for `w` (a variable) in the active pbq backend's weight cache. */
export function seedWeight(backend: unknown, w: tf.Tensor, values: number[], stored: StoredPlanes, bits: number): void {
  const [k, n] = w.shape;
  const layout = { batch: 1, k, n, transposed: false };
  const weight = quantizeWeights(values, layout, bits, stored);
  (backend as { weightCache: { seed(d: unknown, l: typeof layout, q: typeof weight): void } }).weightCache.seed(w.dataId, layout, weight);
}

/** y = a · stored(b) on the pbq-cpu backend (max planes = max(channelBits)). */
export async function seededOutput(c: MatMulCase, stored: StoredPlanes): Promise<{ values: number[]; shape: number[] }> {
  await tf.setBackend('pbq-cpu');
  configure({ weightBits: c.weightBits, activationBits: c.activationBits, accumulator: c.accumulator ?? { type: 'exact' } });
  const a = tf.tensor(decodeFloats(c.a.values), c.a.shape, 'float32');
  const init = tf.tensor(decodeFloats(c.b.values), c.b.shape, 'float32');
  const b = tf.variable(init);
  init.dispose();
  seedWeight(tf.backend(), b, decodeFloats(c.b.values), stored, Math.max(...stored.channelBits));
  const y = tf.matMul(a, b);
  const out = { values: Array.from(await y.data()), shape: y.shape };
  tf.dispose([a, b, y]);
  return out;
}

/** [register, overflows, underflows] per output of a narrow-accumulator case, by the CPU engine. */
export function cpuAccumulatorPartials(c: MatMulCase): number[] {
  const acc = c.accumulator;
  if (!acc || acc.type === 'exact') throw new Error('cpuAccumulatorPartials needs a narrow accumulator');
  const tA = !!c.transposeA;
  const tB = !!c.transposeB;
  const plan = planMatMul(c.a.shape, c.b.shape, tA, tB);
  const acts = quantizeAOperand(decodeFloats(c.a.values), plan, tA, c.activationBits);
  const w = quantizeWeights(decodeFloats(c.b.values), { batch: plan.bBatch, k: plan.k, n: plan.n, transposed: tB }, c.weightBits);
  const codes = decodeCodes(acts);
  const lut = new Float64Array(w.words * 1024);
  const wordSums = new Float64Array(w.words);
  const partials = new Float64Array(w.words);
  const out: number[] = [];
  for (let ob = 0; ob < plan.outBatch; ob++) {
    for (let m = 0; m < plan.m; m++) {
      const row = plan.aIndex[ob] * plan.m + m;
      buildByteTables(acts, row, codes, lut);
      wordSums.fill(0);
      for (let k = 0; k < plan.k; k++) wordSums[k >>> 5] += codes[row * plan.k + k];
      for (let n = 0; n < plan.n; n++) {
        const ch = plan.bIndex[ob] * plan.n + n;
        const t = channelPlanes(w, ch, c.weightBits);
        wordPartials(w, ch, t, lut, wordSums, partials);
        const events = new Int32Array(2);
        const { value } = accumulate(acc, partials, dotProductBound(plan.k, t, c.activationBits), events);
        out.push(value, events[0], events[1]);
      }
    }
  }
  return out;
}
