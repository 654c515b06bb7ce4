/**
 * The tiling both WebGPU products share (planes_product_wgsl.ts, dot4_product_wgsl.ts), written
 * once. A workgroup of `threads` invocations owns
 *
 *   4·threads output channels (one vec4 of channels per invocation: weights are stored
 *     [.., word, channel] so neighbouring invocations read neighbouring 16 bytes),
 *   `rows` activation rows (each weight word is read once per workgroup and applied to all of
 *     them: weights are read ceil(M / rows) times in all),
 *   one of `splits` slices of the K words (split-K: at batch 1 the channels alone give too few
 *     workgroups to fill a GPU; the epilogue adds the slices).
 *
 * The rows' activation words of a chunk of `chunk` weight words are staged in workgroup memory,
 * then every invocation runs the product's body over the chunk. The integer accumulators
 * (`groups` exact i32 parts per output, product_plan.ts) are written as partials
 * [group][split][outBatch][M][channels]; the epilogue (epilogue_wgsl.ts) combines them.
 */

import { WORKGROUP_ID_DECL, WORKGROUP_ID_LOAD } from './wgsl_common';

export interface ProductTile {
  /** Invocations per workgroup. */
  threads: number;
  /** Activation rows per workgroup. */
  rows: number;
  /** Slices of the K words (split-K). */
  splits: number;
  /** Weight words staged per chunk. */
  chunk: number;
}

export interface TileFrame {
  outBatch: number;
  m: number;
  /** Channel vec4s (ceil(N / 4)). */
  np4: number;
  /** Weight words per channel (the loop runs over these). */
  weightWords: number;
  /** Activation row length (i32) and the row's batch index expression. */
  rowLength: number;
  aIndex: string;
  bIndex: string;
  tile: ProductTile;
  /** i32 accumulators per output. */
  groups: number;
  /** Activation u32s staged per row per chunk word, in `segments` runs (one per digit, or 1). */
  stagePerWord: number;
  segments: number;
  /** Global offset (from the row's payload start) of segment `seg`'s word `g` (WGSL expressions). */
  segmentOffset: (seg: string, g: string) => string;
  /** The body run for chunk word `wl` (global word `g`): reads W, xs, updates acc. */
  body: string;
}

/** Workgroup memory budget of the staged activations (the WebGPU minimum limit is 16 KiB). */
export const STAGE_BYTES = 16384;

/** The chunk of weight words for a tile: as many as fit the workgroup memory (≤ 32). */
export function chunkWords(rows: number, stagePerWord: number, weightWords: number): number {
  return Math.max(1, Math.min(32, Math.floor(STAGE_BYTES / 4 / (rows * stagePerWord)), weightWords));
}

/** Words of each split: split s covers [s·wps, min((s+1)·wps, words)). */
export function wordsPerSplit(weightWords: number, splits: number): number {
  return Math.ceil(weightWords / splits);
}

/** The main() of a tiled product. acc[r * groups + g] is vec4<i32> of output row r0 + r. */
export function tiledProductMain(f: TileFrame): string {
  const { tile } = f;
  const TM = tile.rows;
  const CW = tile.chunk;
  const perRow = CW * f.stagePerWord;
  const segLen = perRow / f.segments;
  const wps = wordsPerSplit(f.weightWords, tile.splits);
  return `
  var<workgroup> xs: array<u32, ${TM * perRow}>;
  ${WORKGROUP_ID_DECL}

  fn main() {
    ${WORKGROUP_ID_LOAD}
    let c4 = i32(wid.x) * ${tile.threads} + i32(localId.x);
    let r0 = i32(wid.y) * ${TM};
    let z = i32(wid.z);
    let ob = z / ${tile.splits};
    let sp = z - ob * ${tile.splits};
    let ai = ${f.aIndex};
    let bi = ${f.bIndex};
    let w0 = sp * ${wps};
    let w1 = min(w0 + ${wps}, ${f.weightWords});
    var acc: array<vec4<i32>, ${TM * f.groups}>;
    for (var gc = w0; gc < w1; gc += ${CW}) {
      let n = min(${CW}, w1 - gc);
      // Stage the rows' activation words of this chunk (zeros past the rows / the chunk).
      for (var e = i32(localIndex); e < ${TM * perRow}; e += ${tile.threads}) {
        let r = e / ${perRow};
        let j = e - r * ${perRow};
        let seg = j / ${segLen};
        let jl = j - seg * ${segLen};
        var v = 0u;
        if (r0 + r < ${f.m} && jl < n * ${f.stagePerWord / f.segments}) {
          v = bitcast<u32>(X[(ai * ${f.m} + r0 + r) * ${f.rowLength} + 2 + ${f.segmentOffset('seg', 'gc')} + jl]);
        }
        xs[e] = v;
      }
      workgroupBarrier();
      if (c4 < ${f.np4}) {
        for (var wl = 0; wl < n; wl++) {
          let g = gc + wl;
          ${f.body}
        }
      }
      workgroupBarrier();
    }
    if (c4 < ${f.np4}) {
      for (var r = 0; r < ${TM}; r++) {
        if (r0 + r < ${f.m}) {
          for (var q = 0; q < ${f.groups}; q++) {
            result[(((q * ${tile.splits} + sp) * ${f.outBatch} + ob) * ${f.m} + r0 + r) * ${f.np4} + c4] = acc[r * ${f.groups} + q];
          }
        }
      }
    }
  }`;
}

/** The dispatch of a tiled product: [channel tiles, row tiles, outBatch · splits]. */
export function tiledDispatch(f: { np4: number; m: number; outBatch: number; tile: ProductTile }): [number, number, number] {
  return [Math.ceil(f.np4 / f.tile.threads), Math.ceil(f.m / f.tile.rows), f.outBatch * f.tile.splits];
}

/** Staged activation u32 of row r, chunk word wl, entry j (of stagePerWord / segments per segment). */
export function stagedIndex(f: { tile: ProductTile; stagePerWord: number; segments: number }, r: number, seg: number, entry: string): string {
  const perRow = f.tile.chunk * f.stagePerWord;
  const segLen = perRow / f.segments;
  return `${r * perRow + seg * segLen} + ${entry}`;
}
