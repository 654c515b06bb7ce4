/**
 * The CPU bitlayer engine: the integer arithmetic of the GLSL kernels, in plain TypeScript.
 * It is the backend's compute path in Node and the bit-exact oracle of the shaders.
 *
 * Notation and semantics: see quantize.ts. For one activation row r and weight channel n,
 * with t weight planes P_i and A+1 activation planes R_p:
 *   S_i = Σ_p τ_p 2^(A-p) popcount(P_i AND R_p)        (one partial sum per weight plane)
 *   T   = Σ_p τ_p 2^(A-p) popcount(R_p)                 (the row's code sum)
 *   d   = 2 Σ_i σ_i 2^(t-1-i) S_i + T                   (= Σ_k u_k a_k exactly)
 *   y   = step_r · range_n · 2^-t · d
 */
import { channelPlanes, QuantizedActivations, QuantizedWeight, PbqQuantizationError } from './quantize';
import { AccumulatorConfig } from './config';
import { checkSimulable, dotProductBound, floatAdd, intAdd, NarrowAdd, recordAccumulatorEvents } from './accumulator';

/** SWAR population count of a 32-bit word (Hacker's Delight 5-2). */
export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Signed weight of plane p among `count` two's-complement planes, MSB (sign) first. */
export function planeWeight(p: number, count: number): number {
  const w = 2 ** (count - 1 - p);
  return p === 0 ? -w : w;
}

function checkCompatible(a: QuantizedActivations, w: QuantizedWeight): void {
  if (a.k !== w.k) throw new PbqQuantizationError(`inner dimensions differ: activations K=${a.k}, weights K=${w.k}`);
}

/**
 * S_i of one (row, channel) pair for i < t, by AND + popcount over the packed words: the
 * reference arithmetic of the shaders.
 */
export function partialSums(
  a: QuantizedActivations, row: number, w: QuantizedWeight, wBatch: number, channel: number, t: number,
): number[] {
  checkCompatible(a, w);
  const words = a.words;
  const aPlanes = a.bits + 1;
  const aBase = row * aPlanes * words;
  const wBase = (wBatch * w.n + channel) * w.bits * words;
  const sums: number[] = [];
  for (let i = 0; i < t; i++) {
    let s = 0;
    for (let p = 0; p < aPlanes; p++) {
      let count = 0;
      for (let word = 0; word < words; word++) {
        count += popcount32(w.planes[wBase + i * words + word] & a.planes[aBase + p * words + word]);
      }
      s += planeWeight(p, aPlanes) * count;
    }
    sums.push(s);
  }
  return sums;
}

/** d from the partial sums: 2 Σ_i σ_i 2^(t-1-i) S_i + T. */
export function combinePartialSums(sums: readonly number[], codeSum: number): number {
  const t = sums.length;
  let d = codeSum;
  for (let i = 0; i < t; i++) d += 2 * planeWeight(i, t) * sums[i];
  return d;
}

/**
 * Per-row lookup tables over bytes of activation codes: lut[g·256 + b] = Σ a_{8g+l} over the
 * set bits l of b. Then S_i = Σ_g lut[g][byte g of P_i], which equals the popcount form of S_i
 * (each set weight bit selects its activation code) at 1/(A+1) of its work per weight byte.
 */
export function buildByteTables(a: QuantizedActivations, row: number, codes: Int32Array, lut: Float64Array): void {
  const K = a.k;
  const groups = lut.length >>> 8;
  for (let g = 0; g < groups; g++) {
    const base = g << 8;
    lut[base] = 0;
    for (let b = 1; b < 256; b++) {
      const low = b & -b; // lowest set bit
      const k = (g << 3) + (31 - Math.clz32(low));
      lut[base + b] = lut[base + (b ^ low)] + (k < K ? codes[row * K + k] : 0);
    }
  }
}

/** Integer activation codes [rows][K] decoded from the planes. */
export function decodeCodes(a: QuantizedActivations): Int32Array {
  const { rows, k: K, words } = a;
  const planeCount = a.bits + 1;
  const codes = new Int32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    for (let p = 0; p < planeCount; p++) {
      const weight = planeWeight(p, planeCount);
      const base = (r * planeCount + p) * words;
      for (let k = 0; k < K; k++) {
        if ((a.planes[base + (k >>> 5)] >>> (k & 31)) & 1) codes[r * K + k] += weight;
      }
    }
  }
  return codes;
}

/**
 * The byte tables cover TABLE_BLOCK_WORDS words (2,048 columns) at a time, so the engine's
 * scratch memory does not grow with K: 512 KiB of tables and 8 KiB of codes, allocated once
 * and reused by every call (a full-K table took 256 bytes per column: 2.5 GB at K = 10^7).
 * Every partial sum is an integer below 2^53, so summing block by block is exact and gives
 * the same float64 values in any order.
 */
export const TABLE_BLOCK_WORDS = 64;

/** LOWEST_BIT[b] = index of the lowest set bit of the byte b (b > 0). */
const LOWEST_BIT = Uint8Array.from({ length: 256 }, (_, b) => (b === 0 ? 0 : 31 - Math.clz32(b & -b)));
// Module bindings, not global lookups: in a vm context (jest) every global access in a hot loop is slow.
const clz32 = Math.clz32;
const minInt = Math.min;

const blockScratch = {
  lut: new Float64Array(TABLE_BLOCK_WORDS * 1024),
  codes: new Int32Array(TABLE_BLOCK_WORDS * 32),
};

/** Bytes of scratch memory the engine keeps (the same for every K). */
export function engineScratchBytes(): number {
  return blockScratch.lut.byteLength + blockScratch.codes.byteLength;
}

/**
 * Codes a_k of row `row` for the columns of words [w0, w1) into codes[0 .. 32(w1 - w0)) (zero
 * past K), then the byte tables of those words into lut[0 .. 1024(w1 - w0)) (buildByteTables).
 */
function buildBlockTables(a: QuantizedActivations, row: number, w0: number, w1: number, codes: Int32Array, lut: Float64Array): void {
  const planeCount = a.bits + 1;
  const span = w1 - w0;
  codes.fill(0, 0, span * 32);
  for (let p = 0; p < planeCount; p++) {
    const weight = planeWeight(p, planeCount);
    const base = (row * planeCount + p) * a.words + w0;
    for (let i = 0; i < span; i++) {
      let bits = a.planes[base + i];
      while (bits !== 0) {
        const low = bits & -bits;
        codes[i * 32 + 31 - clz32(low)] += weight;
        bits ^= low;
      }
    }
  }
  for (let g = 0; g < span * 4; g++) {
    const base = g << 8;
    lut[base] = 0;
    const codeBase = g << 3;
    for (let b = 1; b < 256; b++) lut[base + b] = lut[base + (b & (b - 1))] + codes[codeBase + LOWEST_BIT[b]];
  }
}

/** Σ over words [w0, w1) of plane words `planes[planeBase + w]` looked up in the block's tables. */
function tableSum(planes: Uint32Array, planeBase: number, w0: number, w1: number, lut: Float64Array): number {
  let s = 0;
  for (let word = w0, g = 0; word < w1; word++, g += 1024) {
    const bitsWord = planes[planeBase + word];
    if (bitsWord === 0) continue;
    s += lut[g + (bitsWord & 0xff)] + lut[g + 256 + ((bitsWord >>> 8) & 0xff)] +
      lut[g + 512 + ((bitsWord >>> 16) & 0xff)] + lut[g + 768 + (bitsWord >>> 24)];
  }
  return s;
}

export interface MatMulPair {
  /** Activation rows [rowStart, rowStart + rows) of `a` … */
  rowStart: number;
  rows: number;
  /** … against batch `wBatch` of the weights, written to out[outOffset + r·N + n]. */
  wBatch: number;
  outOffset: number;
}

/**
 * y = dequantized(A) · dequantized(W) for one (activation rows, weight batch) pair, exact in the
 * integers: d is summed in float64 from S_i computed by byte tables (fast) or by AND+popcount
 * (`method: 'popcount'`, the shaders' formulation). Both give the same integers.
 */
export function bitlayerMatMul(
  a: QuantizedActivations, w: QuantizedWeight, weightBits: number, pair: MatMulPair, out: Float32Array,
  method: 'tables' | 'popcount' = 'tables', accumulator: AccumulatorConfig = { type: 'exact' },
): void {
  if (accumulator.type !== 'exact') {
    narrowAccumulatorMatMul(a, w, weightBits, pair, out, accumulator);
    return;
  }
  checkCompatible(a, w);
  const N = w.n;
  const words = w.words;
  const channel0 = pair.wBatch * N;
  // Planes t_n and output factor m_n 2^-t_n of each channel of this weight batch.
  const planes = new Int32Array(N);
  const factors = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    planes[n] = channelPlanes(w, channel0 + n, weightBits);
    factors[n] = w.ranges[channel0 + n] * 2 ** -planes[n];
  }
  if (method === 'popcount') {
    for (let r = pair.rowStart; r < pair.rowStart + pair.rows; r++) {
      for (let n = 0; n < N; n++) {
        const d = combinePartialSums(partialSums(a, r, w, pair.wBatch, n, planes[n]), a.codeSums[r]);
        out[pair.outOffset + (r - pair.rowStart) * N + n] = a.steps[r] * factors[n] * d;
      }
    }
    return;
  }
  const { lut, codes } = blockScratch;
  const d = new Float64Array(N);
  for (let r = pair.rowStart; r < pair.rowStart + pair.rows; r++) {
    const step = a.steps[r];
    const outRow = pair.outOffset + (r - pair.rowStart) * N;
    if (!(step > 0)) {
      // zero row (step 0) or NaN row: no integer work needed.
      for (let n = 0; n < N; n++) out[outRow + n] = step === 0 ? 0 : NaN;
      continue;
    }
    d.fill(a.codeSums[r]);
    for (let w0 = 0; w0 < words; w0 += TABLE_BLOCK_WORDS) {
      const w1 = minInt(words, w0 + TABLE_BLOCK_WORDS);
      buildBlockTables(a, r, w0, w1, codes, lut);
      for (let n = 0; n < N; n++) {
        const wBase = (channel0 + n) * w.bits * words;
        const t = planes[n];
        let dn = 0;
        for (let i = 0; i < t; i++) dn += 2 * planeWeight(i, t) * tableSum(w.planes, wBase + i * words, w0, w1, lut);
        d[n] += dn;
      }
    }
    for (let n = 0; n < N; n++) out[outRow + n] = step * factors[n] * d[n];
  }
}

/**
 * c_w = Σ_{k in word w} u_k a_k for every word of one (row, channel) pair: the exact word
 * partials that a narrow accumulator adds (see accumulator.ts). Uses the row's byte tables.
 */
export function wordPartials(
  w: QuantizedWeight, channel: number, t: number, lut: Float64Array, wordSums: Float64Array, out: Float64Array,
): void {
  const words = w.words;
  const base = channel * w.bits * words;
  for (let word = 0, g = 0; word < words; word++, g += 1024) {
    let c = wordSums[word];
    for (let i = 0; i < t; i++) {
      const bitsWord = w.planes[base + i * words + word];
      const s = lut[g + (bitsWord & 0xff)] + lut[g + 256 + ((bitsWord >>> 8) & 0xff)] +
        lut[g + 512 + ((bitsWord >>> 16) & 0xff)] + lut[g + 768 + (bitsWord >>> 24)];
      c += 2 * planeWeight(i, t) * s;
    }
    out[word] = c;
  }
}

/** The narrow register add of `accumulator` for outputs whose |d| is at most `bound`. */
function narrowAdd(accumulator: Exclude<AccumulatorConfig, { type: 'exact' }>, bound: number): NarrowAdd {
  return accumulator.type === 'int'
    ? intAdd(accumulator.bits, accumulator.overflow)
    : floatAdd(accumulator.mantissa, accumulator.exponent, accumulator.rounding, bound);
}

/**
 * bitlayerMatMul with the dot products summed word by word in a simulated narrow register
 * (accumulator.ts: the word partials c_w in ascending w, float chunks of `chunk` words merged
 * into the total). The words are visited block by block (bounded tables, see
 * TABLE_BLOCK_WORDS) with each output's register state carried across blocks: the same
 * additions in the same order as `accumulate` over all partials at once.
 */
function narrowAccumulatorMatMul(
  a: QuantizedActivations, w: QuantizedWeight, weightBits: number, pair: MatMulPair, out: Float32Array,
  accumulator: Exclude<AccumulatorConfig, { type: 'exact' }>,
): void {
  checkCompatible(a, w);
  const { n: N, words, k: K } = w;
  const channel0 = pair.wBatch * N;
  const planes = new Int32Array(N);
  const adds: NarrowAdd[] = [];
  for (let n = 0; n < N; n++) {
    planes[n] = channelPlanes(w, channel0 + n, weightBits);
    checkSimulable(K, planes[n], a.bits);
    adds.push(narrowAdd(accumulator, dotProductBound(K, planes[n], a.bits)));
  }
  // int: one register; float: a chunk register merged into the total every `chunk` words.
  const chunk = accumulator.type === 'float' ? accumulator.chunk : 0;
  const { lut, codes } = blockScratch;
  const wordSums = new Float64Array(TABLE_BLOCK_WORDS);
  const total = new Float64Array(N);
  const open = new Float64Array(N);
  const events = new Int32Array(2);
  let additions = 0;
  for (let r = pair.rowStart; r < pair.rowStart + pair.rows; r++) {
    total.fill(0);
    open.fill(0);
    for (let w0 = 0; w0 < words; w0 += TABLE_BLOCK_WORDS) {
      const w1 = minInt(words, w0 + TABLE_BLOCK_WORDS);
      buildBlockTables(a, r, w0, w1, codes, lut);
      for (let i = 0; i < w1 - w0; i++) {
        let sum = 0;
        for (let l = 0; l < 32; l++) sum += codes[i * 32 + l];
        wordSums[i] = sum;
      }
      for (let n = 0; n < N; n++) {
        const base = (channel0 + n) * w.bits * words;
        const t = planes[n];
        const add = adds[n];
        for (let word = w0, g = 0; word < w1; word++, g += 1024) {
          let c = wordSums[word - w0];
          for (let i = 0; i < t; i++) {
            const bitsWord = w.planes[base + i * words + word];
            const s = lut[g + (bitsWord & 0xff)] + lut[g + 256 + ((bitsWord >>> 8) & 0xff)] +
              lut[g + 512 + ((bitsWord >>> 16) & 0xff)] + lut[g + 768 + (bitsWord >>> 24)];
            c += 2 * planeWeight(i, t) * s;
          }
          additions++;
          if (chunk === 0) {
            total[n] = add(total[n], c, events);
          } else {
            open[n] = add(open[n], c, events);
            if ((word + 1) % chunk === 0 || word === words - 1) {
              total[n] = add(total[n], open[n], events);
              open[n] = 0;
              additions++;
            }
          }
        }
      }
    }
    const step = a.steps[r];
    const outRow = pair.outOffset + (r - pair.rowStart) * N;
    for (let n = 0; n < N; n++) {
      out[outRow + n] = Number.isNaN(step) ? NaN : step * w.ranges[channel0 + n] * 2 ** -planes[n] * total[n];
    }
  }
  recordAccumulatorEvents(additions, events[0], events[1]);
}
