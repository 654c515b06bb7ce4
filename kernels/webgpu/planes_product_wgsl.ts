/**
 * The planes product: precision batching's own form, bit-plane AND + countOneBits over 32-bit
 * words (a native instruction on GPUs; GLSL ES has none). For each weight plane i < t and
 * activation plane p ≤ A (quantize.ts):
 *
 *   S_i += Σ_p τ_p 2^(A−p) countOneBits(P_i[w] AND R_p[w])        (τ_0 = −1: sign plane)
 *   P_g += σ_i 2^(i1−1−i) S_i   for the planes i of group g          (σ_0 = −1)
 *
 * Inputs: W = weight planes [bBatch][storedBits][words][np4] as vec4 (4 channels per 16 bytes),
 * X = activation rows (activation_quantize_wgsl.ts, 'planes' form), BatchIndex (when batches
 * broadcast through a table). Output: the parts [group][split][outBatch][M][np4] (product_tile_wgsl.ts).
 */
import type { IntegerParts } from './product_parts';
import { ProductTile, stagedIndex, tiledDispatch, tiledProductMain } from './product_tile_wgsl';
import { PbqProgram } from './wgsl_common';

export interface PlanesProductShape {
  outBatch: number;
  m: number;
  n: number;
  words: number;
  /** Planes stored per channel (the buffer's plane stride) and planes used. */
  storedBits: number;
  t: number;
  activationBits: number;
  rowLength: number;
  aIndex: string;
  bIndex: string;
  parts: IntegerParts;
  tile: ProductTile;
}

/** WGSL of one chunk word: every plane i, every staged row r. */
function planesBody(s: PlanesProductShape, np4: number, frame: { tile: ProductTile; stagePerWord: number; segments: number }): string {
  const A = s.activationBits;
  const ranges = s.parts.planeRanges!;
  const lines: string[] = [];
  for (let i = 0; i < s.t; i++) {
    const g = ranges.findIndex(([i0, i1]) => i >= i0 && i < i1);
    const shift = ranges[g][1] - 1 - i;
    lines.push(`{ let wv = bitcast<vec4<u32>>(W[((bi * ${s.storedBits} + ${i}) * ${s.words} + g) * ${np4} + c4]);`);
    for (let r = 0; r < s.tile.rows; r++) {
      const terms = Array.from({ length: A + 1 }, (_, p) => {
        const x = `xs[${stagedIndex(frame, r, 0, `wl * ${A + 1} + ${p}`)}]`;
        const pc = `vec4<i32>(countOneBits(wv & vec4<u32>(${x})))`;
        return A - p === 0 ? pc : `(${pc} << vec4<u32>(${A - p}u))`;
      });
      // sign plane τ_0 = −1
      const sum = `${terms.slice(1).join(' + ') || 'vec4<i32>(0)'} - ${terms[0]}`;
      const shifted = shift === 0 ? `(${sum})` : `((${sum}) << vec4<u32>(${shift}u))`;
      lines.push(`  acc[${r * s.parts.groups + g}] ${i === 0 ? '-=' : '+='} ${shifted};`);
    }
    lines.push('}');
  }
  return lines.join('\n          ');
}

export class PlanesProductProgram extends PbqProgram {
  constructor(readonly shape: PlanesProductShape) {
    const s = shape;
    const np4 = Math.ceil(s.n / 4);
    const A = s.activationBits;
    const frame = { tile: s.tile, stagePerWord: A + 1, segments: 1 };
    const inputs = ['W', 'X'];
    if (s.aIndex.includes('BatchIndex') || s.bIndex.includes('BatchIndex')) inputs.push('BatchIndex');
    super({
      name: 'planes_product',
      key: [s.outBatch, s.m, s.n, s.words, s.storedBits, s.t, A, s.rowLength, s.aIndex, s.bIndex, s.parts.groups,
        s.tile.threads, s.tile.rows, s.tile.splits, s.tile.chunk].join('_'),
      outputShape: [s.parts.groups * s.tile.splits * s.outBatch * s.m * np4 * 4],
      inputs,
      inputComponents: inputs.map((name) => (name === 'W' ? 4 : 1)),
      outputComponent: 4,
      workgroupSize: s.tile.threads,
      dispatch: tiledDispatch({ np4, m: s.m, outBatch: s.outBatch, tile: s.tile }),
      source: tiledProductMain({
        outBatch: s.outBatch, m: s.m, np4, weightWords: s.words, rowLength: s.rowLength,
        aIndex: s.aIndex, bIndex: s.bIndex, tile: s.tile, groups: s.parts.groups,
        stagePerWord: A + 1, segments: 1,
        segmentOffset: (_seg, g) => `${g} * ${A + 1}`,
        body: planesBody(s, np4, frame),
      }),
    });
  }
}
