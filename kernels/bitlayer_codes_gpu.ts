/**
 * The exact product with packed multi-bit integer codes (WebGL 2): the bitlayer planes of a
 * weight re-packed per channel as signed f-bit codes (f = 2, 4 or 8: 32/f codes per 32-bit
 * word, the same n/32 of float32 memory as the planes, rounded up to f), multiplied with the
 * activation codes in 32-bit integer arithmetic:
 *
 *   d = Σ_k a_k (2 q_k + 1) = 2 Σ_k a_k q_k + T,   T = Σ_k a_k      (src/quantize.ts)
 *
 * the same integer d as the plane form d = T + 2 Σ_i σ_i 2^(t-1-i) S_i of
 * bitlayer_fast_gpu.ts, whose pack pass (codes per element, T per row) this kernel shares.
 * Why: on a CPU-emulated GPU (SwiftShader) the plane form costs ≈ 2.3 integer vector ops per
 * MAC and plane (bit-sliced adds, see src/bench/README.md), so its cost grows with the weight
 * bits; a code costs one constant shift pair (sign extension), a conversion and one float
 * multiply-add per MAC whatever its width (products and sums of these integers are exact in
 * float32 below 2^24). Measured faster from 4 planes up; the plane form stays for 1–3 planes,
 * widths above 8, the partial-sum tests and the simulated accumulators.
 *
 * Exactness: products are summed in float over chunks of words whose sum stays below 2^24
 * (exactChunkWords; one chunk for most A8 shapes), so each chunk sum is exact; chunk sums are
 * added in float: d is exact whenever K·2^(t−1)·(2^A−1) < 2^24, as in the plane form, and
 * otherwise rounded like it.
 */
import { channelPlanes, QuantizedWeight, weightCode } from '../src/quantize';
import type { BitlayerMatMulShape } from './bitlayer_matmul_gpu';
import { FragmentGrid, placementGLSL, RAW_HEADER, RowPlacement } from './gl_raw';
import { PRODUCT_COORDS, productCoordsGLSL } from './bitlayer_fast_gpu';

/** Bits per stored code for a run whose widest channel uses t planes (0: the codes kernel can't serve). */
export function codeFieldBits(t: number): 0 | 2 | 4 | 8 {
  return t <= 2 ? 2 : t <= 4 ? 4 : t <= 8 ? 8 : 0;
}

/** Codes per 32-bit word. */
export function codesPerWord(f: number): number {
  return 32 / f;
}

/** Words of codes per channel for K weights. */
export function codeWordCount(k: number, f: number): number {
  return Math.ceil((k * f) / 32);
}

/** Activation texels per row (4 codes each) covering every code word, then one for T. */
export function activationRowTexels(k: number, f: number): number {
  return codeWordCount(k, f) * (8 / f) + 1;
}

/**
 * Code words whose products are summed exactly in float: the most words whose
 * |Σ a q| ≤ words·(32/f)·2^(t-1)·(2^A−1) stays below 2^24 (≥ 1 for every t ≤ 8, A ≤ 16: one
 * product |a q| < 2^23). Chunk sums are added in float, rounded only past 2^24.
 */
export function exactChunkWords(f: number, t: number, activationBits: number): number {
  return Math.max(1, Math.floor(2 ** 24 / (codesPerWord(f) * 2 ** (t - 1) * (2 ** activationBits - 1))));
}

export interface CodesShape extends BitlayerMatMulShape {
  /** Bits per code field. */
  field: number;
  /** Words of codes per channel (= texels per weight row: 4 channels per RGBA32UI texel). */
  codeWords: number;
  groups: number;
  /** Activation rows: aBatch·M rows of activationRowTexels RGBA32I texels (4 codes each, then T). */
  aPlace: RowPlacement;
  /** Weight rows: bBatch·groups rows of codeWords texels. */
  wPlace: RowPlacement;
  /** Product fragments (productCoordsGLSL). */
  grid: FragmentGrid;
}

/**
 * Weight codes as RGBA32UI texels: row (b·groups + g), texel j holds word j of channels
 * 4g..4g+3; field i (bits f·i .. f·i+f-1) of word j is the signed code q of k = j·32/f + i at
 * the channel's t_n = channelPlanes(w, c, t) planes (two's complement in f bits; 0 past K).
 */
export function codeTexels(w: QuantizedWeight, t: number, f: number, place: RowPlacement): Uint32Array {
  const groups = Math.ceil(w.n / 4);
  const per = codesPerWord(f);
  const words = codeWordCount(w.k, f);
  const mask = (1 << f) - 1;
  const out = new Uint32Array(place.width * place.height * 4);
  for (let b = 0; b < w.batch; b++) {
    for (let n = 0; n < w.n; n++) {
      const c = b * w.n + n;
      const tn = channelPlanes(w, c, t);
      const row = b * groups + (n >> 2);
      const base = ((Math.floor(row / place.perLine) * place.width) + (row % place.perLine) * place.rowLength) * 4 + (n & 3);
      for (let j = 0; j < words; j++) {
        let word = 0;
        for (let i = 0; i < per; i++) {
          const k = j * per + i;
          if (k < w.k) word |= (weightCode(w, c, k, tn) & mask) << (f * i);
        }
        out[base + 4 * j] = word >>> 0;
      }
    }
  }
  return out;
}

/** Activation pass: fragment (row, texel q) → ivec4 of codes 4q..4q+3 (0 past K); the last texel → T. */
export function codesPackSource(rows: number, k: number, codesTexWidth: number, place: RowPlacement): string {
  const k4 = place.rowLength - 1;
  return `${RAW_HEADER}
    uniform sampler2D Codes;
    layout(location = 0) out vec4 outColor;
    float code(int fi) { return texelFetch(Codes, ivec2(fi % ${codesTexWidth}, fi / ${codesTexWidth}), 0).r; }
    void main() {
      ivec2 px = ivec2(gl_FragCoord.xy);
      int q = px.x % ${place.rowLength};
      int r = px.y * ${place.perLine} + px.x / ${place.rowLength};
      if (r >= ${rows}) { outColor = vec4(0.0); return; }
      int base = r * ${k};
      if (q == ${k4}) {
        int T = 0;
        for (int i = 0; i < ${k}; i++) T += int(code(base + i));
        outColor = vec4(float(T), 0.0, 0.0, 0.0);
        return;
      }
      vec4 o = vec4(0.0);
      for (int l = 0; l < 4; l++) if (4 * q + l < ${k}) o[l] = code(base + 4 * q + l);
      outColor = o;
    }`;
}

function indexUniforms(s: CodesShape): string {
  const size = Math.ceil(s.outBatch / 4);
  return [s.aIndex.includes('aIdx') ? `uniform ivec4 aIdx[${size}];` : '', s.bIndex.includes('bIdx') ? `uniform ivec4 bIdx[${size}];` : ''].join('\n');
}

/**
 * The product: fragment (g, row = ob·M + m) → d of channels 4g..4g+3 (vec4), written to a
 * packed tfjs tensor like the plane form's product (same epilogue).
 */
export function codesProductSource(s: CodesShape): string {
  const f = s.field;
  const per = codesPerWord(f);
  const texelsPerWord = per / 4;
  const chunk = Math.min(s.codeWords, exactChunkWords(f, s.weightBits, s.activationBits));
  // field i sign-extended: shift it to the top, then arithmetic shift down
  const terms: string[] = [];
  for (let e = 0; e < texelsPerWord; e++) {
    terms.push(`a = texelFetch(Ac, pa + ivec2(j * ${texelsPerWord} + ${e}, 0), 0);`);
    for (let l = 0; l < 4; l++) {
      const i = 4 * e + l;
      const up = 32 - f * (i + 1);
      const field = up === 0 ? 'w' : `(w << ${up})`;
      terms.push(`acc += vec4(ivec4(${field}) >> ${32 - f}) * a.${'xyzw'[l]};`);
    }
  }
  return `${RAW_HEADER}
    ${indexUniforms(s)}
    uniform usampler2D Wc;
    uniform sampler2D Ac;
    layout(location = 0) out vec4 outColor;
    ${placementGLSL('placeA', s.aPlace)}
    ${placementGLSL('placeW', s.wPlace)}
    ${productCoordsGLSL(s)}
    void main() {
      ${PRODUCT_COORDS}
      int ai = ${s.aIndex};
      int bi = ${s.bIndex};
      ivec2 pa = placeA(ai * ${s.m} + m);
      ivec2 pw = placeW(bi * ${s.groups} + g);
      vec4 sum = vec4(0.0);
      vec4 a;
      for (int jb = 0; jb < ${s.codeWords}; jb += ${chunk}) {
        vec4 acc = vec4(0.0);
        int je = min(jb + ${chunk}, ${s.codeWords});
        for (int j = jb; j < je; j++) {
          uvec4 w = texelFetch(Wc, pw + ivec2(j, 0), 0);
          ${terms.join('\n          ')}
        }
        sum += acc;
      }
      float T = texelFetch(Ac, pa + ivec2(${s.aPlace.rowLength - 1}, 0), 0).x;
      outColor = 2.0 * sum + T;
    }`;
}
