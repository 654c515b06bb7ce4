/**
 * The dot4 product: packed codes multiplied four at a time with WGSL's dot4I8Packed (the
 * packed_4x8_integer_dot_product language feature; DP4A on GPUs), as onnxruntime-web's
 * MatMulNBits does, but exact and over pbq's codes (product_parts.ts):
 *
 *   weights: f-bit codes, 32/f per u32 — byte b, field j of word g holds k = g·32/f + 4j + b,
 *            so `(word >> f·j) & mask` is four codes as bytes (f = 8: the word itself)
 *   activations: base-2^7 digits as signed bytes, four k per u32 (activation_quantize_wgsl.ts)
 *   P_j += dot4I8Packed(codes, digits_j)      one i32 part per digit
 *
 * Sizes are uniforms; f and the digit count are compiled in (unrolled): one pipeline per f,
 * digit count and tile.
 * Inputs: W = codes [bBatch][words·f][np4] as vec4 (4 channels per 16 bytes), X = activation rows
 * ('digits' form), BatchIndex. Output: the parts
 * [digit][split][outBatch][M][np4] (product_tile_wgsl.ts).
 */
import type { IntegerParts } from './product_parts';
import { ProductTile, tiledDispatch, tileKey, tiledProductMain, TileSizes, tileUniforms } from './product_tile_wgsl';
import { PbqProgram } from './wgsl_common';

/** Digits of an activation code, at most (A ≤ 16). */
const MAX_DIGITS = 3;
/** Activation u32s staged per weight word, at most (3 digits × 8 sub-words at f = 1). */
export const DOT4_MAX_STAGE = MAX_DIGITS * 8;

export interface Dot4ProductShape {
  sizes: TileSizes;
  field: 1 | 2 | 4 | 8;
  /** Activation u32s per digit of a row (words·8). */
  digitWords: number;
  digits: number;
  parts: IntegerParts;
  tile: ProductTile;
}

/** Mask of one f-bit field in each byte. */
function byteFieldMask(f: number): string {
  return `0x${((1 << f) - 1).toString(16).padStart(2, '0').repeat(4)}u`;
}

/** WGSL of one weight word: its 8/f sub-words of four codes, every staged row r and digit (unrolled: f and the digits are compiled in). */
function dot4Body(s: Dot4ProductShape, x: (r: number, seg: number, off: string) => string): string {
  const f = s.field;
  const subs = 8 / f;
  const lines = [`let wv = bitcast<vec4<u32>>(W[(bi * weightWords + g) * np4 + c4]);`];
  for (let j = 0; j < subs; j++) {
    lines.push(`{ let sw = ${f === 8 ? 'wv' : `(wv >> vec4<u32>(${f * j}u)) & vec4<u32>(${byteFieldMask(f)})`};`);
    for (let r = 0; r < s.tile.rows; r++) {
      for (let d = 0; d < s.digits; d++) {
        lines.push(`  { let x = ${x(r, d, `${j}`)};`,
          `    acc[${r * s.digits + d}] += vec4<i32>(dot4I8Packed(sw.x, x), dot4I8Packed(sw.y, x), dot4I8Packed(sw.z, x), dot4I8Packed(sw.w, x)); }`);
      }
    }
    lines.push('}');
  }
  return lines.join('\n          ');
}

export class Dot4ProductProgram extends PbqProgram {
  constructor(readonly shape: Dot4ProductShape) {
    const s = shape;
    const inputs = ['W', 'X', 'BatchIndex'];
    if (s.parts.groups !== s.digits) throw new Error(`pbq: dot4 parts (${s.parts.groups}) must be one per digit (${s.digits})`);
    super({
      name: 'dot4_product',
      key: [s.field, s.digits, tileKey(s.tile)].join('_'),
      outputShape: [s.digits * s.sizes.splits * s.sizes.outBatch * s.sizes.m * s.sizes.np4 * 4],
      inputs,
      inputComponents: inputs.map((name) => (name === 'W' ? 4 : 1)),
      outputComponent: 4,
      workgroupSize: s.tile.threads,
      dispatch: tiledDispatch(s.sizes, s.tile),
      uniforms: { ints: { ...tileUniforms(s.sizes), digitWords: s.digitWords, parts: s.digits } },
      source: tiledProductMain({
        tile: s.tile, groups: s.digits,
        stagePerWord: `${s.digits * 8 / s.field}`, maxStagePerWord: DOT4_MAX_STAGE, segments: `${s.digits}`,
        // digit `seg` of the row starts at seg·words·8; weight word g covers activation words g·8/f ..
        segmentOffset: (seg, g) => `${seg} * uniforms.digitWords + ${g} * ${8 / s.field}`,
        body: (x) => dot4Body(s, x),
      }),
    });
  }
}
