/**
 * The codes product on a range of channel groups: Σ q a of every (digit) row against groups
 * [g0, g1) of a packed weight, then the outputs of those channels (kernels/wasm/simd/matmul.ts).
 * The engine runs it on all groups, or on the first range when threads share a product; each
 * worker thread (thread_worker.ts) runs it on its own range, on its own copy of those groups.
 */
import { GROUP } from './plan';

/** The module's exports (kernels/wasm/simd/index.ts). Pointers are byte addresses. */
export interface KernelExports {
  quantizeRows(src: number, rows: number, k: number, rowStride: number, colStride: number, bits: number,
    digits: number, codes: number, kp: number, meta: number): void;
  packWeights(planes: number, channels: number, planeStride: number, words: number, planeCounts: number,
    format: number, dst: number): void;
  gemv(format: number, codes: number, blocks: number, w: number, groups: number, chunk: number, sums: number): void;
  buildTables(codes: number, groups: number, tables: number): void;
  packPlanes(planes: number, channels: number, planeStride: number, words: number, planeCounts: number, planes2: number,
    dst: number): void;
  gemvTables(tables: number, pairStart: number, pairCount: number, pairs: number, w: number, tiles: number,
    planes: number, pairsPerChunk: number, planeWeights: number, sums: number, acc: number): void;
  gemm(format: number, codes: number, rows: number, blocks: number, w: number, groups: number, chunk: number,
    scratch: number, sums: number): void;
  finish(sums: number, np: number, rows: number, channels: number, digits: number, meta: number, factors: number,
    out: number, ints: number, outStride: number): void;
}

/** Blocks of unpacked weights the batched product keeps in scratch (GROUP · 64 bytes each). */
export const SCRATCH_BLOCKS = 32;
/**
 * Up to this many (digit) rows run the one-row product once per row (weights unpacked in
 * registers, read once per row); more rows run the batched product (unpacked once per chunk).
 * Measured at 4096² W4: per row 0.7x the batched product's time at 2 rows, 0.8x at 4 rows (both
 * are bound by the dot instructions, not by reading the weights).
 */
export const ROW_PRODUCT_MAX_ROWS = 4;

/** One codes product; every address is in the memory of the module that runs it. */
export interface CodesProductArgs {
  format: number;
  /** int16 activation codes, [digit row][blocks · 32] */
  codes: number;
  rows: number;
  digits: number;
  blocks: number;
  /** exact int32 chunk (plan.chunkBlocks) */
  chunk: number;
  /** the range's first group of the weight batch */
  weights: number;
  groups: number;
  /** real channels of the range (its last group may be padding) */
  channels: number;
  /** per row: step, code sum (float64 pairs) */
  meta: number;
  /** the range's first factor m_n 2^-t_n */
  factors: number;
  out: number;
  /** 0: no integers */
  ints: number;
  outStride: number;
  /** float64 sums, digit rows × groups · GROUP */
  sums: number;
  /** SCRATCH_BLOCKS · GROUP · 64 bytes, for more than ROW_PRODUCT_MAX_ROWS digit rows */
  scratch: number;
}

/** The product the codes path uses for this many digit rows. */
export function codesProductKind(digitRows: number): 'codes-row' | 'codes-rows' {
  return digitRows <= ROW_PRODUCT_MAX_ROWS ? 'codes-row' : 'codes-rows';
}

/** Bytes of the float64 sums of one range. */
export function sumsBytes(digitRows: number, groups: number): number {
  return digitRows * groups * GROUP * 8;
}

export function runCodesProduct(kernels: KernelExports, a: CodesProductArgs): void {
  const np = a.groups * GROUP;
  const digitRows = a.rows * a.digits;
  const rowBytes = a.blocks * 64;
  if (codesProductKind(digitRows) === 'codes-row') {
    for (let r = 0; r < digitRows; r++) {
      kernels.gemv(a.format, a.codes + r * rowBytes, a.blocks, a.weights, a.groups, a.chunk, a.sums + r * np * 8);
    }
  } else {
    kernels.gemm(a.format, a.codes, digitRows, a.blocks, a.weights, a.groups, Math.min(a.chunk, SCRATCH_BLOCKS), a.scratch,
      a.sums);
  }
  kernels.finish(a.sums, np, a.rows, a.channels, a.digits, a.meta, a.factors, a.out, a.ints, a.outStride);
}
