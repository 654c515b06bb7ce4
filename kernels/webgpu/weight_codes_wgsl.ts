/**
 * The dot4 product's codes from the planes buffer, on the GPU (every weight: planes are the one
 * uploaded form): for channel n at t planes, t_n = t − δ_n (per-channel plane counts), the code
 * q = −2^(t_n−1) P_0 + Σ_{p≥1} 2^(t_n−1−p) P_p of every column, stored as f-bit fields
 * (gpu_weight.ts, codes layout): f = 8 a signed byte, f < 8 the offset code q + 2^(f−1)
 * (product_parts.ts). One invocation per (batch, code word, channel).
 */
import { PbqFlatProgram } from './wgsl_common';

export class WeightCodesProgram extends PbqFlatProgram {
  /**
   * Planes [batch][storedBits][words][np] (+ Shift δ_n [batch·N]) → int32 [batch · words·f · np].
   * t and f are uniforms: one pipeline with per-channel counts, one without.
   */
  constructor(readonly dims: { batch: number; n: number; words: number; np: number; storedBits: number; t: number; field: 1 | 2 | 4 | 8; shifts: boolean }) {
    const d = dims;
    super({
      name: 'weight_codes',
      key: `${d.shifts}`,
      outputShape: [d.batch * d.words * d.field * d.np],
      inputs: d.shifts ? ['Planes', 'Shift'] : ['Planes'],
      uniforms: { ints: { n: d.n, words: d.words, np: d.np, storedBits: d.storedBits, groups: d.words * d.field, t: d.t, field: d.field } },
      source: `
  fn main(index: i32) {
    if (index >= uniforms.size) { return; }
    let n = index % uniforms.np;
    let rest = index / uniforms.np;
    let g = rest % uniforms.groups;
    let b = rest / uniforms.groups;
    let f = uniforms.field;
    let perWord = 32 / f;
    let k0 = g * perWord;
    let word = k0 / 32;
    let bit0 = u32(k0 % 32);
    var tn = uniforms.t;
    ${d.shifts ? 'if (n < uniforms.n) { tn = tn - Shift[b * uniforms.n + n]; }' : ''}
    var packed = 0u;
    for (var kk = 0; kk < perWord; kk++) {
      var q = 0;
      for (var p = 0; p < tn; p++) {
        let plane = bitcast<u32>(Planes[((b * uniforms.storedBits + p) * uniforms.words + word) * uniforms.np + n]);
        let bit = i32((plane >> (bit0 + u32(kk))) & 1u);
        q = select(2 * q + bit, -bit, p == 0);
      }
      // f = 8: a signed byte; f < 8: the offset code q + 2^(f-1)
      let code = select(u32(q + (1 << u32(f - 1))), u32(q) & 0xffu, f == 8);
      packed |= code << u32(8 * (kk % 4) + f * (kk / 4));
    }
    result[index] = bitcast<i32>(packed);
  }`,
    });
  }
}
