/**
 * How a WebGPU product holds the exact integer d = Σ_k u_k a_k (src/quantize.ts) in 32-bit
 * integers. A product accumulates `groups` exact i32 parts P_g per output; the epilogue forms
 *
 *   d = (Σ_g 2^shift_g · P_g) / 2^δ_n + c_T · T          (T = Σ_k a_k, the row's code sum)
 *
 * in i32 when every intermediate fits (`exactInt`), else in float32 from the exact parts (one
 * rounding per part; y is then within float32 rounding of the CPU engine's, and the parts stay
 * exact: the tests rebuild d from them). δ_n = t − t_n is non-zero only for per-channel plane
 * counts in the planes product (planes past t_n are zero, so the sum is a multiple of 2^δ_n).
 *
 * planes (AND + countOneBits): P_g = Σ_{i in group g} σ_i 2^(i1−1−i) S_i over a run of weight
 *   planes [i0, i1), S_i = Σ_p τ_p 2^(A−p) popcount(P_i AND R_p); shift_g = 1 + t − i1; c_T = 1.
 *   A group is as long as K(2^A−1)(2^len−1) < 2^31 allows (one group up to W8A8 at K=4096).
 * dot4 (dot4I8Packed): weights as f-bit codes c (f = 1, 2, 4, 8: t rounded up), activations as
 *   base-2^7 digits δ_j (activation_quantize_wgsl.ts); P_j = Σ_k c_k δ_jk, shift_j = 1 + 7j.
 *   f = 8: c = q (signed bytes), d = 2Σq·a + T, c_T = 1; f < 8: c = v = q + 2^(f−1) ∈ [0, 2^f)
 *   (offset codes: unpacked by a mask, no sign extension), d = 2Σv·a − (2^f−1)T, c_T = −(2^f−1).
 */

/** Exclusive bound of every i32 part and sum. */
const I32 = 2 ** 31;

export interface IntegerParts {
  groups: number;
  /** 2^shift_g scales part g. */
  shifts: number[];
  /** c_T: the factor of the code sum T. */
  codeSumFactor: number;
  /** Whether the epilogue can form d in i32 exactly. */
  exactInt: boolean;
  /** planes: the weight planes [i0, i1) of each group. */
  planeRanges?: Array<[number, number]>;
}

/** Max |a_k| of A-bit activation codes. */
function maxCode(activationBits: number): number {
  return 2 ** activationBits - 1;
}

/** Whether T and the sums d − c_T·T fit i32 for a product whose codes are at most `maxWeightCode`. */
function fitsExactInt(k: number, maxWeightCode: number, activationBits: number, codeSumFactor: number): boolean {
  const a = maxCode(activationBits);
  return 2 * k * maxWeightCode * a + Math.abs(codeSumFactor) * k * a < I32;
}

/** The planes product's parts at t planes, or undefined when even one plane per part overflows i32. */
export function planesParts(k: number, t: number, activationBits: number): IntegerParts | undefined {
  const a = maxCode(activationBits);
  let len = 0;
  while (len < t && k * a * (2 ** (len + 1) - 1) < I32) len++;
  if (len === 0) return undefined;
  const planeRanges: Array<[number, number]> = [];
  for (let i0 = 0; i0 < t; i0 += len) planeRanges.push([i0, Math.min(t, i0 + len)]);
  return {
    groups: planeRanges.length,
    shifts: planeRanges.map(([, i1]) => 1 + t - i1),
    codeSumFactor: 1,
    exactInt: planeRanges.length === 1 && fitsExactInt(k, 2 ** (t - 1), activationBits, 1),
    planeRanges,
  };
}

/** Code field of the dot4 product at t planes: 1, 2, 4 or 8 bits (t ≤ 8), or 0 when it cannot serve. */
export function codeField(t: number): 0 | 1 | 2 | 4 | 8 {
  return t <= 1 ? 1 : t <= 2 ? 2 : t <= 4 ? 4 : t <= 8 ? 8 : 0;
}

/** Base-2^7 digits of A-bit activation codes (activation_quantize_wgsl.ts digitCount). */
function digits(activationBits: number): number {
  return Math.ceil(activationBits / 7);
}

/** The dot4 product's parts, or undefined when it cannot serve (t > 8, or a digit sum overflows i32). */
export function dot4Parts(k: number, t: number, activationBits: number): IntegerParts | undefined {
  const f = codeField(t);
  if (f === 0) return undefined;
  const maxWeightCode = f === 8 ? 2 ** (t - 1) : 2 ** f - 1;
  // |digit| ≤ 128 (the low digits are 0..127, the top one a signed byte)
  if (k * maxWeightCode * 128 >= I32) return undefined;
  const n = digits(activationBits);
  const codeSumFactor = f === 8 ? 1 : -(2 ** f - 1);
  return {
    groups: n,
    shifts: Array.from({ length: n }, (_, j) => 1 + 7 * j),
    codeSumFactor,
    exactInt: fitsExactInt(k, maxWeightCode, activationBits, codeSumFactor),
  };
}

/** Whether T = Σ_k a_k fits i32 (every product needs it). */
export function codeSumFits(k: number, activationBits: number): boolean {
  return k * maxCode(activationBits) < I32;
}
