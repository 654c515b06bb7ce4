/**
 * The pairs product (WebGL 2): two MACs per 32-bit integer multiply, for the f-bit codes of the
 * codes product (codes_product_gpu.ts) with f = 2 or 4 and A ≤ 8 or 9 (pairsField); measured
 * ≈ 3x faster than one code per multiply on SwiftShader (tools/bench/README.md, round 3).
 */
import { QuantizedWeight, weightCode } from '../../src/quantize';
import { CodesSource, packPassSource, packSamplers, packUniforms } from './activation_codes_gpu';
import { channelRows, CodesParams, codesPerWord, codeWordCount, productPrelude } from './codes_product_gpu';
import { PlacementShape, productPassUniforms, RowPlacement } from './raw_layout';
import { RawProgram } from './raw_program';

/*
 * Pair products (two MACs per 32-bit multiply) for f-bit codes, f = 2 or 4.
 *
 * Codes in offset binary u = q + o (o = 2^(f−1), u ∈ [0, 2^f)) and activations a' = a + 2^A ∈
 * [0, 2^(A+1)) are non-negative, so 16-bit halves do not borrow. Word w of a channel holds
 * P = 16/f pairs: u(k0 + 2j) in bits f·j.. and u(k0 + 2j + 1) in bits 16 + f·j.. (k0 = w·32/f,
 * j < P); the activation texels of word w hold, per j, A_j = a'(k0 + 2j + 1) + a'(k0 + 2j)·2^16.
 * Then, mod 2^32,
 *
 *   ((w >> f·j) & mask·0x00010001) · A_j = u0 a'1 + (u0 a'0 + u1 a'1)·2^16     (u1 a'0 · 2^32 drops)
 *
 * Over a word's P pairs the low halves sum below P·(2^f−1)(2^(A+1)−1) and the high halves below
 * twice that; pairsFit keeps both below 2^16 (f = 4: A ≤ 8; f = 2: A ≤ 9), so (Σ_j ...) >> 16 is
 * Σ u a' over the word's codes, exactly. Summed over words in 32 bits (pairsFit keeps S < 2^31),
 * and with Q = Σ_k q_k per channel (stored with the weight) and T = Σ_k a_k per row:
 *
 *   Σ_k u_k a'_k = Σ q a + 2^A Q + o T + o 2^A K   ⇒   Σ q a = S − 2^A Q − o T − o 2^A K,
 *
 * computed in wrapping 32-bit integers (exact whenever |Σ q a| < 2^31). Padding k ≥ K: u = 0.
 * Measured (tools/bench/README.md): ≈ 3x faster than one code per multiply.
 */

/** Code field of the pair product for t planes at A activation bits and K (0: it can't serve). */
export function pairsField(t: number, activationBits: number, k: number): 0 | 2 | 4 {
  const f = t <= 2 ? 2 : t <= 4 ? 4 : 0;
  if (f === 0) return 0;
  const perProduct = (2 ** f - 1) * (2 ** (activationBits + 1) - 1);
  const fits = 2 * (16 / f) * perProduct < 2 ** 16 && k * perProduct < 2 ** 31;
  return fits ? f : 0;
}

/** Weight words of the pair product: a channel row holds its codeWords words, then Q = Σ_k q_k. */
export function pairCodeTexels(w: QuantizedWeight, t: number, f: number, place: RowPlacement): Uint32Array {
  const per = codesPerWord(f);
  const words = codeWordCount(w.k, f);
  const offset = 2 ** (f - 1);
  return channelRows(w, t, place, (c, tn) => {
    const row = new Uint32Array(words + 1);
    let Q = 0;
    for (let k = 0; k < w.k; k++) {
      const q = weightCode(w, c, k, tn);
      Q += q;
      const i = k % per; // pair i >> 1, half i & 1
      row[Math.floor(k / per)] |= (q + offset) << ((i & 1) * 16 + (i >> 1) * f);
    }
    row[words] = Q >>> 0;
    return row;
  });
}

/** Activation texels per word of the pair product (4 pairs per texel). */
export function pairTexelsPerWord(f: number): number {
  return 16 / f / 4;
}

/** What the pairs pack pass compiles in: K, the code field, A, the placement of the activation rows, where it reads the codes. */
export interface PairsPackParams { k: number; field: number; activationBits: number; place: PlacementShape; from: CodesSource }

/**
 * Activation pass of the pair product: texel e of word j holds A_(4e..4e+3) of that word;
 * the row's last texel holds T.
 */
export class PairsPackPass extends RawProgram<PairsPackParams> {
  constructor(p: PairsPackParams) {
    super('PairsPack', p, packSamplers(p.from), packUniforms(p.from));
  }

  source(): string {
    const { k, field: f, activationBits: bits, place, from } = this.p;
    const perWord = pairTexelsPerWord(f);
    return packPassSource({
      out: 'uvec4', place, k, activationBits: bits, from, tTexel: place.rowLength - 1,
      body: `// the 8 codes k0 .. k0 + 7 of texel e of word w, as a' = a + 2^A (0 past K); unrolled: no array
      int w = j / ${perWord};
      int k0 = ${32 / f} * w + 8 * (j - w * ${perWord});
      ivec2 p = codeTexel(base + k0);
      ${Array.from({ length: 8 }, (_, i) => `uint c${i} = k0 + ${i} < ${k} ? uint(int(nextCode(p)) + ${2 ** bits}) : 0u;`).join('\n      ')}
      outColor = uvec4(c1 | (c0 << 16), c3 | (c2 << 16), c5 | (c4 << 16), c7 | (c6 << 16));`,
    });
  }
}

/** The pair product: fragment (g, row) → d of channels 4g..4g+3, like CodesProductPass. */
export class PairsProductPass extends RawProgram<CodesParams & { k: number }> {
  /** p.k: K, compiled in for the offset term o·2^A·K. */
  constructor(p: CodesParams & { k: number }) {
    super('PairsProduct', p, ['Wc', 'Ac'], productPassUniforms(p));
  }

  source(): string {
    const s = this.p;
    const A = s.activationBits;
    const f = s.field;
    const perWord = pairTexelsPerWord(f);
    const mask = `0x${(((2 ** f - 1) * 0x10001) >>> 0).toString(16).padStart(8, '0')}u`;
    const terms: string[] = [];
    for (let e = 0; e < perWord; e++) {
      terms.push(`a = texelFetch(Ac, pa + ivec2(${perWord} * j + ${e}, 0), 0);`);
      for (let l = 0; l < 4; l++) {
        const shift = f * (4 * e + l);
        terms.push(`acc += (${shift === 0 ? 'w' : `(w >> ${shift}u)`} & ${mask}) * a.${'xyzw'[l]};`);
      }
    }
    const offset = 2 ** (f - 1);
    return `${productPrelude(s, 'usampler2D')}
      uvec4 S = uvec4(0u);
      uvec4 a;
      for (int j = 0; j < ${s.codeWords}; j++) {
        uvec4 w = texelFetch(Wc, pw + ivec2(j, 0), 0);
        uvec4 acc = uvec4(0u);
        ${terms.join('\n        ')}
        S += acc >> 16u;
      }
      ivec4 Q = ivec4(texelFetch(Wc, pw + ivec2(${s.codeWords}, 0), 0));
      int T = int(texelFetch(Ac, pa + ivec2(${s.aPlace.rowLength - 1}, 0), 0).x);
      // Σ q a = S − 2^A Q − o T − o 2^A K, in wrapping 32-bit ints
      ivec4 qa = ivec4(S) - Q * ${2 ** A} - ivec4(${offset} * T + ${offset * 2 ** A * s.k});
      writeD(2.0 * vec4(qa) + float(T));
    }`;
  }
}
