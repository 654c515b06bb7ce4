import {
  activationCode, dequantizeActivation, dequantizeWeight, float32Exponent, quantizeActivations, quantizeWeights,
} from '../src/quantize';
import { randomValues } from './helpers';

const column = (values: number[], bits: number) =>
  quantizeWeights(Float32Array.from(values), { batch: 1, k: values.length, n: 1, transposed: false }, bits);
const row = (values: number[], bits: number) =>
  quantizeActivations(Float32Array.from(values), { rows: 1, k: values.length, rowStride: values.length, colStride: 1 }, bits);

describe('weight quantization (per channel, mid-rise, MSB-first planes)', () => {
  it('hand-worked 2-bit column: codes, planes and values', () => {
    // m = 1; q = clamp(floor(2w), -2, 1) = [1, -2, 1, -1]; 2-bit two's complement 01 10 01 11.
    const w = column([1, -1, 0.5, -0.25], 2);
    expect(Array.from(w.ranges)).toEqual([1]);
    expect(w.planes[0]).toBe(0b1010); // sign plane: bits of k = 1, 3
    expect(w.planes[1]).toBe(0b1101); // low plane: bits of k = 0, 2, 3
    expect([0, 1, 2, 3].map((k) => dequantizeWeight(w, 0, k, 0))).toEqual([0.75, -0.75, 0.75, -0.25]);
  });

  it('1 bit is a sign weight ±m/2', () => {
    const w = column([0.3, -2, 0, 1.7], 1);
    expect([0, 1, 2, 3].map((k) => dequantizeWeight(w, 0, k, 0))).toEqual([1, -1, 1, 1]);
  });

  it('truncating stored planes equals quantizing at fewer bits (no re-quantization needed)', () => {
    for (const seed of [1, 2, 3]) {
      const values = randomValues(70 * 5, seed, 3);
      const shape = { batch: 1, k: 70, n: 5, transposed: false };
      const stored = quantizeWeights(values, shape, 12);
      for (const t of [1, 2, 3, 4, 8, 11]) {
        const fresh = quantizeWeights(values, shape, t);
        for (let n = 0; n < 5; n++) {
          for (let k = 0; k < 70; k++) {
            expect(dequantizeWeight(stored, 0, k, n, t)).toBe(dequantizeWeight(fresh, 0, k, n));
          }
        }
      }
    }
  });

  it('error is at most m / 2^bits per element, and the transposed layout is the same quantization', () => {
    const K = 33;
    const N = 4;
    const values = randomValues(K * N, 7, 2);
    const transposed = new Float32Array(K * N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) transposed[n * K + k] = values[k * N + n];
    for (const bits of [1, 3, 8, 16]) {
      const w = quantizeWeights(values, { batch: 1, k: K, n: N, transposed: false }, bits);
      const wt = quantizeWeights(transposed, { batch: 1, k: K, n: N, transposed: true }, bits);
      expect(wt.planes).toEqual(w.planes);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) {
          const err = Math.abs(dequantizeWeight(w, 0, k, n) - values[k * N + n]);
          expect(err).toBeLessThanOrEqual(w.ranges[n] / 2 ** bits);
        }
      }
    }
  });

  it('rejects NaN and Inf weights and bad bit widths, naming the problem', () => {
    expect(() => column([1, NaN], 4)).toThrow(/weight value NaN at \[0, 1, 0\] is not finite/);
    expect(() => column([Infinity, 1], 4)).toThrow(/not finite/);
    expect(() => column([1, 2], 0)).toThrow(/weightBits must be an integer in 1..16, got 0/);
    expect(() => column([1, 2], 17)).toThrow(/weightBits must be an integer in 1..16, got 17/);
  });

  it('an all-zero channel dequantizes to exact zeros', () => {
    const w = column([0, 0, 0], 4);
    expect([0, 1, 2].map((k) => dequantizeWeight(w, 0, k, 0))).toEqual([0, 0, 0]);
  });
});

describe('activation quantization (per row, power-of-two fixed point, sign plane)', () => {
  it('hand-worked 2-bit row: step, codes, planes, code sum', () => {
    // max 1 → E = 0, step 2^(0-1) = 0.5; codes round(x/0.5) = [2, -1, 1, 0] in 3-bit two's complement.
    const a = row([1, -0.5, 0.25, 0], 2);
    expect(a.steps[0]).toBe(0.5);
    expect(Array.from(a.planes)).toEqual([0b0010, 0b0011, 0b0110]);
    expect(a.codeSums[0]).toBe(2);
    expect([0, 1, 2, 3].map((k) => dequantizeActivation(a, 0, k))).toEqual([1, -0.5, 0.5, 0]);
  });

  it('error is at most one step (2^e ≤ max|x|·2^(1-A)) on random rows of all scales', () => {
    for (const scale of [1e-20, 1e-3, 1, 7, 1e20]) {
      for (const bits of [1, 2, 5, 8, 16]) {
        const values = randomValues(3 * 45, Math.round(scale * 10) + bits, scale);
        const a = quantizeActivations(values, { rows: 3, k: 45, rowStride: 45, colStride: 1 }, bits);
        for (let r = 0; r < 3; r++) {
          let max = 0;
          for (let k = 0; k < 45; k++) max = Math.max(max, Math.abs(values[r * 45 + k]));
          expect(a.steps[r]).toBeLessThanOrEqual(max * 2 ** (1 - bits));
          for (let k = 0; k < 45; k++) {
            expect(Math.abs(dequantizeActivation(a, r, k) - values[r * 45 + k])).toBeLessThanOrEqual(a.steps[r]);
          }
        }
      }
    }
  });

  it('NaN/Inf rows get a NaN step, zero and tiny rows quantize to zero', () => {
    const a = quantizeActivations(Float32Array.from([1, NaN, 0, 0, 1e-35, -1e-34, Infinity, 1]),
      { rows: 4, k: 2, rowStride: 2, colStride: 1 }, 8);
    expect(Number.isNaN(a.steps[0])).toBe(true);
    expect(a.steps[1]).toBe(0);
    expect(a.steps[2]).toBe(0);
    expect(Number.isNaN(a.steps[3])).toBe(true);
    expect(Array.from(a.planes.subarray(9, 27)).every((w) => w === 0)).toBe(true);
  });

  it('exponents are read exactly at powers of two, and extreme rows do not overflow', () => {
    expect(float32Exponent(1)).toBe(0);
    expect(float32Exponent(Math.fround(0.99999994))).toBe(-1);
    expect(float32Exponent(2 ** 127)).toBe(127);
    expect(activationCode(3e38, 127, 16)).toBe(Math.floor(Math.fround(3e38) / 2 ** 112 + 0.5));
    expect(activationCode(-(2 ** 127), 127, 16)).toBe(-(2 ** 15));
    expect(activationCode(Math.fround(3.4e38), 127, 1)).toBe(1); // top code of a 1-bit row
    expect(activationCode(2 ** -90, -90, 8)).toBe(128);
  });
});
