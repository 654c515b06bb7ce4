/**
 * The codes product (WebGL 2): exact products with packed multi-bit integer codes. A weight's
 * bitlayer planes are re-packed on upload (cached per run width t, gpu_weight.ts) as f-bit codes
 * (f = 2, 4 or 8 ≥ t; 32/f per 32-bit word, 4 channels per RGBA32UI texel) and multiplied with
 * the activation codes:
 *
 *   d = Σ_k a_k (2 q_k + 1) = 2 Σ_k a_k q_k + T,   T = Σ_k a_k      (src/quantize.ts)
 *
 * the same integer d as the plane form d = T + 2 Σ_i σ_i 2^(t-1-i) S_i (planes_product_gpu.ts).
 * Why: on a CPU-emulated GPU (SwiftShader) the plane form costs ≈ 1.9 vector ops per MAC and
 * plane (bit-sliced adds, tools/bench/README.md), so its cost grows with the weight bits; a code
 * costs the same whatever its width: signed f-bit codes, one sign-extending shift pair, a
 * conversion and a float FMA per MAC (products and chunk sums are integers exact in float32 <
 * 2^24). Its sibling pairs_product_gpu.ts multiplies two codes per 32-bit integer multiply.
 * Which product serves a call: select_product.ts.
 *
 * Exactness (codes): products are summed in float over chunks of words whose sum stays below
 * 2^24 (exactChunkWords; one chunk for most A8 shapes), so each chunk sum is exact; chunk sums
 * are added in float: d is exact whenever K·2^(t−1)·(2^A−1) < 2^24, as in the plane form, and
 * otherwise rounded like it. Pairs: exact in int32 (see below).
 */
import { channelPlanes, QuantizedWeight, weightCode } from '../../src/quantize';
import { CodesSource, packPassSource, packSamplers, packUniforms } from './activation_codes_gpu';
import {
  channelGroups, PlacementShape, placedTexel, placementGLSL, PRODUCT_COORDS, productDeclarations, productMatrices,
  productPassUniforms, RawProductParams, RowPlacement,
} from './raw_layout';
import { RawProgram, RAW_HEADER } from './raw_program';

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

/** The codes (and pairs) product's parameters: code field and words per channel. */
export interface CodesParams extends RawProductParams {
  /** Bits per code field. */
  field: number;
  /** Words of codes per channel (= texels per weight row: 4 channels per RGBA32UI texel). */
  codeWords: number;
}

/**
 * An RGBA32UI weight image: row b·groups + ⌊n/4⌋ holds channel (b, n) in lane n % 4, its texel
 * j = rowWords(c, t_n)[j] (c = b·N + n, t_n = channelPlanes(w, c, t)).
 */
export function channelRows(
  w: QuantizedWeight, t: number, place: RowPlacement, rowWords: (c: number, tn: number) => ArrayLike<number>,
): Uint32Array {
  const groups = channelGroups(w.n);
  const out = new Uint32Array(place.width * place.height * 4);
  for (let b = 0; b < w.batch; b++) {
    for (let n = 0; n < w.n; n++) {
      const c = b * w.n + n;
      const base = placedTexel(place, b * groups + (n >> 2), 0) + (n & 3);
      const words = rowWords(c, channelPlanes(w, c, t));
      for (let j = 0; j < words.length; j++) out[base + 4 * j] = words[j] >>> 0;
    }
  }
  return out;
}

/**
 * Weight codes: field i (bits f·i .. f·i+f-1) of word j of a channel row is the signed code q of
 * k = j·32/f + i at the channel's t_n planes (two's complement in f bits; 0 past K).
 */
export function codeTexels(w: QuantizedWeight, t: number, f: number, place: RowPlacement): Uint32Array {
  const per = codesPerWord(f);
  const mask = (1 << f) - 1;
  return channelRows(w, t, place, (c, tn) => {
    const words = new Uint32Array(codeWordCount(w.k, f));
    for (let k = 0; k < w.k; k++) words[Math.floor(k / per)] |= (weightCode(w, c, k, tn) & mask) << (f * (k % per));
    return words;
  });
}

/** What the codes pack pass compiles in: K, the placement of the activation rows, A and where it reads the codes. */
export interface CodesPackParams { k: number; place: PlacementShape; activationBits: number; from: CodesSource }

/** Activation pass: fragment (row, texel q) → vec4 of codes 4q..4q+3 (0 past K); the last texel → T. */
export class CodesPackPass extends RawProgram<CodesPackParams> {
  constructor(p: CodesPackParams) {
    super('CodesPack', p, packSamplers(p.from), packUniforms(p.from));
  }

  source(): string {
    const { k, place, activationBits, from } = this.p;
    return packPassSource({
      out: 'vec4', place, k, activationBits, from, tTexel: place.rowLength - 1,
      body: `ivec2 p = codeTexel(base + 4 * j);
      ${[0, 1, 2, 3].map((l) => `float c${l} = 4 * j + ${l} < ${k} ? nextCode(p) : 0.0;`).join('\n      ')}
      outColor = vec4(c0, c1, c2, c3);`,
    });
  }
}

/**
 * The shared start of a codes/pairs product shader, up to the row and weight placements of the
 * fragment: pa (activation row of (ai, m)) and pw (weight row of channel group (bi, g)).
 */
export function productPrelude(s: CodesParams, activationSampler: 'sampler2D' | 'usampler2D'): string {
  return `${RAW_HEADER}
    ${productDeclarations(s)}
    uniform usampler2D Wc;
    uniform ${activationSampler} Ac;
    ${placementGLSL('placeA', s.aPlace)}
    ${placementGLSL('placeW', s.wPlace)}
    void main() {
      ${PRODUCT_COORDS}
      ${productMatrices(s)}
      ivec2 pa = placeA(ai * shapeM + m);
      ivec2 pw = placeW(bi * ${s.groups} + g);`;
}

/**
 * The product: fragment (g, row = ob·M + m) → d of channels 4g..4g+3 (vec4), written like the
 * plane form's product (same epilogue).
 */
export class CodesProductPass extends RawProgram<CodesParams> {
  constructor(p: CodesParams) {
    super('CodesProduct', p, ['Wc', 'Ac'], productPassUniforms(p));
  }

  source(): string {
    const s = this.p;
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
    return `${productPrelude(s, 'sampler2D')}
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
      writeD(2.0 * sum + T);
    }`;
  }
}
