/**
 * Activation quantization (src/quantize.ts) in one WGSL pass: one workgroup per row of the A
 * operand finds the row exponent E (a max over the row's |x| bits, reduced in workgroup memory),
 * then writes the row's codes in the layout its product reads, and their sum T:
 *
 *   row r: [E, T, payload]              E: the row exponent, or ZERO_ROW / NAN_ROW
 *   'planes' payload: [word][plane]     A'+1 two's-complement planes per 32-bit word, MSB (sign)
 *                                       first: bit l of plane p of word w = bit (A'-p) of a_{32w+l},
 *                                       A' = planeWidth(A) ≥ A (the codes sign-extended: the same
 *                                       integers, so the planes product compiles for 5 widths, not 16)
 *   'digits' payload: [digit][k/4]      the codes in base 2^7 (`digits` digits, low digits in
 *                                       0..127, the top one signed), four k per u32 as signed
 *                                       bytes: dot4I8Packed operands (dot4_product_wgsl.ts)
 *
 * K is padded to a multiple of 32 with zero codes. T = Σ_k a_k is exact in i32 (the caller checks
 * K·(2^A−1) < 2^31).
 */
import { MIN_ROW_EXPONENT } from '../../src/quantize';
import { activationCodeWGSL, PbqProgram, POW2_WGSL, ROW_EXPONENT_WGSL, WORKGROUP_ID_DECL, WORKGROUP_ID_LOAD } from './wgsl_common';

export type ActivationForm = 'planes' | 'digits';

export interface ActivationLayout {
  form: ActivationForm;
  /** Rows = matrices of A × M, in batch order. */
  rows: number;
  m: number;
  k: number;
  transposeA: boolean;
  /** Magnitude bits A. */
  bits: number;
  /** 'planes': the plane width A' = planeWidth(A) (A' + 1 planes). */
  planeBits: number;
  words: number;
  /** Base-2^7 digits of the 'digits' form (1 for A ≤ 7, 2 for A ≤ 14, 3 for A ≤ 16). */
  digits: number;
  /** i32 per row: 2 + payload. */
  rowLength: number;
}

/** Digits in base 2^7 of an (A+1)-bit two's-complement code: the low ones unsigned 7-bit, the top one a signed byte. */
export function digitCount(activationBits: number): number {
  return Math.ceil(activationBits / 7);
}

/** The widths a planes product is compiled for: A, t rounded up to 1, 2, 4, 8 or 16. */
export function planeWidth(bits: number): number {
  return bits <= 1 ? 1 : bits <= 2 ? 2 : bits <= 4 ? 4 : bits <= 8 ? 8 : 16;
}

export function activationLayout(form: ActivationForm, rows: number, m: number, k: number, transposeA: boolean, bits: number): ActivationLayout {
  const words = Math.ceil(k / 32);
  const digits = digitCount(bits);
  const planeBits = planeWidth(bits);
  const payload = form === 'planes' ? words * (planeBits + 1) : digits * words * 8;
  return { form, rows, m, k, transposeA, bits, planeBits, words, digits, rowLength: 2 + payload };
}

const WG = 64;

/** The WGSL that turns 32 codes (one word, `codes`) into the payload of word w (A' = uniforms.planeBits). */
function packWord(l: ActivationLayout): string {
  if (l.form === 'planes') {
    return `
      let planeCount = uniforms.planeBits + 1;
      for (var p = 0; p < planeCount; p++) {
        let shift = u32(uniforms.planeBits - p);
        var plane = 0u;
        for (var i = 0; i < 32; i++) { plane |= u32((codes[i] >> shift) & 1) << u32(i); }
        result[base + 2 + w * planeCount + p] = bitcast<i32>(plane);
      }`;
  }
  return `
      for (var q = 0; q < 8; q++) {
        for (var d = 0; d < uniforms.digits; d++) {
          var v = 0u;
          for (var b = 0; b < 4; b++) {
            // low digits 0..127, the top one a signed byte
            let digit = (codes[q * 4 + b] >> u32(7 * d)) & select(0x7f, 0xff, d == uniforms.digits - 1);
            v |= u32(digit) << u32(8 * b);
          }
          result[base + 2 + d * uniforms.words * 8 + w * 8 + q] = bitcast<i32>(v);
        }
      }`;
}

/**
 * Input A (the operand as it is, any shape), output int32 [rows · rowLength]. Sizes, A and the
 * digit count are uniforms: one pipeline per form and transposeA.
 */
export class ActivationQuantizeProgram extends PbqProgram {
  constructor(readonly layout: ActivationLayout) {
    const l = layout;
    const element = l.transposeA ? 'A[mat * matSize + k * uniforms.m + r]' : 'A[mat * matSize + r * uniforms.k + k]';
    const rowsX = Math.min(l.rows, 65535);
    super({
      name: 'activation_quantize',
      key: `${l.form}_${l.transposeA}`,
      outputShape: [l.rows * l.rowLength],
      inputs: ['A'],
      workgroupSize: WG,
      dispatch: [rowsX, Math.ceil(l.rows / rowsX), 1],
      uniforms: { ints: { rows: l.rows, rowsX, m: l.m, k: l.k, words: l.words, rowLength: l.rowLength, bits: l.bits, planeBits: l.planeBits, digits: l.digits } },
      source: `
  ${POW2_WGSL}
  ${ROW_EXPONENT_WGSL}
  ${activationCodeWGSL('uniforms.bits')}
  var<workgroup> maxBits: atomic<u32>;
  var<workgroup> nonFinite: atomic<u32>;
  var<workgroup> codeSum: atomic<i32>;
  ${WORKGROUP_ID_DECL}

  fn main() {
    ${WORKGROUP_ID_LOAD}
    let row = i32(wid.y) * uniforms.rowsX + i32(wid.x);
    let inRange = row < uniforms.rows;
    let mat = row / uniforms.m;
    let r = row - mat * uniforms.m;
    let matSize = uniforms.m * uniforms.k;
    let lid = i32(localId.x);
    if (lid == 0) {
      atomicStore(&maxBits, 0u);
      atomicStore(&nonFinite, 0u);
      atomicStore(&codeSum, 0);
    }
    workgroupBarrier();
    // |x| as bits: ordered like the floats for non-negative values, and NaN-safe.
    var localMax = 0u;
    var bad = 0u;
    if (inRange) {
      for (var k = lid; k < uniforms.k; k += ${WG}) {
        let u = bitcast<u32>(${element}) & 0x7fffffffu;
        bad |= u32(u >= 0x7f800000u);
        localMax = max(localMax, u);
      }
    }
    atomicMax(&maxBits, localMax);
    atomicOr(&nonFinite, bad);
    workgroupBarrier();
    let e = rowExponent(atomicLoad(&maxBits), atomicLoad(&nonFinite) != 0u);
    let quantized = e >= ${MIN_ROW_EXPONENT} && e <= 127;
    let f = activationFactors(select(0, e, quantized));
    let base = row * uniforms.rowLength;
    var sum = 0;
    if (inRange) {
      for (var w = lid; w < uniforms.words; w += ${WG}) {
        var codes = array<i32, 32>();
        for (var i = 0; i < 32; i++) {
          let k = w * 32 + i;
          var a = 0;
          if (quantized && k < uniforms.k) { a = activationCode(${element}, f); }
          codes[i] = a;
          sum += a;
        }
        ${packWord(l)}
      }
    }
    atomicAdd(&codeSum, sum);
    workgroupBarrier();
    if (inRange && lid == 0) {
      result[base] = e;
      result[base + 1] = atomicLoad(&codeSum);
    }
  }`,
    });
  }
}
