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
/** Each int32 lane of the products receives 8 products per block (4 dots of 2 products). */
const PRODUCTS_PER_LANE_PER_BLOCK = 8;
/** Fewer exact blocks per lane than this and the codes are split into two digits. */
const MIN_CHUNK_BLOCKS = 4;

/** Blocks an int32 lane sums exactly: 8 · chunk · qmax · amax ≤ 2^31 - 1. */
export function exactChunkBlocks(weightPlanes: number, activationBound: number): number {
  return Math.floor(INT32_MAX / (PRODUCTS_PER_LANE_PER_BLOCK * weightCodeBound(weightPlanes) * activationBound));
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

export function roundUp(x: number, multiple: number): number {
  return Math.ceil(x / multiple) * multiple;
}
