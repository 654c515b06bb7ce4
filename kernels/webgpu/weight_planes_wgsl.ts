/**
 * Weight quantization on the GPU, pass 2: the codes q = clamp(floor(w · 2^(n−1) / m), −2^(n−1),
 * 2^(n−1) − 1) of quantize.ts as n two's-complement planes, MSB first, in the planes product's
 * layout [batch][plane][word][np] (gpu_weight.ts planesBuffer). The floor is exact: w and m are
 * split into integer mantissas and exponents and divided as integers (a float division would
 * round, and quantize.ts's floor is of the exact quotient), subnormals included. One invocation
 * per (batch, word, channel vec4 lane); padded channels and columns past K get zero planes.
 */
import { MAX_BITS } from '../../src/config';
import { weightElement } from './weight_range_wgsl';
import { PbqFlatProgram } from './wgsl_common';

/**
 * WGSL `weightCode(w, m) -> i32`: floor(w · 2^(bits−1) / m) clamped, for |w| ≤ m (m a finite
 * channel max; 0 when m = 0 or NaN), bits = uniforms.bits. |v| = mant · 2^pow with mant < 2^24 (decode).
 */
export const WEIGHT_CODE_WGSL = `
  fn decode(u: u32) -> vec2<i32> {
    let e = i32((u >> 23u) & 0xffu);
    let f = u & 0x7fffffu;
    if (e == 0) { return vec2<i32>(i32(f), -149); }
    return vec2<i32>(i32(f | 0x800000u), e - 150);
  }
  fn weightCode(w: f32, m: f32) -> i32 {
    let wb = bitcast<u32>(w);
    let mb = bitcast<u32>(m);
    if ((wb & 0x7fffffffu) == 0u || mb == 0u || mb >= 0x7f800000u) { return 0; }
    let dw = decode(wb & 0x7fffffffu);
    let dm = decode(mb);
    let mw = u32(dw.x);
    let mm = u32(dm.x);
    // |w| 2^(bits-1) / m = mw 2^s / mm, and s <= bits - 1 since |w| <= m
    let s = dw.y + uniforms.bits - 1 - dm.y;
    var q = 0u;
    var exact = false;
    if (s >= 0) {
      // restoring division of mw 2^s by mm (r < mm < 2^24, so r << 1 cannot overflow)
      q = mw / mm;
      var r = mw % mm;
      for (var i = 0; i < s; i++) {
        r = r << 1u;
        q = q << 1u;
        if (r >= mm) { r -= mm; q |= 1u; }
      }
      exact = r == 0u;
    } else if (s > -32) {
      // floor(mw / (mm 2^sh)) = floor(floor(mw / 2^sh) / mm)
      let sh = u32(-s);
      let num = mw >> sh;
      q = num / mm;
      exact = (mw & ((1u << sh) - 1u)) == 0u && num % mm == 0u;
    }
    var code = i32(q);
    // floor of a negative quotient: -ceil(|quotient|)
    if ((wb >> 31u) != 0u) { code = -code - select(1, 0, exact); }
    let half = 1 << u32(uniforms.bits - 1);
    return clamp(code, -half, half - 1);
  }`;

export class WeightPlanesProgram extends PbqFlatProgram {
  /** B [batch, K, N] (or [batch, N, K]) and its ranges → int32 [batch · bits · words · np]. */
  constructor(readonly dims: { batch: number; k: number; n: number; words: number; np: number; bits: number; transposed: boolean }) {
    const d = dims;
    super({
      name: 'weight_planes',
      key: `${d.transposed}`,
      // one invocation per (batch, word, channel); each writes its word of every plane
      outputShape: [d.batch * d.bits * d.words * d.np],
      inputs: ['B', 'Range'],
      invocations: d.batch * d.words * d.np,
      uniforms: { ints: { k: d.k, n: d.n, words: d.words, np: d.np, invocations: d.batch * d.words * d.np, bits: d.bits } },
      source: `
  ${WEIGHT_CODE_WGSL}
  fn main(index: i32) {
    if (index >= uniforms.invocations) { return; }
    let n = index % uniforms.np;
    let rest = index / uniforms.np;
    let word = rest % uniforms.words;
    let b = rest / uniforms.words;
    var planes = array<u32, ${MAX_BITS}>();
    if (n < uniforms.n) {
      let m = Range[b * uniforms.n + n];
      for (var l = 0; l < 32; l++) {
        let k = word * 32 + l;
        if (k < uniforms.k) {
          let q = weightCode(${weightElement(d.transposed)}, m);
          for (var i = 0; i < uniforms.bits; i++) { planes[i] |= u32((q >> u32(uniforms.bits - 1 - i)) & 1) << u32(l); }
        }
      }
    }
    for (var i = 0; i < uniforms.bits; i++) {
      result[((b * uniforms.bits + i) * uniforms.words + word) * uniforms.np + n] = bitcast<i32>(planes[i]);
    }
  }`,
    });
  }
}
