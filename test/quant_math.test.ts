/**
 * The converter's range selection (src/converter/quant_math.ts): the output-error measure
 * against a direct computation on samples, and what it buys over the weight error.
 */
import {
  channelDelta, InputStats, maxAbs, mseRange, outputError, outputMseRange, quantValue, searchRange,
} from '../src/converter/quant_math';
import { rng as mulberry32 } from './helpers';

/** Moments of sample rows x (n × K) as the calibration pass keeps them. */
function statsOf(rows: number[][]): InputStats {
  const K = rows[0].length;
  const mean = new Float64Array(K);
  const second = new Float64Array(K * K);
  for (const x of rows) {
    for (let i = 0; i < K; i++) {
      mean[i] += x[i] / rows.length;
      for (let j = 0; j < K; j++) second[i * K + j] += (x[i] * x[j]) / rows.length;
    }
  }
  const diag = Float64Array.from({ length: K }, (_, k) => second[k * K + k]);
  return { k: K, count: rows.length, mean, second, diag };
}

describe('output-error ranges', () => {
  const rand = mulberry32(7);
  const K = 24;
  const rows = Array.from({ length: 200 }, () => Array.from({ length: K }, (_, k) => (k === 0 ? 0 : rand() * 2 - 1 + (k % 3) * 0.5)));
  const stats = statsOf(rows);

  it('outputError is E[(x·δ)²], and its variance when centered', () => {
    const d = Array.from({ length: K }, () => rand() - 0.5);
    const outs = rows.map((x) => x.reduce((s, v, k) => s + v * d[k], 0));
    const meanOut = outs.reduce((s, v) => s + v, 0) / outs.length;
    const second = outs.reduce((s, v) => s + v * v, 0) / outs.length;
    expect(outputError(stats, d, false)).toBeCloseTo(second, 10);
    expect(outputError(stats, d, true)).toBeCloseTo(second - meanOut * meanOut, 10);
  });

  it('ignores weights on inputs that are always zero (an outlier there does not stretch the range)', () => {
    const col = Array.from({ length: K }, () => rand() * 0.2 - 0.1);
    col[0] = 1; // input 0 is always 0 (a dead MNIST border pixel)
    const live = maxAbs(col.slice(1));
    const byWeights = mseRange(col, 3);
    const byOutput = outputMseRange(col, 3, stats, false);
    // The weight error must keep the outlier in range; the output error clips it away.
    expect(byWeights).toBeGreaterThan(0.5);
    // (The search stops at 0.2·max|w|: here the live weights' own best range, ≈ 2.5·live, is
    // just above that floor.)
    expect(byOutput).toBeLessThan(3 * live);
    expect(byOutput).toBeGreaterThanOrEqual(0.2 - 1e-6);
    const errOut = (m: number) => outputError(stats, channelDelta(col, m, 3), false);
    expect(errOut(byOutput)).toBeLessThan(errOut(byWeights) / 4);
  });

  it('searchRange finds the grid minimum of a known error curve', () => {
    // Error minimal at ratio 0.37 of top = 2.
    const m = searchRange(2, (r) => (r - 0.74) ** 2);
    expect(m).toBeCloseTo(Math.fround(0.74), 6);
    expect(searchRange(0, () => 0)).toBe(0);
  });

  it('quantValue lies on the b-bit mid-rise grid of the range', () => {
    expect(quantValue(0.3, 1, 2)).toBe(0.25);
    expect(quantValue(-0.3, 1, 2)).toBe(-0.25);
    expect(quantValue(5, 1, 2)).toBe(0.75);
    expect(quantValue(-5, 1, 2)).toBe(-0.75);
  });
});
