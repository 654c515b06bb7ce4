/**
 * Re-packing of stored bit planes into the signed codes the products read (layout.ts).
 *
 * Planes (src/quantize.ts): [channel][planeStride][words], plane 0 the sign plane, bit l of word
 * w is k = 32 w + l. Channel c uses its first t_c = planeCounts[c] planes (the caller applies
 * channelBits and weightBits); its code is the t_c-bit two's complement
 * q = -b_0 2^(t-1) + Σ_{p≥1} b_p 2^(t-1-p), built MSB first as q ← 2q + b_p (q ← -b_0 for the
 * sign plane). One 32-bit word is one block of 32 codes, computed as four int16x8 vectors (lane i
 * of vector s is k = 8s + i).
 */
import { GROUP, blockBytes } from './layout';

/** Lane i of vector s tests bit 8s + i: the byte (word >> 8s) & 255 against 1 << i. */
// @ts-ignore: decorator
@inline function bitMask(byte: u32): v128 {
  return i16x8.ne(v128.and(i16x8.splat(<i16>byte), i16x8(1, 2, 4, 8, 16, 32, 64, 128)), i16x8.splat(0));
}

/** q ← -b for the sign plane, q ← 2q + b after it; `mask` is -b (all ones where b = 1). */
// @ts-ignore: decorator
@inline function addPlane(q: v128, mask: v128, p: i32): v128 {
  return p == 0 ? mask : i16x8.sub(i16x8.add(q, q), mask);
}

function storeBlock(format: i32, dst: usize, q0: v128, q1: v128, q2: v128, q3: v128): void {
  if (format == 4) {
    const nibble = i16x8.splat(15);
    const packed = v128.or(
      v128.or(v128.and(q0, nibble), i16x8.shl(v128.and(q1, nibble), 4)),
      v128.or(i16x8.shl(v128.and(q2, nibble), 8), i16x8.shl(q3, 12)));
    v128.store(dst, packed);
  } else if (format == 8) {
    v128.store(dst, i8x16.narrow_i16x8_s(q0, q1));
    v128.store(dst, i8x16.narrow_i16x8_s(q2, q3), 16);
  } else {
    v128.store(dst, q0);
    v128.store(dst, q1, 16);
    v128.store(dst, q2, 32);
    v128.store(dst, q3, 48);
  }
}

/**
 * Packs the codes of `channels` channels (one weight batch) into `dst`, padding the channel count
 * to a multiple of GROUP with zero codes. planeCounts: one u8 per channel.
 */
export function packWeights(
  planes: usize, channels: i32, planeStride: i32, words: i32, planeCounts: usize, format: i32, dst: usize,
): void {
  const bytes = blockBytes(format);
  const padded = (channels + GROUP - 1) & ~(GROUP - 1);
  for (let c = 0; c < padded; c++) {
    const t = c < channels ? <i32>load<u8>(planeCounts + c) : 0;
    const src = planes + (<usize>c * planeStride * words << 2);
    const out = dst + <usize>((c / GROUP) * words * GROUP + c % GROUP) * bytes;
    for (let b = 0; b < words; b++) {
      let q0 = i16x8.splat(0);
      let q1 = q0;
      let q2 = q0;
      let q3 = q0;
      for (let p = 0; p < t; p++) {
        const word = load<u32>(src + ((<usize>p * words + b) << 2));
        q0 = addPlane(q0, bitMask(word & 255), p);
        q1 = addPlane(q1, bitMask((word >>> 8) & 255), p);
        q2 = addPlane(q2, bitMask((word >>> 16) & 255), p);
        q3 = addPlane(q3, bitMask(word >>> 24), p);
      }
      storeBlock(format, out + <usize>b * GROUP * bytes, q0, q1, q2, q3);
    }
  }
}
