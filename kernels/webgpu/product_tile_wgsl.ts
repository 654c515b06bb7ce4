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
 * (`groups` exact i32 parts per output, product_parts.ts) are written as partials
 * [group][split][outBatch][M][channels]; the epilogue (epilogue_wgsl.ts) combines them.
 */

import { BATCH_INDEX_WGSL, WORKGROUP_ID_DECL, WORKGROUP_ID_LOAD } from './wgsl_common';

export interface ProductTile {
  /** Invocations per workgroup. */
  threads: number;
  /**
   * Whether the chunk's activation words are staged in workgroup memory (GPUs: one global read
   * per word and workgroup) or read from the storage buffer where they are used (SwiftShader,
   * where workgroup memory is ordinary memory behind bounds checks and barriers).
   */
  staged: boolean;
  /** Activation rows per workgroup. */
  rows: number;
  /** Slices of the K words (split-K). */
  splits: number;
  /** Weight words staged per chunk. */
  chunk: number;
}

export interface TileFrame {
  tile: ProductTile;
  /** i32 accumulators allocated per output (`uniforms.parts` of them are used and written). */
  groups: number;
  /**
   * Activation u32s staged per row and chunk word (a WGSL expression of uniforms), in `segments`
   * runs (`segments`: one per digit, or 1), at most `maxStagePerWord` (sizes the workgroup array).
   */
  stagePerWord: string;
  maxStagePerWord: number;
  segments: string;
  /** Global offset (from the row's payload start) of segment `seg`'s word `g` (WGSL expressions). */
  segmentOffset: (seg: string, g: string) => string;
  /**
   * The body run for chunk word `wl` (global word `g`): reads W, the activations through `x`
   * (row r, segment seg, offset `off` within the word's entries of that segment), updates acc.
   */
  body: (x: (r: number, seg: number, off: string) => string) => string;
  /** Uniforms the body reads, copied to locals of the same name first (kept in registers). */
  locals?: string[];
}

/**
 * The uniforms of a tiled product: M, channel vec4s, output batches, weight words per channel
 * (the loop runs over these), the activation row length, and the split-K slices.
 */
export interface TileSizes {
  m: number;
  np4: number;
  outBatch: number;
  weightWords: number;
  rowLength: number;
  splits: number;
}

/** Workgroup memory budget of the staged activations (the WebGPU minimum limit is 16 KiB). */
export const STAGE_BYTES = 16384;

/** The chunk of weight words for a tile: as many as fit the workgroup memory (≤ 32). */
export function chunkWords(rows: number, maxStagePerWord: number): number {
  return Math.max(1, Math.min(32, Math.floor(STAGE_BYTES / 4 / (rows * maxStagePerWord))));
}

/** Words of each split: split s covers [s·wps, min((s+1)·wps, words)). */
export function wordsPerSplit(weightWords: number, splits: number): number {
  return Math.ceil(weightWords / splits);
}

/** The ints of a tiled product's uniforms. */
export function tileUniforms(t: TileSizes): Record<string, number> {
  return { ...t, wordsPerSplit: wordsPerSplit(t.weightWords, t.splits) };
}

/**
 * The main() of a tiled product. acc[r * groups + g] is vec4<i32> of output row r0 + r; row r's
 * staged words start at xs[r * perRow], segment seg at + seg * segLen.
 */
export function tiledProductMain(f: TileFrame): string {
  const { tile } = f;
  const TM = tile.rows;
  const CW = tile.chunk;
  return `
  var<workgroup> xs: array<u32, ${TM * CW * f.maxStagePerWord}>;
  ${WORKGROUP_ID_DECL}

  fn main() {
    ${WORKGROUP_ID_LOAD}
    let np4 = uniforms.np4;
    let weightWords = uniforms.weightWords;
    ${(f.locals ?? []).map((name) => `let ${name} = uniforms.${name};`).join(' ')}
    let c4 = i32(wid.x) * ${tile.threads} + i32(localId.x);
    let r0 = i32(wid.y) * ${TM};
    let z = i32(wid.z);
    let ob = z / uniforms.splits;
    let sp = z - ob * uniforms.splits;
    ${BATCH_INDEX_WGSL}
    let w0 = sp * uniforms.wordsPerSplit;
    let w1 = min(w0 + uniforms.wordsPerSplit, weightWords);
    let spw = ${f.stagePerWord};
    let perRow = ${CW} * spw;
    let segLen = perRow / ${f.segments};
    let perSegWord = spw / ${f.segments};
    var acc = array<vec4<i32>, ${TM * f.groups}>();
    ${tile.staged ? stagedLoop(f) : directLoop(f)}
    if (c4 < np4) {
      ${writeParts(TM, f.groups)}
    }
  }`;
}

/**
 * Stores acc: unrolled, so acc is only ever indexed by constants (a private array indexed at run
 * time lives in memory, not registers, on SwiftShader and many GPUs). Parts past uniforms.parts
 * are not written.
 */
function writeParts(rows: number, groups: number): string {
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    lines.push(`if (r0 + ${r} < uniforms.m) {`);
    for (let q = 0; q < groups; q++) {
      const store = `result[(((${q} * uniforms.splits + sp) * uniforms.outBatch + ob) * uniforms.m + r0 + ${r}) * np4 + c4] = acc[${r * groups + q}];`;
      lines.push(q === 0 ? `  ${store}` : `  if (${q} < uniforms.parts) { ${store} }`);
    }
    lines.push('}');
  }
  return lines.join('\n      ');
}

/** The word loop with the chunk's activation words staged in workgroup memory. */
function stagedLoop(f: TileFrame): string {
  const { tile } = f;
  const CW = tile.chunk;
  const x = (r: number, seg: number, off: string) => `xs[${r} * perRow + ${seg} * segLen + wl * perSegWord + ${off}]`;
  return `
    for (var gc = w0; gc < w1; gc += ${CW}) {
      let n = min(${CW}, w1 - gc);
      // Stage the rows' activation words of this chunk (zeros past the rows / the chunk).
      for (var e = i32(localIndex); e < ${tile.rows} * perRow; e += ${tile.threads}) {
        let r = e / perRow;
        let j = e - r * perRow;
        let seg = j / segLen;
        let jl = j - seg * segLen;
        var v = 0u;
        if (r0 + r < uniforms.m && jl < n * perSegWord) {
          v = bitcast<u32>(X[(ai * uniforms.m + r0 + r) * uniforms.rowLength + 2 + ${f.segmentOffset('seg', 'gc')} + jl]);
        }
        xs[e] = v;
      }
      workgroupBarrier();
      if (c4 < np4) {
        for (var wl = 0; wl < n; wl++) {
          let g = gc + wl;
          ${f.body(x)}
        }
      }
      workgroupBarrier();
    }`;
}

/** The word loop reading the activation words from the storage buffer (rows past M read row M−1, unused). */
function directLoop(f: TileFrame): string {
  const rows = Array.from({ length: f.tile.rows }, (_, r) =>
    `let row${r} = (ai * uniforms.m + min(r0 + ${r}, uniforms.m - 1)) * uniforms.rowLength + 2;`).join('\n    ');
  const x = (r: number, seg: number, off: string) => `bitcast<u32>(X[row${r} + ${f.segmentOffset(`${seg}`, 'g')} + ${off}])`;
  return `
    ${rows}
    if (c4 < np4) {
      for (var g = w0; g < w1; g++) {
        ${f.body(x)}
      }
    }`;
}

/** The dispatch of a tiled product: [channel tiles, row tiles, outBatch · splits]. */
export function tiledDispatch(t: TileSizes, tile: ProductTile): [number, number, number] {
  return [Math.ceil(t.np4 / tile.threads), Math.ceil(t.m / tile.rows), t.outBatch * t.splits];
}

/** Key of the compile-time part of a tile. */
export function tileKey(tile: ProductTile): string {
  return `${tile.threads}_${tile.rows}_${tile.chunk}_${tile.staged}`;
}
