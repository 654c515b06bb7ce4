/**
 * The quantization semantics of pbq, in one place. Every kernel (GLSL and CPU) implements
 * exactly what this file defines; the README repeats it for users.
 *
 * WEIGHTS (the B operand of a matmul, K×N, quantized per output channel n):
 *   range   m_n = max_k |w_kn|                       (per channel, symmetric)
 *   code    q   = clamp(floor(w · 2^(n-1) / m_n), -2^(n-1), 2^(n-1) - 1)      for n bits
 *   value   ŵ   = m_n · (2q + 1) / 2^n               (a "mid-rise" grid: 2^n levels,
 *                                                      ±m/2^n … ±m(1 - 2^-n), no zero level)
 *   planes  q as n-bit two's complement, one bit plane per bit, MOST significant first:
 *           plane 0 is the sign plane (weight -2^(n-1)), plane i ≥ 1 has weight 2^(n-1-i).
 *   So "n bits" means 2^n symmetric levels, rounding is to the nearest level (floor on the
 *   half-step-shifted grid), |ŵ - w| ≤ m_n / 2^n, and 1 bit is a sign (binary) weight ±m/2.
 *   Truncation: using only the first t planes gives q_t = q >> (n - t) (floor), which is
 *   *exactly* the t-bit quantization of the same weights, because floor(floor(x·2^a)/2^b) =
 *   floor(x·2^(a-b)). Dropping LSB planes at run time is therefore free and never needs the
 *   float weights again.
 *   The odd integer u = 2q + 1 (|u| ≤ 2^t - 1) is what the kernels multiply with.
 *
 * ACTIVATIONS (the A operand, M×K, quantized per row r to A bits of magnitude):
 *   E_r     = floor(log2(max_k |x_rk|))              (read exactly from the float32 exponent)
 *   step    2^e_r with e_r = E_r - (A - 1)           (a per-row fixed point: power-of-two step,
 *                                                      so scaling is exact on every GPU)
 *   code    a = clamp(round_half_up(x / 2^e_r), -(2^A - 1), 2^A - 1)
 *   planes  a as (A+1)-bit two's complement, MSB first: plane 0 is the sign plane (weight
 *           -2^A), plane p ≥ 1 has weight 2^(A-p). Rows without negatives have a zero sign plane.
 *   Rows whose max |x| is below 2^-100 quantize to zero; rows with NaN or ±Inf give NaN outputs.
 *   x / 2^e is computed as (x · 2^-(E>>1)) · 2^(A-1-E+(E>>1)) in float32 (two exact power-of-two
 *   products, no over/underflow), then +0.5 and floor, so GLSL and the CPU engine agree bit
 *   for bit. |x̂ - x| ≤ 2^e_r ≤ max|x_r| · 2^(1-A).
 *
 * PRODUCT: with t weight planes, d_rn = Σ_k u_kn · a_rk is an exact integer and
 *   y_rn = 2^e_r · m_n · 2^-t · d_rn   (+ bias, activation, in float).
 * In bit planes (P_i weight planes, R_p activation planes, popcounts over packed 32-bit words):
 *   d = 2 · Σ_i σ_i 2^(t-1-i) S_i + T,   S_i = Σ_p τ_p 2^(A-p) popcount(P_i AND R_p),
 *   T = Σ_k a_k = Σ_p τ_p 2^(A-p) popcount(R_p),   σ_0 = τ_0 = -1, all other signs +1.
 * S_i and T are the "integer partial sums" that the GLSL kernels and the CPU engine share.
 */

export const WORD_BITS = 32;

/** Number of 32-bit words holding K bits. */
export function wordsFor(k: number): number {
  return Math.ceil(k / WORD_BITS);
}

/** An error about the values being quantized (NaN weights, bad shapes, bad bits). */
export class PbqQuantizationError extends Error {
  constructor(message: string) {
    super(`pbq: ${message}`);
    this.name = 'PbqQuantizationError';
  }
}

/** Weights of one matmul B operand, possibly batched: [batch][n][plane][word]. */
export interface QuantizedWeight {
  /** Planes stored per channel (the quantization bit width). */
  readonly bits: number;
  readonly batch: number;
  readonly k: number;
  readonly n: number;
  readonly words: number;
  /** Packed planes, [batch][n][bits][words], plane 0 = sign plane, bit l of word w is k = 32w + l. */
  readonly planes: Uint32Array;
  /** Per-channel range m_n (max |w| of the channel unless chosen otherwise), [batch][n]. */
  readonly ranges: Float32Array;
  /**
   * Planes of each channel, [batch][n], when channels differ (multipoint: some channels get
   * extra LSB planes); absent when every channel has `bits` planes. Planes past a channel's
   * count are zero.
   */
  readonly channelBits?: Uint8Array;
}

/** Planes that channel c (flat index batch·N + n) uses when a run asks for weightBits. */
export function channelPlanes(w: QuantizedWeight, c: number, weightBits: number): number {
  return Math.min(w.channelBits ? w.channelBits[c] : w.bits, weightBits);
}

/** Options of quantizeWeights: chosen ranges (clipping) and per-channel bit widths. */
export interface WeightQuantizationOptions {
  /** Range m_n per channel, [batch][n]; values beyond ±m_n clip to the extreme codes. */
  ranges?: ArrayLike<number>;
  /** Bit width per channel, [batch][n], each in 1..bits. */
  channelBits?: ArrayLike<number>;
  /**
   * NaN/Inf values: 'throw' (model weights: a clear error) or 'nan' (an operand that is not a
   * weight, e.g. an activation: the channel's range becomes NaN, so its outputs are NaN, as in
   * float matmul).
   */
  nonFinite?: 'throw' | 'nan';
}

/** One operand's activations after per-row quantization: [row][plane][word]. */
export interface QuantizedActivations {
  /** Magnitude bits A; there are A + 1 planes (plane 0 is the sign plane). */
  readonly bits: number;
  readonly rows: number;
  readonly k: number;
  readonly words: number;
  readonly planes: Uint32Array;
  /** Per-row step 2^e (NaN for a row holding NaN/Inf, 0 for an all-zero row). */
  readonly steps: Float32Array;
  /** Per-row code sum T = Σ_k a_k (exact integer). */
  readonly codeSums: Float64Array;
}

/** The widest weight or activation code pbq runs: 16 planes (the one bit-range rule, isBitCount). */
export const MAX_BITS = 16;

/** True for an integer number of planes in 1..max. */
export function isBitCount(bits: unknown, max = MAX_BITS): bits is number {
  return typeof bits === 'number' && Number.isInteger(bits) && bits >= 1 && bits <= max;
}

export function checkBits(name: string, bits: number, max = MAX_BITS): void {
  if (!isBitCount(bits, max)) {
    throw new PbqQuantizationError(`${name} must be an integer in 1..${max}, got ${bits}`);
  }
}

/**
 * Reads element (b, k, n) of a row-major B operand of shape [batch, K, N], or [batch, N, K]
 * when `transposed`.
 */
function weightIndex(b: number, k: number, n: number, K: number, N: number, transposed: boolean): number {
  return transposed ? (b * N + n) * K + k : (b * K + k) * N + n;
}

/** Quantizes a B operand per output channel to `bits` planes (see the file comment). */
export function quantizeWeights(
  values: ArrayLike<number>,
  shape: { batch: number; k: number; n: number; transposed: boolean },
  bits: number,
  options: WeightQuantizationOptions = {},
): QuantizedWeight {
  checkBits('weightBits', bits);
  const { batch, k: K, n: N, transposed } = shape;
  if (values.length !== batch * K * N) {
    throw new PbqQuantizationError(`weight has ${values.length} values, expected ${batch}×${K}×${N}`);
  }
  for (const [name, given] of [['ranges', options.ranges], ['channelBits', options.channelBits]] as const) {
    if (given !== undefined && given.length !== batch * N) {
      throw new PbqQuantizationError(`${name} has ${given.length} entries, expected one per channel (${batch * N})`);
    }
  }
  const words = wordsFor(K);
  const planes = new Uint32Array(batch * N * bits * words);
  const ranges = new Float32Array(batch * N);
  const channelBits = options.channelBits && Uint8Array.from(options.channelBits);
  for (let c = 0; c < batch * N; c++) {
    const b = Math.floor(c / N);
    const n = c % N;
    let m = 0;
    for (let k = 0; k < K; k++) {
      const w = values[weightIndex(b, k, n, K, N, transposed)];
      if (!Number.isFinite(w)) {
        if (options.nonFinite === 'nan') {
          m = NaN;
          break;
        }
        throw new PbqQuantizationError(
          `weight value ${w} at [${transposed ? `${b}, ${n}, ${k}` : `${b}, ${k}, ${n}`}] is not finite: cannot quantize NaN or Inf weights`,
        );
      }
      m = Math.max(m, Math.abs(w));
    }
    if (Number.isNaN(m)) {
      ranges[c] = NaN; // a non-weight operand with NaN/Inf: this channel's outputs are NaN
      continue;
    }
    if (options.ranges) m = Math.fround(options.ranges[c]);
    if (!(m >= 0) || !Number.isFinite(m)) throw new PbqQuantizationError(`range of channel ${c} must be finite and >= 0, got ${m}`);
    ranges[c] = m;
    const cBits = channelBits ? channelBits[c] : bits;
    if (!(cBits >= 1 && cBits <= bits)) throw new PbqQuantizationError(`channelBits[${c}] must be in 1..${bits}, got ${cBits}`);
    const half = 2 ** (cBits - 1);
    const base = c * bits * words;
    for (let k = 0; k < K; k++) {
      const w = values[weightIndex(b, k, n, K, N, transposed)];
      const q = m === 0 ? 0 : Math.min(Math.max(Math.floor((w / m) * half), -half), half - 1);
      setPlaneBits(planes, base, words, cBits, k, q);
    }
  }
  return channelBits ? { bits, batch, k: K, n: N, words, planes, ranges, channelBits } : { bits, batch, k: K, n: N, words, planes, ranges };
}

/** Writes the `planeCount`-bit two's complement of `code` at column k, MSB plane first. */
function setPlaneBits(planes: Uint32Array, base: number, words: number, planeCount: number, k: number, code: number): void {
  const word = k >>> 5;
  const bit = 1 << (k & 31);
  for (let p = 0; p < planeCount; p++) {
    if ((code >> (planeCount - 1 - p)) & 1) planes[base + p * words + word] |= bit;
  }
}

/** Float32 bits of a value, for exact exponent extraction. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** floor(log2(|x|)) of a float32 normal number, read from its exponent field. */
export function float32Exponent(x: number): number {
  f32[0] = x;
  return ((u32[0] >>> 23) & 0xff) - 127;
}

/** Rows whose max |x| is below 2^MIN_ROW_EXPONENT quantize to zero. */
export const MIN_ROW_EXPONENT = -100;

/**
 * Per-row activation code of x, given the row's exponent E (see the file comment): the two
 * float32 products and the +0.5 are rounded to float32 exactly as a GPU does.
 */
export function activationCode(x: number, rowExponent: number, bits: number): number {
  const half = rowExponent >> 1;
  const f1 = 2 ** -half;
  const f2 = 2 ** (bits - 1 - rowExponent + half);
  const scaled = Math.fround(Math.fround(Math.fround(x) * f1) * f2);
  const code = Math.floor(Math.fround(scaled + 0.5));
  const max = 2 ** bits - 1;
  return Math.min(Math.max(code, -max), max);
}

/**
 * Quantizes an A operand per row: element (r, k) is values[offset + r·rowStride + k·colStride]
 * (so a transposed A is just other strides).
 */
export function quantizeActivations(
  values: ArrayLike<number>,
  layout: { rows: number; k: number; offset?: number; rowStride: number; colStride: number },
  bits: number,
): QuantizedActivations {
  checkBits('activationBits', bits);
  const { rows, k: K, rowStride, colStride } = layout;
  const offset = layout.offset ?? 0;
  const words = wordsFor(K);
  const planeCount = bits + 1;
  const planes = new Uint32Array(rows * planeCount * words);
  const steps = new Float32Array(rows);
  const codeSums = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const at = (k: number) => values[offset + r * rowStride + k * colStride];
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(at(k))); // NaN propagates through max
    if (!Number.isFinite(m)) {
      steps[r] = NaN;
      continue;
    }
    const E = m === 0 ? MIN_ROW_EXPONENT - 1 : float32Exponent(m);
    if (E < MIN_ROW_EXPONENT) continue; // step 0: the row is zero
    steps[r] = 2 ** (E - (bits - 1));
    const base = r * planeCount * words;
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const a = activationCode(at(k), E, bits);
      sum += a;
      setPlaneBits(planes, base, words, planeCount, k, a);
    }
    codeSums[r] = sum;
  }
  return { bits, rows, k: K, words, planes, steps, codeSums };
}

/** Dequantized weight value (b, k, n) using the first t planes: m · (2 q_t + 1) / 2^t. */
export function dequantizeWeight(w: QuantizedWeight, b: number, k: number, n: number, weightBits = w.bits): number {
  const c = b * w.n + n;
  const t = channelPlanes(w, c, weightBits);
  return (w.ranges[c] * (2 * weightCode(w, c, k, t) + 1)) / 2 ** t;
}

/** The signed code q of weight (channel c = batch·N + n, k) read from its first t planes. */
export function weightCode(w: QuantizedWeight, c: number, k: number, t: number): number {
  const base = c * w.bits * w.words + (k >>> 5);
  let q = 0;
  for (let p = 0; p < t; p++) {
    const bit = (w.planes[base + p * w.words] >>> (k & 31)) & 1;
    q = p === 0 ? -bit : 2 * q + bit;
  }
  return q;
}

/** Dequantized activation value (r, k): step · a. */
export function dequantizeActivation(a: QuantizedActivations, r: number, k: number): number {
  const planeCount = a.bits + 1;
  const base = r * planeCount * a.words;
  let code = 0;
  for (let p = 0; p < planeCount; p++) {
    const bit = (a.planes[base + p * a.words + (k >>> 5)] >>> (k & 31)) & 1;
    code = p === 0 ? -bit : 2 * code + bit;
  }
  return a.steps[r] * code;
}
