/**
 * The WebAssembly engine against the TypeScript engine (the oracle), shared by the Node test
 * (test/wasm_engine.test.ts) and the Chromium page (test/browser/pages/wasm_engine_page.ts).
 * Every case compares the integers d bit for bit (oracle: partialSums/combinePartialSums, the
 * shaders' AND + popcount form) and the outputs bit for bit (oracle: bitlayerMatMul), and
 * returns what differed, so both environments assert the same thing.
 */
import { bitlayerMatMul, combinePartialSums, partialSums } from '../src/engine';
import {
  channelPlanes, quantizeActivations, QuantizedWeight, quantizeWeights,
} from '../src/quantize';
import type { ActivationLayout, WasmEngine } from '../kernels/wasm/engine';
import { mulberry32 as seeded } from '../models/data/prng';

export interface CaseResult {
  name: string;
  outputs: number;
  /** Outputs whose d or y differ (first few described in `examples`). */
  mismatches: number;
  examples: string[];
}

/** The project's seeded PRNG (models/data/prng.ts; pure, so the Chromium page bundles it too). */
export { seeded };

export function randomFloats(count: number, seed: number, scale = 1): Float32Array {
  const r = seeded(seed);
  return Float32Array.from({ length: count }, () => (r() * 2 - 1) * scale);
}

function sameFloat(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

export interface EngineCase {
  name: string;
  x: Float32Array;
  layout: ActivationLayout;
  weight: QuantizedWeight;
  weightBits: number;
  activationBits: number;
  /** Weight batch to multiply with (default 0). */
  wBatch?: number;
}

/** Runs one case on both engines and compares d and y for every output. */
export function compareCase(engine: WasmEngine, c: EngineCase): CaseResult {
  const { x, layout, weight: w, weightBits, activationBits } = c;
  const wBatch = c.wBatch ?? 0;
  const { rows } = layout;
  const N = w.n;
  const acts = quantizeActivations(x, layout, activationBits);
  const expected = new Float32Array(rows * N);
  bitlayerMatMul(acts, w, weightBits, { rowStart: 0, rows, wBatch, outOffset: 0 }, expected);
  const packed = engine.packWeight(w, weightBits);
  let got;
  try {
    got = engine.matMul(x, layout, packed, wBatch, activationBits, { integers: true });
  } finally {
    packed.dispose();
  }
  const result: CaseResult = { name: c.name, outputs: rows * N, mismatches: 0, examples: [] };
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < N; n++) {
      const i = r * N + n;
      const t = channelPlanes(w, wBatch * N + n, weightBits);
      // d only means something for rows with a step; zero and NaN rows are checked through y
      const step = acts.steps[r];
      const d = step > 0 ? combinePartialSums(partialSums(acts, r, w, wBatch, n, t), acts.codeSums[r]) : undefined;
      const dOk = d === undefined || d === got.integers![i];
      if (!dOk || !sameFloat(expected[i], got.values[i])) {
        result.mismatches++;
        if (result.examples.length < 5) {
          result.examples.push(`[${r},${n}] d ${d} vs ${got.integers![i]}, y ${expected[i]} vs ${got.values[i]}`);
        }
      }
    }
  }
  return result;
}

function dense(rows: number, k: number): ActivationLayout {
  return { rows, k, rowStride: k, colStride: 1 };
}

function weights(k: number, n: number, bits: number, seed: number, batch = 1, channelBits?: number[]): QuantizedWeight {
  return quantizeWeights(randomFloats(batch * k * n, seed), { batch, k, n, transposed: false }, bits,
    channelBits ? { channelBits } : {});
}

/** Every weight width 1..16 × activation width 1..16, on one batch-1 and one batched shape. */
export function everyWidthCases(): EngineCase[] {
  const cases: EngineCase[] = [];
  for (let wb = 1; wb <= 16; wb++) {
    for (let ab = 1; ab <= 16; ab++) {
      for (const [m, k, n] of [[1, 45, 6], [6, 70, 9]]) {
        const seed = wb * 100 + ab + m;
        cases.push({ name: `W${wb}A${ab} ${m}x${k}x${n}`, x: randomFloats(m * k, seed), layout: dense(m, k),
          weight: weights(k, n, wb, seed + 7), weightBits: wb, activationBits: ab });
      }
    }
  }
  return cases;
}

/** Seeded random shapes (K not a multiple of 32, K = 1, N = 1, N not a multiple of 4, rows 1..9). */
export function randomShapeCases(count: number, seed: number): EngineCase[] {
  const r = seeded(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const cases: EngineCase[] = [];
  for (let i = 0; i < count; i++) {
    const m = pick([1, 1, 2, 3, 4, 5, 8, 9]);
    const k = pick([1, 2, 7, 31, 32, 33, 63, 64, 65, 100, 257, 600]);
    const n = pick([1, 2, 3, 4, 5, 8, 13, 17]);
    const wb = pick([1, 2, 3, 4, 5, 8, 11, 16]);
    const ab = pick([2, 4, 7, 8, 9, 12, 15, 16]);
    const scale = pick([1, 1e-3, 300]);
    cases.push({ name: `random ${m}x${k}x${n} W${wb}A${ab} ×${scale}`, x: randomFloats(m * k, seed + i, scale),
      layout: dense(m, k), weight: weights(k, n, wb, seed + 1000 + i), weightBits: wb, activationBits: ab });
  }
  return cases;
}

/**
 * Extreme codes: every activation code ±(2^A − 1) (|x| just below a power of two; rows of one
 * sign, of the other, and alternating) and every weight code q = −2^(t−1), so each int32 lane
 * reaches the largest sum its chunk bound allows; K = 2100 crosses chunks at the widest widths
 * and the table product's TABLE_PAIRS chunk of tables.
 */
export function extremeCases(): EngineCase[] {
  const cases: EngineCase[] = [];
  const justBelowTwo = Math.fround(2 - 2 ** -23);
  const k = 2100;
  const n = 5;
  const x = new Float32Array(3 * k);
  for (let i = 0; i < k; i++) {
    x[i] = justBelowTwo;
    x[k + i] = -justBelowTwo;
    x[2 * k + i] = i % 2 ? justBelowTwo : -justBelowTwo;
  }
  // W1/W2 at A ≤ 10 are the table product at batch 1 (its int16 chunk is tightest at A10)
  for (const [wb, ab] of [[1, 8], [2, 8], [1, 10], [2, 10], [4, 8], [8, 8], [8, 15], [12, 15], [13, 15], [16, 8],
    [16, 15], [16, 16], [1, 16], [4, 16]]) {
    const w = quantizeWeights(new Float32Array(k * n).fill(-1), { batch: 1, k, n, transposed: false }, wb);
    cases.push({ name: `extreme W${wb}A${ab} (3 rows)`, x, layout: dense(3, k), weight: w, weightBits: wb, activationBits: ab });
    for (let r = 0; r < 2; r++) {
      cases.push({ name: `extreme W${wb}A${ab} (row ${r} alone)`, x: x.subarray(r * k, (r + 1) * k), layout: dense(1, k),
        weight: w, weightBits: wb, activationBits: ab });
    }
  }
  return cases;
}

/** Rows with NaN, ±Inf, all zeros, tiny values (below 2^-100), and mixed magnitudes. */
export function specialRowCases(): EngineCase[] {
  const k = 40;
  const rows: number[][] = [
    Array.from({ length: k }, (_, i) => (i === 3 ? NaN : 0.5)),
    Array.from({ length: k }, (_, i) => (i === 39 ? Infinity : -0.25)),
    Array.from({ length: k }, (_, i) => (i === 0 ? -Infinity : 1)),
    new Array(k).fill(0),
    new Array(k).fill(2 ** -110),
    Array.from({ length: k }, (_, i) => (i % 3 ? 1e-30 : 1e30)),
    Array.from({ length: k }, (_, i) => (i === 5 ? 2 ** 100 : i % 2 ? 2 ** -100 : 3 * 2 ** -101)), // x·2^-(E>>1) underflows
  ];
  const x = Float32Array.from(rows.flat());
  const w = weights(k, 7, 6, 5);
  return [1, 4, 8, 16].flatMap((ab) => [
    { name: `special rows A${ab}`, x, layout: dense(rows.length, k), weight: w, weightBits: 6, activationBits: ab },
    ...rows.map((_, r) => ({ name: `special row ${r} alone A${ab}`, x: x.subarray(r * k, (r + 1) * k),
      layout: dense(1, k), weight: w, weightBits: 6, activationBits: ab })),
  ]);
}

/** Per-channel plane counts (multipoint), batched weights, transposed and offset activations. */
export function layoutCases(): EngineCase[] {
  const k = 77;
  const n = 10;
  const channelBits = [1, 8, 3, 5, 8, 2, 7, 4, 6, 8];
  const multi = weights(k, n, 8, 21, 1, channelBits);
  const wide = weights(k, n, 16, 22, 1, [16, 3, 9, 12, 1, 16, 5, 8, 15, 2]);
  const batched = weights(k, n, 5, 23, 3);
  const cases: EngineCase[] = [];
  for (const wb of [8, 6, 3, 2, 1]) {
    for (const m of [1, 6]) {
      cases.push({ name: `channelBits W${wb} rows ${m}`, x: randomFloats(m * k, 30 + wb), layout: dense(m, k),
        weight: multi, weightBits: wb, activationBits: 8 });
    }
  }
  for (const ab of [8, 16]) {
    cases.push({ name: `channelBits up to 16 A${ab}`, x: randomFloats(3 * k, 40 + ab), layout: dense(3, k),
      weight: wide, weightBits: 16, activationBits: ab });
  }
  for (let b = 0; b < 3; b++) {
    cases.push({ name: `weight batch ${b}`, x: randomFloats(2 * k, 50 + b), layout: dense(2, k), weight: batched,
      weightBits: 5, activationBits: 8, wBatch: b });
  }
  const m = 5;
  // transposed A: element (r, k) at r + k·M, and an offset into a longer array
  cases.push({ name: 'transposed A', x: randomFloats(m * k, 60), layout: { rows: m, k, rowStride: 1, colStride: m },
    weight: multi, weightBits: 8, activationBits: 8 });
  cases.push({ name: 'offset A', x: randomFloats(m * k + 13, 61), layout: { rows: m, k, offset: 13, rowStride: k, colStride: 1 },
    weight: multi, weightBits: 8, activationBits: 8 });
  return cases;
}

export function allCases(): EngineCase[] {
  return [...everyWidthCases(), ...randomShapeCases(60, 777), ...extremeCases(), ...specialRowCases(), ...layoutCases()];
}

/** Runs cases and returns only those with mismatches, plus the totals (what both tests assert). */
export function runCases(engine: WasmEngine, cases: EngineCase[]): { cases: number; outputs: number; failed: CaseResult[] } {
  let outputs = 0;
  const failed: CaseResult[] = [];
  for (const c of cases) {
    const r = compareCase(engine, c);
    outputs += r.outputs;
    if (r.mismatches) failed.push(r);
  }
  return { cases: cases.length, outputs, failed };
}
