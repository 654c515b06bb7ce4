/** Simulated narrow accumulators: the engine against plain references. */
import * as tf from '@tensorflow/tfjs-core';
import * as pbq from '../src/index';
import { accumulatorStats, floatLimits, resetAccumulatorStats, roundMagnitude } from '../src/accumulator';
import { bitlayerMatMul } from '../src/engine';
import { AccumulatorConfig } from '../src/config';
import { quantizeActivations, quantizeWeights, QuantizedActivations, QuantizedWeight } from '../src/quantize';
import { randomValues } from './helpers';

/** Integer codes straight from the dequantizers' definitions (no planes involved). */
function codesOf(acts: QuantizedActivations, w: QuantizedWeight, r: number, n: number, t: number) {
  const K = acts.k;
  const a: number[] = [];
  const u: number[] = [];
  for (let k = 0; k < K; k++) {
    let code = 0;
    for (let p = 0; p <= acts.bits; p++) {
      const bit = (acts.planes[(r * (acts.bits + 1) + p) * acts.words + (k >>> 5)] >>> (k & 31)) & 1;
      code = p === 0 ? -bit : 2 * code + bit;
    }
    let q = 0;
    for (let p = 0; p < t; p++) {
      const bit = (w.planes[(n * w.bits + p) * w.words + (k >>> 5)] >>> (k & 31)) & 1;
      q = p === 0 ? -bit : 2 * q + bit;
    }
    a.push(code);
    u.push(2 * q + 1);
  }
  return { a, u };
}

/** Word partials c_w from the codes. */
function wordPartialsPlain(a: number[], u: number[]): number[] {
  const out: number[] = [];
  for (let k = 0; k < a.length; k++) {
    if (k % 32 === 0) out.push(0);
    out[out.length - 1] += a[k] * u[k];
  }
  return out;
}

/** The paper's float emulation, written plainly with doubles: round after every add. */
function plainFloatRound(x: number, M: number, E: number, bound: number, rounding: 'floor' | 'nearest'): number {
  if (x === 0) return 0;
  const emax = Math.floor(Math.log2(bound));
  const emin = emax - (2 ** E - 2);
  const mag = Math.abs(x);
  const e = Math.floor(Math.log2(mag));
  const ulp = 2 ** Math.max(0, e - M);
  let r = Math.floor(mag / ulp);
  if (rounding === 'nearest') {
    const rest = mag / ulp - r;
    if (rest > 0.5 || (rest === 0.5 && r % 2 === 1)) r += 1;
  }
  let v = r * ulp;
  const largest = (2 - 2 ** -M) * 2 ** emax;
  if (v > Math.floor(largest)) v = Math.floor(largest);
  if (v < 2 ** Math.max(0, emin)) v = 0;
  return Math.sign(x) * v;
}

function plainFloatAccumulate(c: number[], M: number, E: number, chunk: number, bound: number, rounding: 'floor' | 'nearest') {
  let total = 0;
  for (let s = 0; s < c.length; s += chunk) {
    let part = 0;
    for (let w = s; w < Math.min(c.length, s + chunk); w++) part = plainFloatRound(part + c[w], M, E, bound, rounding);
    total = plainFloatRound(total + part, M, E, bound, rounding);
  }
  return total;
}

function setup(m: number, k: number, n: number, wBits: number, aBits: number, seed: number, positive = false) {
  const a = randomValues(m * k, seed, 1).map((v) => (positive ? Math.abs(v) : v));
  const b = randomValues(k * n, seed + 1, 1).map((v) => (positive ? Math.abs(v) : v));
  return {
    acts: quantizeActivations(a, { rows: m, k, rowStride: k, colStride: 1 }, aBits),
    w: quantizeWeights(b, { batch: 1, k, n, transposed: false }, wBits),
  };
}

function runWith(q: ReturnType<typeof setup>, acc: AccumulatorConfig, t: number) {
  const out = new Float32Array(q.acts.rows * q.w.n);
  bitlayerMatMul(q.acts, q.w, t, { rowStart: 0, rows: q.acts.rows, wBatch: 0, outOffset: 0 }, out, 'tables', acc);
  return out;
}

/** Register value of an output: y / (step · m · 2^-t). */
const registerOf = (q: ReturnType<typeof setup>, y: Float32Array, r: number, n: number, t: number) =>
  Math.round(y[r * q.w.n + n] / (q.acts.steps[r] * q.w.ranges[n] * 2 ** -t));

describe('integer accumulators', () => {
  it('wrap equals the exact dot product reduced modulo 2^B (wrapping is associative)', () => {
    const q = setup(3, 300, 4, 4, 8, 1, true); // positive operands: large sums that must wrap
    for (const bits of [8, 12, 16]) {
      resetAccumulatorStats();
      const y = runWith(q, { type: 'int', bits, overflow: 'wrap' }, 4);
      for (let r = 0; r < 3; r++) {
        for (let n = 0; n < 4; n++) {
          const { a, u } = codesOf(q.acts, q.w, r, n, 4);
          const d = a.reduce((s, v, i) => s + v * u[i], 0);
          const wrapped = ((((d + 2 ** (bits - 1)) % 2 ** bits) + 2 ** bits) % 2 ** bits) - 2 ** (bits - 1);
          expect(registerOf(q, y, r, n, 4)).toBe(wrapped);
        }
      }
      expect(accumulatorStats().overflows).toBeGreaterThan(0);
      expect(accumulatorStats().additions).toBe(3 * 4 * Math.ceil(300 / 32));
    }
  });

  it('saturate clamps after every word, in order', () => {
    const q = setup(2, 200, 3, 3, 6, 5);
    const bits = 10;
    const y = runWith(q, { type: 'int', bits, overflow: 'saturate' }, 3);
    for (let r = 0; r < 2; r++) {
      for (let n = 0; n < 3; n++) {
        const { a, u } = codesOf(q.acts, q.w, r, n, 3);
        let acc = 0;
        for (const c of wordPartialsPlain(a, u)) acc = Math.min(2 ** (bits - 1) - 1, Math.max(-(2 ** (bits - 1)), acc + c));
        expect(registerOf(q, y, r, n, 3)).toBe(acc);
      }
    }
  });

  it('a wide enough register is exact', () => {
    const q = setup(2, 100, 3, 4, 8, 9);
    expect(runWith(q, { type: 'int', bits: 30, overflow: 'wrap' }, 4)).toEqual(runWith(q, { type: 'exact' }, 4));
  });
});

describe('float accumulators', () => {
  it('agree with the plain double emulation (round after every add) for many formats', () => {
    const q = setup(2, 500, 3, 4, 8, 11);
    const bound = 500 * 15 * 255;
    for (const [M, E] of [[3, 4], [7, 4], [10, 5], [4, 2], [2, 3]]) {
      for (const chunk of [1, 4, 16]) {
        for (const rounding of ['floor', 'nearest'] as const) {
          const y = runWith(q, { type: 'float', mantissa: M, exponent: E, chunk, rounding }, 4);
          for (let r = 0; r < 2; r++) {
            for (let n = 0; n < 3; n++) {
              const { a, u } = codesOf(q.acts, q.w, r, n, 4);
              const ref = plainFloatAccumulate(wordPartialsPlain(a, u), M, E, chunk, bound, rounding);
              expect(registerOf(q, y, r, n, 4)).toBe(ref);
            }
          }
        }
      }
    }
  });

  it('counts underflows (few exponent bits) and is exact with a mantissa covering the bound', () => {
    const q = setup(2, 400, 3, 4, 8, 13);
    resetAccumulatorStats();
    runWith(q, { type: 'float', mantissa: 3, exponent: 2, chunk: 1, rounding: 'floor' }, 4);
    expect(accumulatorStats().underflows).toBeGreaterThan(0);
    expect(runWith(q, { type: 'float', mantissa: 23, exponent: 8, chunk: 1, rounding: 'floor' }, 4))
      .toEqual(runWith(q, { type: 'exact' }, 4));
  });

  it('rounding helpers: floor truncates, nearest ties to even, limits follow the bound', () => {
    // M = 3 fraction bits: 4 significant bits (1.fff)
    expect(roundMagnitude(0b1011011, 3, 'floor')).toBe(0b1011000);
    expect(roundMagnitude(0b1011101, 3, 'nearest')).toBe(0b1100000);
    expect(roundMagnitude(0b1000100, 3, 'nearest')).toBe(0b1000000); // tie, even kept
    expect(roundMagnitude(0b1001100, 3, 'nearest')).toBe(0b1010000); // tie, odd rounds up
    expect(roundMagnitude(0b1111, 3, 'floor')).toBe(0b1111); // fits: unchanged
    expect(floatLimits(7, 4, 100000)).toEqual({ emin: 16 - 14, emax: 16, maxFinite: 255 * 2 ** 9 });
  });
});

describe('accumulator through the backend', () => {
  beforeAll(async () => {
    await tf.setBackend('pbq-cpu');
  });
  afterAll(() => pbq.resetConfig());

  it('configure validates formats with clear errors', () => {
    expect(() => pbq.configure({ accumulator: { type: 'int', bits: 1, overflow: 'wrap' } })).toThrow(/accumulator.bits must be an integer in 2..32, got 1/);
    expect(() => pbq.configure({ accumulator: { type: 'float', mantissa: 0, exponent: 4, chunk: 16, rounding: 'floor' } })).toThrow(/accumulator.mantissa must be an integer in 1..23, got 0/);
    expect(() => pbq.configure({ accumulator: { type: 'posit' } as never })).toThrow(/accumulator.type must be one of 'exact', 'int', 'float', got 'posit' \(string\)/);
    expect(pbq.configure({ accumulator: { type: 'float', mantissa: 7, exponent: 4, chunk: 16, rounding: 'floor' } }).accumulator)
      .toEqual({ type: 'float', mantissa: 7, exponent: 4, chunk: 16, rounding: 'floor' });
    expect(tf.env().get('PBQ_ACCUMULATOR')).toBe('float:7:4:16:floor');
  });

  it('runs tf.matMul with a narrow accumulator and refuses unsimulable sizes', () => {
    pbq.configure({ weightBits: 4, activationBits: 8, accumulator: { type: 'int', bits: 12, overflow: 'saturate' } });
    const x = tf.abs(tf.randomNormal([2, 256], 0, 1, 'float32', 3));
    const w = tf.abs(tf.randomNormal([256, 5], 0, 1, 'float32', 4));
    const narrow = tf.matMul(x, w).dataSync();
    pbq.configure({ accumulator: { type: 'exact' } });
    const exact = tf.matMul(x, w).dataSync();
    expect(Math.max(...narrow)).toBeLessThan(Math.max(...exact)); // saturated
    pbq.configure({ weightBits: 16, activationBits: 16, accumulator: { type: 'int', bits: 16, overflow: 'wrap' } });
    expect(() => tf.matMul(x, w)).toThrow(/accumulator simulation needs .* < 2\^30/);
  });
});
