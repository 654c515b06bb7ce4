/**
 * Memory layouts shared by the kernels (AssemblyScript; the TS wrapper mirrors these numbers in
 * kernels/wasm/layout.ts).
 *
 * Activation codes: one int16 row of KP = roundUp(K, 32) codes per (row, digit), zero padded.
 * Packed weights of one weight batch: channels in groups of GROUP = 4, K in blocks of 32 codes,
 *   [group][block][channel in group][BLOCK_BYTES(format)]
 * so the batch-1 kernel streams every group's blocks in order. Formats (signed codes q):
 *   4  (t ≤ 4):  16 bytes, read as 8 int16 lanes; code k = 8s + i is the nibble s of lane i;
 *   8  (t ≤ 8):  32 bytes, int8 codes in k order;
 *   16 (t ≤ 16): 64 bytes, int16 codes in k order.
 */
export const BLOCK: i32 = 32;
export const GROUP: i32 = 4;

// @ts-ignore: decorator
@inline export function blockBytes(format: i32): i32 {
  return format == 4 ? 16 : format == 8 ? 32 : 64;
}
