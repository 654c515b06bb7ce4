/**
 * The plane form of the exact bitlayer product on WebGL 2 (raw passes on RGBA32UI textures,
 * raw_program.ts). Semantics: src/quantize.ts; CPU twin: src/engine.ts. Passes of one matmul:
 *
 *   RowExponentProgram (tfjs)      A → E_r per row                    (row_exponent_gpu.ts)
 *   ActivationCodesProgram (tfjs)  A, E → code a_rk per element        (activation_codes_gpu.ts)
 *   pack (raw, planesPackSource)   codes → activation planes in an RGBA32UI texture, offset binary
 *                                  (a' = a + 2^A ≥ 0: the sign plane inverted, all planes
 *                                  positive), 4 planes of one 32-bit word per texel, plus T_r = Σ_k a_rk
 *   product (raw, planesProductSource) weight planes (RGBA32UI, one word of 4 channels per texel),
 *                                  activation planes → d for 4 channels per fragment, written to a
 *                                  packed tfjs tensor D
 *   EpilogueProgram (tfjs)         D, E, scales (+ bias, activation) → y   (epilogue_gpu.ts)
 *
 * Integer core (per row r, channel group of 4, weight plane i): the masked activation planes
 * x_p = P_i & R'_p of each word are added, as one (A+1)-bit number per bit position, into a
 * bit-sliced accumulator (a ripple of full adders: and/xor/or only, no shifts), which is
 * popcounted level by level once every FLUSH words: U_i = Σ_l 2^l popcount(acc_l). Then
 *   S_i = U_i − 2^A popcount(P_i)   (popcount(P_i) per channel and plane is precomputed),
 * the same integer S_i as the CPU engine's Σ_p τ_p 2^(A−p) popcount(P_i AND R_p).
 */
import { RawProgram, RAW_HEADER } from './raw_program';
import {
  channelGroups, PlacementShape, placedTexel, placementGLSL, PRODUCT_COORDS, productDeclarations, productMatrices,
  productPassUniforms, RawProductParams, RowPlacement,
} from './raw_layout';
import { CodesSource, packPassSource, packSamplers, packUniforms } from './activation_codes_gpu';
import { POW2_HELPERS } from './glsl_common';

/** Words added into the bit-sliced accumulator between popcounts. */
export const FLUSH_WORDS = 32;

/** Texels of 4 activation planes per word: the (A+1) planes take ceil((A+1)/4) rows. */
export function planeGroups(activationBits: number): number {
  return Math.ceil((activationBits + 1) / 4);
}

/** Levels of the bit-sliced accumulator: (A+1)-bit values, FLUSH_WORDS of them per flush. */
function accumulatorLevels(activationBits: number): number {
  return activationBits + 1 + Math.ceil(Math.log2(FLUSH_WORDS));
}

/** What the pack pass compiles in: K, words per row, A, the placement of its rows, where it reads the codes. */
export interface PlanesPackParams { k: number; words: number; activationBits: number; place: PlacementShape; from: CodesSource }

/**
 * Pack pass: activation planes, fragment (row, plane group, word) → uvec4 of 4 planes;
 * word = words → T.
 */
export class PlanesPackPass extends RawProgram<PlanesPackParams> {
  constructor(p: PlanesPackParams) {
    super('PlanesPack', p, packSamplers(p.from), packUniforms(p.from));
  }

  source(): string {
    const { k, words, activationBits: bits, place, from } = this.p;
    const groups = planeGroups(bits);
    const bitsOf: string[] = [];
    for (let l = 0; l < 32; l++) {
      bitsOf.push(`
      if (k0 + ${l} < ${k}) {
        uint v = uint(int(nextCode(p)) + ${2 ** bits});
        v = sh >= 0 ? v >> uint(sh) : v << uint(-sh);
        o |= ((uvec4(v) >> uvec4(3u, 2u, 1u, 0u)) & 1u) << ${l}u;
      }`);
    }
    return packPassSource({
      out: 'uvec4', place, k, activationBits: bits, from, tTexel: words, tWhen: 'gp == 0',
      row: `int ra = rr / ${groups};
      int gp = rr - ra * ${groups};`,
      body: `// planes 4gp..4gp+3 are bits A-4gp .. A-4gp-3 of a' = a + 2^A: bits 3..0 of a' >> sh
      int sh = ${bits} - 4 * gp - 3;
      int k0 = 32 * j;
      ivec2 p = codeTexel(base + k0);
      uvec4 o = uvec4(0u);
      ${bitsOf.join('')}
      outColor = o;`,
    });
  }
}

/** The planes product's parameters: the plane layout's words and the meta rows' placement. */
export interface PlanesParams extends RawProductParams {
  words: number;
  /** Meta rows: bBatch·groups rows of storedBits+1 texels. */
  mPlace: PlacementShape;
}

/**
 * GLSL of the integer core: `void planeSums1(ra, cg, i, out ivec4 S[1])` = S_i of the 4 channels
 * of group cg (one weight plane per call: one copy of the core in the shader, so compiles stay
 * short at 16 weight bits; keeping several planes' accumulators live together measured no gain,
 * tools/bench/README.md). Also `int rowSum(ra)` = T of activation row ra.
 */
export function planesCoreGLSL(s: PlanesParams): string {
  const A = s.activationBits;
  const L = accumulatorLevels(A);
  const G = planeGroups(A);
  const plane = (p: number) => `a${Math.floor(p / 4)}.${'xyzw'[p % 4]}`;
  const loadA = Array.from({ length: G }, (_, g) => `uvec4 a${g} = texelFetch(At, pa${g} + ivec2(j, 0), 0);`).join('\n            ');
  const placeA = Array.from({ length: G }, (_, g) => `ivec2 pa${g} = placeA(ra * ${G} + ${g});`).join(' ');
  const accDecl = Array.from({ length: L }, (_, l) => `uvec4 c${l} = uvec4(0u);`).join(' ');
  // level l holds weight 2^l: plane p of a' has weight 2^(A-p), so level l ← plane A-l
  const adds: string[] = [`x = w & ${plane(A)}; k = c0 & x; c0 ^= x;`];
  for (let l = 1; l <= A; l++) adds.push(`x = w & ${plane(A - l)}; y = c${l} ^ x; nk = (c${l} & x) | (y & k); c${l} = y ^ k; k = nk;`);
  for (let l = A + 1; l < L; l++) adds.push(`nk = c${l} & k; c${l} ^= k; k = nk;`);
  const flush = Array.from({ length: L }, (_, l) => `u += pc4(c${l}) << ${l}u; c${l} = uvec4(0u);`).join('\n        ');
  return `
    uniform usampler2D Wt;
    uniform usampler2D Wm;
    uniform usampler2D At;
    ${placementGLSL('placeA', s.aPlace)}
    ${placementGLSL('placeW', s.wPlace)}
    ${placementGLSL('placeM', s.mPlace)}
    uvec4 pc4(uvec4 x) {
      x = x - ((x >> 1u) & 0x55555555u);
      x = (x & 0x33333333u) + ((x >> 2u) & 0x33333333u);
      x = (x + (x >> 4u)) & 0x0f0f0f0fu;
      return (x * 0x01010101u) >> 24u;
    }
    void planeSums1(int ra, int cg, int i0, out ivec4 S[1]) {
      ${placeA}
      ivec2 pw = placeW(cg * ${s.storedBits} + i0);
      uvec4 u = uvec4(0u);
      ${accDecl}
      uvec4 x, y, k, nk;
      for (int jb = 0; jb < ${s.words}; jb += ${FLUSH_WORDS}) {
        int je = min(jb + ${FLUSH_WORDS}, ${s.words});
        for (int j = jb; j < je; j++) {
          uvec4 w = texelFetch(Wt, pw + ivec2(j, 0), 0);
          if (all(equal(w, uvec4(0u)))) continue;
          ${loadA}
          ${adds.join('\n          ')}
        }
        ${flush}
      }
      ivec2 pm = placeM(cg);
      S[0] = ivec4(u - (texelFetch(Wm, pm + ivec2(i0, 0), 0) << ${A}u));
    }
    int rowSum(int ra) {
      return int(texelFetch(At, placeA(ra * ${G}) + ivec2(${s.words}, 0), 0).x);
    }
  `;
}

/** The product pass: fragment (g, row = ob·M + m) → d of channels 4g..4g+3 (vec4). */
export class PlanesProductPass extends RawProgram<PlanesParams> {
  constructor(p: PlanesParams) {
    super('PlanesProduct', p, ['Wt', 'Wm', 'At'], productPassUniforms(p));
  }

  source(): string {
    const s = this.p;
    const t = Math.min(s.weightBits, s.storedBits);
    const tn = s.perChannelPlanes
      ? `ivec4 tn = min(ivec4(texelFetch(Wm, placeM(cg) + ivec2(${s.storedBits}, 0), 0)), ivec4(${t}));`
      : `ivec4 tn = ivec4(${t});`;
    // d = T + 2 Σ_i σ_i 2^(t_n-1-i) S_i (σ_0 = -1), summed in float in plane order
    return `${RAW_HEADER}
    ${productDeclarations(s)}
    ${POW2_HELPERS}
    ${planesCoreGLSL(s)}
    void main() {
      ${PRODUCT_COORDS}
      ${productMatrices(s)}
      int ra = ai * shapeM + m;
      int cg = bi * ${s.groups} + g;
      ${tn}
      vec4 d = vec4(float(rowSum(ra)));
      for (int i = 0; i < ${t}; i++) {
        ivec4 S[1];
        planeSums1(ra, cg, i, S);
        d += (i == 0 ? -1.0 : 1.0) * vec4(pow2i(tn.x - i), pow2i(tn.y - i), pow2i(tn.z - i), pow2i(tn.w - i)) * vec4(S[0]);
      }
      writeD(d);
    }`;
  }
}

/**
 * Weight planes as RGBA32UI texels: row (bBatch·groups + g)·storedBits + i holds word j of plane
 * i of channels 4g..4g+3 at texel j. Meta row cg: texel i = popcount(P_i) of the 4 channels,
 * texel storedBits = planes of each channel.
 */
export function planesWeightTexels(
  planes: Uint32Array, batch: number, n: number, bits: number, words: number, channelPlanes: (c: number) => number,
  wPlace: RowPlacement, mPlace: RowPlacement,
): { w: Uint32Array; meta: Uint32Array } {
  const groups = channelGroups(n);
  const w = new Uint32Array(wPlace.width * wPlace.height * 4);
  const meta = new Uint32Array(mPlace.width * mPlace.height * 4);
  for (let b = 0; b < batch; b++) {
    for (let ch = 0; ch < n; ch++) {
      const c = b * n + ch;
      const cg = b * groups + (ch >> 2);
      const lane = ch & 3;
      for (let i = 0; i < bits; i++) {
        const src = (c * bits + i) * words;
        const row = cg * bits + i;
        let pc = 0;
        for (let j = 0; j < words; j++) {
          const word = planes[src + j];
          w[placedTexel(wPlace, row, j) + lane] = word;
          let x = word - ((word >>> 1) & 0x55555555);
          x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
          pc += (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
        }
        meta[placedTexel(mPlace, cg, i) + lane] = pc;
      }
      meta[placedTexel(mPlace, cg, bits) + lane] = channelPlanes(c);
    }
  }
  return { w, meta };
}
