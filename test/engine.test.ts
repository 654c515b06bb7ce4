import {
  bitlayerMatMul, combinePartialSums, partialSums, popcount32,
} from '../src/engine';
import { dequantizeActivation, dequantizeWeight, quantizeActivations, quantizeWeights } from '../src/quantize';
import { naiveMatMul, randomValues, rng } from './helpers';

function naivePopcount(x: number): number {
  let c = 0;
  for (let i = 0; i < 32; i++) c += (x >>> i) & 1;
  return c;
}

const quantize = (a: Float32Array, b: Float32Array, m: number, k: number, n: number, wBits: number, aBits: number) => ({
  acts: quantizeActivations(a, { rows: m, k, rowStride: k, colStride: 1 }, aBits),
  weights: quantizeWeights(b, { batch: 1, k, n, transposed: false }, wBits),
});

const run = (q: ReturnType<typeof quantize>, m: number, n: number, t: number, method: 'tables' | 'popcount') => {
  const out = new Float32Array(m * n);
  bitlayerMatMul(q.acts, q.weights, t, { rowStart: 0, rows: m, wBatch: 0, outOffset: 0 }, out, method);
  return out;
};

describe('popcount32 (SWAR)', () => {
  it('counts edge words exactly, including all ones', () => {
    expect([0, 0xffffffff, 0x80000000, 1, 0xaaaaaaaa, 0x0000ffff, 0xffff0000].map(popcount32))
      .toEqual([0, 32, 1, 1, 16, 16, 16]);
  });
  it('matches a bit-by-bit count on random words', () => {
    const r = rng(11);
    for (let i = 0; i < 5000; i++) {
      const x = Math.floor(r() * 2 ** 32);
      expect(popcount32(x)).toBe(naivePopcount(x));
    }
  });
});

describe('bitlayer matmul, hand-worked', () => {
  // a = [1, -0.5, 0.25, 0] at A=2: step 0.5, codes [2, -1, 1, 0], T = 2.
  // w = [1, -1, 0.5, -0.25] at 2 bits: q = [1, -2, 1, -1], u = 2q+1 = [3, -3, 3, -1], m = 1.
  const q = quantize(Float32Array.from([1, -0.5, 0.25, 0]), Float32Array.from([1, -1, 0.5, -0.25]), 1, 4, 1, 2, 2);

  it('partial sums per weight plane, sign plane included', () => {
    // S_0 (sign plane: k = 1, 3) = -1 + 0; S_1 (k = 0, 2, 3) = 2 + 1 + 0.
    expect(partialSums(q.acts, 0, q.weights, 0, 0, 2)).toEqual([-1, 3]);
    // d = 2(-2·S_0 + S_1) + T = 2(2 + 3) + 2 = 12 = Σ u·a = 6 + 3 + 3 + 0.
    expect(combinePartialSums([-1, 3], 2)).toBe(12);
  });

  it('output = step · m · 2^-t · d, at full and truncated planes, both methods', () => {
    for (const method of ['tables', 'popcount'] as const) {
      expect(Array.from(run(q, 1, 1, 2, method))).toEqual([0.5 * 0.25 * 12]);
      // One plane: q >> 1 = [0, -1, 0, -1], u = [1, -1, 1, -1], d = 2 + 1 + 1 = 4, y = 0.5 · 0.5 · 4.
      expect(Array.from(run(q, 1, 1, 1, method))).toEqual([1]);
    }
  });

  it('negative weights in every plane: an all -m column', () => {
    const neg = quantize(Float32Array.from([1, 1, 1]), Float32Array.from([-2, -2, -2]), 1, 3, 1, 4, 4);
    // q = -8 (1000), u = -15, value -2·15/16; a codes 8 each (step 1/8) → y = 3 · 1 · (-1.875).
    expect(Array.from(run(neg, 1, 1, 4, 'popcount'))).toEqual([-5.625]);
    expect(Array.from(run(neg, 1, 1, 4, 'tables'))).toEqual([-5.625]);
  });
});

describe('bitlayer matmul, random', () => {
  const shapes: Array<[number, number, number]> = [[1, 1, 1], [3, 31, 2], [2, 32, 5], [4, 33, 3], [1, 100, 7], [5, 257, 1]];

  it('byte tables and AND+popcount give identical integers for all bit widths', () => {
    let seed = 100;
    for (const [m, k, n] of shapes) {
      for (const wBits of [1, 2, 3, 4, 8, 16]) {
        for (const aBits of [1, 4, 8, 16]) {
          const q = quantize(randomValues(m * k, seed++), randomValues(k * n, seed++, 5), m, k, n, wBits, aBits);
          for (const t of [wBits, Math.max(1, wBits - 2)]) {
            expect(run(q, m, n, t, 'tables')).toEqual(run(q, m, n, t, 'popcount'));
          }
        }
      }
    }
  });

  it('equals the dot product of the dequantized operands (exact integers, one float32 rounding)', () => {
    let seed = 500;
    for (const [m, k, n] of shapes) {
      for (const [wBits, aBits] of [[1, 8], [4, 8], [8, 8], [2, 16], [16, 16]]) {
        const q = quantize(randomValues(m * k, seed++), randomValues(k * n, seed++, 3), m, k, n, wBits, aBits);
        const out = run(q, m, n, wBits, 'tables');
        for (let r = 0; r < m; r++) {
          for (let c = 0; c < n; c++) {
            let ref = 0;
            for (let p = 0; p < k; p++) ref += dequantizeActivation(q.acts, r, p) * dequantizeWeight(q.weights, 0, p, c);
            expect(out[r * n + c]).toBe(Math.fround(ref));
          }
        }
      }
    }
  });

  it('stays within the error bound implied by the quantization steps, and the bound is tight', () => {
    let seed = 900;
    for (const [m, k, n] of shapes) {
      for (const [wBits, aBits] of [[1, 8], [2, 4], [4, 8], [8, 8], [8, 16]]) {
        const a = randomValues(m * k, seed++, 2);
        const b = randomValues(k * n, seed++, 0.5);
        const q = quantize(a, b, m, k, n, wBits, aBits);
        const out = run(q, m, n, wBits, 'tables');
        const ref = naiveMatMul(a, b, m, k, n);
        let worstRatio = 0;
        for (let r = 0; r < m; r++) {
          for (let c = 0; c < n; c++) {
            // |x̂w̃ - xw| ≤ Σ_k |x|Δw + |w|Δx + ΔxΔw with Δw = m_n 2^-t, Δx = step_r.
            const dw = q.weights.ranges[c] * 2 ** -wBits;
            const dx = q.acts.steps[r];
            let bound = 0;
            for (let p = 0; p < k; p++) bound += Math.abs(a[r * k + p]) * dw + Math.abs(b[p * n + c]) * dx + dx * dw;
            const err = Math.abs(out[r * n + c] - ref[r * n + c]);
            expect(err).toBeLessThanOrEqual(bound * (1 + 1e-6) + 1e-6 * Math.abs(ref[r * n + c]));
            worstRatio = Math.max(worstRatio, err / bound);
          }
        }
        if (k >= 32 && wBits <= 4) expect(worstRatio).toBeGreaterThan(0.01); // the bound is not vacuous
      }
    }
  });

  it('W16A16 agrees with float32 matmul to 1e-3 relative', () => {
    const [m, k, n] = [8, 300, 16];
    const a = randomValues(m * k, 77);
    const b = randomValues(k * n, 78);
    const q = quantize(a, b, m, k, n, 16, 16);
    const out = run(q, m, n, 16, 'tables');
    const ref = naiveMatMul(a, b, m, k, n);
    const scale = Math.max(...Array.from(ref, Math.abs));
    const worst = Math.max(...Array.from(out, (v, i) => Math.abs(v - ref[i])));
    expect(worst / scale).toBeLessThan(1e-3);
    expect(worst / scale).toBeLessThan(1e-4); // in fact ≈ 2^-15 relative
  });

  it('NaN rows give NaN outputs, zero rows give zeros', () => {
    const a = Float32Array.from([NaN, 1, 0, 0, 1, 2]);
    const q = quantize(a, randomValues(2 * 2, 3), 3, 2, 2, 4, 8);
    const out = run(q, 3, 2, 4, 'tables');
    expect(Number.isNaN(out[0]) && Number.isNaN(out[1])).toBe(true);
    expect([out[2], out[3]]).toEqual([0, 0]);
    expect(run(q, 3, 2, 4, 'popcount').slice(2)).toEqual(out.slice(2));
  });
});

describe('per-channel bit widths (multipoint planes) and chosen ranges', () => {
  it('each channel uses its own planes and truncates like a fresh quantization of that width', () => {
    const [m, k, n] = [2, 40, 4];
    const a = randomValues(m * k, 31);
    const b = randomValues(k * n, 32);
    const opts = { ranges: [0.5, 0.9, 0.3, 1], channelBits: [6, 3, 1, 5] };
    const q = { acts: quantizeActivations(a, { rows: m, k, rowStride: k, colStride: 1 }, 8),
      weights: quantizeWeights(b, { batch: 1, k, n, transposed: false }, 6, opts) };
    for (const weightBits of [6, 4, 2]) {
      const out = run(q, m, n, weightBits, 'tables');
      expect(run(q, m, n, weightBits, 'popcount')).toEqual(out);
      for (let c = 0; c < n; c++) {
        // channel c alone, quantized at min(its bits, weightBits) with the same range
        const bits = Math.min(opts.channelBits[c], weightBits);
        const col = Float32Array.from({ length: k }, (_, p) => b[p * n + c]);
        const single = quantizeWeights(col, { batch: 1, k, n: 1, transposed: false }, bits, { ranges: [opts.ranges[c]] });
        const ref = new Float32Array(m);
        bitlayerMatMul(q.acts, single, bits, { rowStart: 0, rows: m, wBatch: 0, outOffset: 0 }, ref);
        for (let r = 0; r < m; r++) expect(out[r * n + c]).toBe(ref[r]);
      }
    }
  });

  it('a range below max |w| clips to the extreme codes', () => {
    const w = quantizeWeights(Float32Array.from([2, -2, 0.25]), { batch: 1, k: 3, n: 1, transposed: false }, 3, { ranges: [1] });
    expect([0, 1, 2].map((p) => dequantizeWeight(w, 0, p, 0))).toEqual([0.875, -0.875, 0.375]);
  });
});
