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
 * Inputs: W = codes [bBatch][words·f][np4] as vec4 (4 channels per 16 bytes), X = activation rows
 * ('digits' form), BatchIndex (when batches broadcast through a table). Output: the parts
 * [digit][split][outBatch][M][np4] (product_tile_wgsl.ts).
 */
import type { IntegerParts } from './product_parts';
import { ProductTile, stagedIndex, tiledDispatch, tiledProductMain } from './product_tile_wgsl';
import { PbqProgram } from './wgsl_common';

export interface Dot4ProductShape {
  outBatch: number;
  m: number;
  n: number;
  words: number;
  field: 1 | 2 | 4 | 8;
  activationBits: number;
  digits: number;
  rowLength: number;
  aIndex: string;
  bIndex: string;
  parts: IntegerParts;
  tile: ProductTile;
}

/** Mask of one f-bit field in each byte. */
function byteFieldMask(f: number): string {
  return `0x${((1 << f) - 1).toString(16).padStart(2, '0').repeat(4)}u`;
}

function dot4Body(s: Dot4ProductShape, np4: number, frame: { tile: ProductTile; stagePerWord: number; segments: number }): string {
  const f = s.field;
  const subs = 8 / f;
  const lines = [`let wv = bitcast<vec4<u32>>(W[(bi * ${s.words * f} + g) * ${np4} + c4]);`];
  for (let j = 0; j < subs; j++) {
    const sub = f === 8 ? 'wv' : `(wv >> vec4<u32>(${f * j}u)) & vec4<u32>(${byteFieldMask(f)})`;
    lines.push(`{ let sw = ${sub};`);
    for (let r = 0; r < s.tile.rows; r++) {
      for (let d = 0; d < s.digits; d++) {
        const x = `xs[${stagedIndex(frame, r, d, `wl * ${subs} + ${j}`)}]`;
        lines.push(`  { let x = ${x}; acc[${r * s.digits + d}] += vec4<i32>(dot4I8Packed(sw.x, x), dot4I8Packed(sw.y, x), dot4I8Packed(sw.z, x), dot4I8Packed(sw.w, x)); }`);
      }
    }
    lines.push('}');
  }
  return lines.join('\n          ');
}

export class Dot4ProductProgram extends PbqProgram {
  constructor(readonly shape: Dot4ProductShape) {
    const s = shape;
    const np4 = Math.ceil(s.n / 4);
    const subs = 8 / s.field;
    const frame = { tile: s.tile, stagePerWord: s.digits * subs, segments: s.digits };
    const inputs = ['W', 'X'];
    if (s.aIndex.includes('BatchIndex') || s.bIndex.includes('BatchIndex')) inputs.push('BatchIndex');
    if (s.parts.groups !== s.digits) throw new Error(`pbq: dot4 parts (${s.parts.groups}) must be one per digit (${s.digits})`);
    super({
      name: 'dot4_product',
      key: [s.outBatch, s.m, s.n, s.words, s.field, s.activationBits, s.digits, s.rowLength, s.aIndex, s.bIndex,
        s.tile.threads, s.tile.rows, s.tile.splits, s.tile.chunk].join('_'),
      outputShape: [s.digits * s.tile.splits * s.outBatch * s.m * np4 * 4],
      inputs,
      inputComponents: inputs.map((name) => (name === 'W' ? 4 : 1)),
      outputComponent: 4,
      workgroupSize: s.tile.threads,
      dispatch: tiledDispatch({ np4, m: s.m, outBatch: s.outBatch, tile: s.tile }),
      source: tiledProductMain({
        outBatch: s.outBatch, m: s.m, np4, weightWords: s.words * s.field, rowLength: s.rowLength,
        aIndex: s.aIndex, bIndex: s.bIndex, tile: s.tile, groups: s.digits,
        stagePerWord: s.digits * subs, segments: s.digits,
        // digit `seg` of the row starts at seg·words·8; weight word g covers activation words g·subs ..
        segmentOffset: (seg, g) => `${seg} * ${s.words * 8} + ${g} * ${subs}`,
        body: dot4Body(s, np4, frame),
      }),
    });
  }
}
