/**
 * The planes product: precision batching's own form, bit-plane AND + countOneBits over 32-bit
 * words (a native instruction on GPUs; GLSL ES has none). For each weight plane i < t and
 * activation plane p ≤ A (quantize.ts):
 *
 *   S_i = Σ_p τ_p 2^(A−p) countOneBits(P_i[w] AND R_p[w])        (τ_0 = −1: sign plane)
 *   P_g += σ_i 2^(i1−1−i) S_i   for the planes i of part g = [i0, i1)   (σ_0 = −1)
 *
 * S_i is summed by Horner's rule (s ← 2s + popcount, starting from −popcount of the sign plane),
 * so every shift is by a constant. Sizes are uniforms; the widths are compiled in, rounded up
 * (activations sign-extended to A', weight planes past t skipped): few pipelines.
 *
 * Inputs: W = weight planes [bBatch][storedBits][words][np4] as vec4 (4 channels per 16 bytes),
 * X = activation rows (activation_quantize_wgsl.ts, 'planes' form), BatchIndex. Output: the parts [part][split][outBatch][M][np4] (product_tile_wgsl.ts).
 */
import { MAX_BITS } from '../../src/config';
import type { IntegerParts } from './product_parts';
import { planeWidth } from './activation_quantize_wgsl';
import { ProductTile, tiledDispatch, tileKey, tiledProductMain, TileSizes, tileUniforms } from './product_tile_wgsl';
import { PbqProgram } from './wgsl_common';

/** Activation planes staged per word, at most (A ≤ 16). */
export const PLANES_MAX_STAGE = MAX_BITS + 1;

export interface PlanesProductShape {
  sizes: TileSizes;
  /** Planes stored per channel (the buffer's plane stride) and planes used. */
  storedBits: number;
  t: number;
  /** The activation plane width A' (activation_quantize_wgsl.ts planeWidth): A' + 1 planes per word. */
  planeBits: number;
  parts: IntegerParts;
  tile: ProductTile;
}

/**
 * The weight planes compiled in: with one part, t rounded up (planeWidth; planes past t are
 * skipped by a uniform branch), so 5 pipelines serve every width; with several parts (K(2^A−1)2^t
 * beyond 2^31: A = 16 and large K), exactly t, each plane's part and shift constant.
 */
function compiledPlanes(s: PlanesProductShape): number {
  return s.parts.groups === 1 ? planeWidth(s.t) : s.t;
}

/**
 * WGSL of one chunk word: every plane i < t, every staged row r, unrolled (a CPU-emulated GPU
 * runs the same work as loops 2–4x slower; measured, tools/bench/README.md). Plane i adds
 * σ_i 2^(i1−1−i) S_i to its part q = floor(i / len): one part: shift t − 1 − i (a uniform).
 */
function planesBody(s: PlanesProductShape, x: (r: number, seg: number, off: string) => string): string {
  const A = s.planeBits;
  const ranges = s.parts.planeRanges!;
  const single = s.parts.groups === 1;
  const planes = compiledPlanes(s);
  const pc = (v: string) => `vec4<i32>(countOneBits(wv & vec4<u32>(${v})))`;
  const lines: string[] = [];
  for (let i = 0; i < planes; i++) {
    const q = single ? 0 : ranges.findIndex(([i0, i1]) => i >= i0 && i < i1);
    const shift = single ? `vec4<u32>(u32(t - ${i + 1}))` : `vec4<u32>(${ranges[q][1] - 1 - i}u)`;
    // planes 0 .. planes/2 exist at every t of the bucket
    const guard = single && i > planes / 2 ? `if (${i} < t) ` : '';
    lines.push(`${guard}{ let wv = bitcast<vec4<u32>>(W[((bi * storedBits + ${i}) * weightWords + g) * np4 + c4]);`);
    lines.push(`  let shift = ${shift};`);
    for (let r = 0; r < s.tile.rows; r++) {
      // S_i of this word by Horner's rule; the sign planes weigh −2^A' (activations) and −2^(i1−1) (weights)
      lines.push(`  { var si = -${pc(x(r, 0, '0'))};`);
      for (let p = 1; p <= A; p++) lines.push(`    si = (si << vec4<u32>(1u)) + ${pc(x(r, 0, `${p}`))};`);
      lines.push(`    acc[${r * s.parts.groups + q}] ${i === 0 ? '-=' : '+='} si << shift; }`);
    }
    lines.push('}');
  }
  return lines.join('\n          ');
}

export class PlanesProductProgram extends PbqProgram {
  constructor(readonly shape: PlanesProductShape) {
    const s = shape;
    const inputs = ['W', 'X', 'BatchIndex'];
    const parts = s.parts.groups === 1 ? 'one' : `${s.t}_${s.parts.planeRanges![0][1]}`;
    super({
      name: 'planes_product',
      key: [s.planeBits, compiledPlanes(s), parts, tileKey(s.tile)].join('_'),
      outputShape: [s.parts.groups * s.sizes.splits * s.sizes.outBatch * s.sizes.m * s.sizes.np4 * 4],
      inputs,
      inputComponents: inputs.map((name) => (name === 'W' ? 4 : 1)),
      outputComponent: 4,
      workgroupSize: s.tile.threads,
      dispatch: tiledDispatch(s.sizes, s.tile),
      uniforms: { ints: { ...tileUniforms(s.sizes), storedBits: s.storedBits, parts: s.parts.groups, t: s.t } },
      source: tiledProductMain({
        tile: s.tile, groups: s.parts.groups,
        stagePerWord: `${s.planeBits + 1}`, maxStagePerWord: PLANES_MAX_STAGE, segments: '1',
        segmentOffset: (_seg, g) => `${g} * ${s.planeBits + 1}`,
        body: (x) => planesBody(s, x),
        locals: ['storedBits', 't'],
      }),
    });
  }
}
