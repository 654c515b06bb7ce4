/**
 * Choices of the WebAssembly engine that depend only on the bit widths: the packed weight format,
 * the activation digits and the number of code blocks an int32 lane may sum exactly. Pure
 * functions; the AssemblyScript kernels (kernels/wasm/simd/) trust these numbers.
 */
import { PbqQuantizationError } from '../../src/quantize';

/** Codes per block (one 32-bit plane word) and channels per group: kernels/wasm/simd/layout.ts. */
export const BLOCK = 32;
export const GROUP = 4;
/** Bytes of int16 activation codes per block. */
export const CODE_BLOCK_BYTES = 64;

export type WeightFormat = 4 | 8 | 16;

/** Packed weight format serving codes of at most `planes` planes: int4, int8 or int16. */
export function weightFormat(planes: number): WeightFormat {
  return planes <= 4 ? 4 : planes <= 8 ? 8 : 16;
}

/** Bytes of one packed block of 32 codes. */
export function blockBytes(format: WeightFormat): number {
  return format * 4;
}

/** Largest |q| of t-plane codes: q ∈ [-2^(t-1), 2^(t-1) - 1]. */
export function weightCodeBound(planes: number): number {
  return 2 ** (planes - 1);
}

/** Largest |a| of A-bit activation codes. */
export function activationCodeBound(bits: number): number {
  return 2 ** bits - 1;
}

/** Largest |digit| when A-bit codes are split as a = 256 h + l: l ∈ [0, 255], |h| ≤ 2^(A-8). */
export function digitBound(activationBits: number): number {
  return Math.max(255, 2 ** (activationBits - 8));
}

const INT32_MAX = 2 ** 31 - 1;
/** Fewer exact blocks per lane than this and the codes are split into two digits. */
const MIN_CHUNK_BLOCKS = 4;

/**
 * The most one int32 accumulator lane gains per block of 32 codes: 4 dots (one per 8 codes) of
 * 2 products, each |q a| ≤ 2^(t-1) amax (kernels/wasm/simd/matmul.ts).
 */
export function laneGainPerBlock(weightPlanes: number, activationBound: number): number {
  return 8 * weightCodeBound(weightPlanes) * activationBound;
}

/** Blocks an int32 lane sums exactly: chunk · laneGainPerBlock ≤ 2^31 - 1. */
export function exactChunkBlocks(weightPlanes: number, activationBound: number): number {
  return Math.floor(INT32_MAX / laneGainPerBlock(weightPlanes, activationBound));
}

/**
 * 1 when the A-bit codes go to the products as they are (they fit int16 and a lane sums at
 * least MIN_CHUNK_BLOCKS blocks exactly), else 2 (two base-256 digits per code).
 */
export function activationDigits(activationBits: number, weightPlanes: number): 1 | 2 {
  if (activationBits > 15) return 2; // 2^16 - 1 does not fit int16
  return exactChunkBlocks(weightPlanes, activationCodeBound(activationBits)) >= MIN_CHUNK_BLOCKS ? 1 : 2;
}

/** Block-count chunk of the products for these widths and digits (each lane exact in int32). */
export function chunkBlocks(activationBits: number, weightPlanes: number, digits: 1 | 2): number {
  const bound = digits === 1 ? activationCodeBound(activationBits) : digitBound(activationBits);
  return exactChunkBlocks(weightPlanes, bound);
}

/**
 * The products sum Σ q a in float64 and d = 2 Σ q a + T must stay an exact integer there:
 * |d| ≤ K (2^t - 1)(2^A - 1) < 2^53 (K < 2^21 at 16 × 16 bits).
 */
export function checkExactInFloat64(k: number, weightPlanes: number, activationBits: number): void {
  const bound = k * (2 ** weightPlanes - 1) * activationCodeBound(activationBits);
  if (bound >= 2 ** 53) {
    throw new PbqQuantizationError(`K=${k} at ${weightPlanes} weight and ${activationBits} activation bits ` +
      'exceeds the exact float64 range of the products (K·(2^t−1)·(2^A−1) must be below 2^53)');
  }
}

/** Channels per tile of the table product's tiled planes (kernels/wasm/simd/tables.ts). */
export const TILE = 16;
/** Weights of at most this many planes (W1, W2) run the batch-1 product by table lookup. */
export const TABLE_MAX_PLANES = 2;

export function tilesFor(n: number): number {
  return Math.ceil(n / TILE);
}

/** Group pairs (8 codes each) of K, padded to whole blocks of 32. */
export function pairsFor(k: number): number {
  return Math.ceil(k / BLOCK) * 4;
}

/**
 * Group pairs the table product's int16 lanes sum exactly: each pair adds two table entries of
 * at most 4 amax, so 8 · pairs · amax ≤ 32767. 0 when the table product does not serve these
 * widths (more than TABLE_MAX_PLANES planes, or fewer than 4 pairs per chunk: A > 10).
 */
export function tablePairsPerChunk(weightPlanes: number, activationBits: number): number {
  if (weightPlanes > TABLE_MAX_PLANES || activationBits > 15) return 0;
  const pairs = Math.floor(32767 / (8 * activationCodeBound(activationBits)));
  return pairs >= 4 ? pairs : 0;
}
