/**
 * Batch-1 products of 1- and 2-plane weights by table lookup on the bit planes themselves
 * (precision batching's Σ_i σ_i 2^(t-1-i) Σ_{k ∈ P_i} a_k, with the inner sum looked up).
 *
 * Tables (buildTables): for every group g of 4 codes, e_g[idx] = Σ_{l : bit l of idx} a_{4g+l}
 * for idx 0..15, split into a vector of low bytes and one of high bytes (32 bytes per group).
 * Planes (packPlanes): tiles of 16 channels, [tile][group pair gp][plane][16 bytes], byte j the
 * bits of k = 8gp..8gp+7 of channel 16·tile + j: its low nibble indexes e_(2gp), its high one
 * e_(2gp+1). One `i8x16.swizzle` then looks up 4 codes of 16 channels at once: 64 products for
 * 2 swizzles (low and high bytes) and their interleave, where `i32x4.dot_i16x8_s` does 8.
 *
 * Exactness: |e| ≤ 4 amax; the int16 lanes take `pairsPerChunk` group pairs (2 e per pair),
 * 8 · pairsPerChunk · amax ≤ 32767 (kernels/wasm/plan.ts), before they are widened to int32.
 */
export const TILE: i32 = 16;

export function buildTables(codes: usize, groups: i32, tables: usize): void {
  // lane idx (0..7) of mask l is -1 when bit l of idx is set
  const m0 = i16x8(0, -1, 0, -1, 0, -1, 0, -1);
  const m1 = i16x8(0, 0, -1, -1, 0, 0, -1, -1);
  const m2 = i16x8(0, 0, 0, 0, -1, -1, -1, -1);
  for (let g = 0; g < groups; g++) {
    const a = codes + (<usize>g << 3);
    const low = i16x8.add(i16x8.add(v128.and(i16x8.splat(load<i16>(a)), m0), v128.and(i16x8.splat(load<i16>(a, 2)), m1)),
      v128.and(i16x8.splat(load<i16>(a, 4)), m2));
    const high = i16x8.add(low, i16x8.splat(load<i16>(a, 6))); // idx 8..15: bit 3 set
    const t = tables + (<usize>g << 5);
    v128.store(t, i8x16.shuffle(low, high, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
    v128.store(t, i8x16.shuffle(low, high, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), 16);
  }
}

/**
 * Copies the planes of `channels` channels (the first planeCounts[c] of each, the rest zero)
 * into the tiled layout with `planes` planes per tile; channels padded to a multiple of 16.
 */
export function packPlanes(
  src: usize, channels: i32, planeStride: i32, words: i32, planeCounts: usize, planes: i32, dst: usize,
): void {
  const pairs = words * 4; // one byte of a plane word per group pair
  const tiles = (channels + TILE - 1) / TILE;
  for (let tile = 0; tile < tiles; tile++) {
    for (let j = 0; j < TILE; j++) {
      const c = tile * TILE + j;
      const t = c < channels ? <i32>load<u8>(planeCounts + c) : 0;
      for (let i = 0; i < planes; i++) {
        const plane = src + (<usize>(c * planeStride + i) * words << 2);
        let out = dst + <usize>((tile * pairs * planes + i) * TILE + j);
        for (let gp = 0; gp < pairs; gp++) {
          store<u8>(out, i < t ? load<u8>(plane + gp) : 0);
          out += <usize>(planes * TILE);
        }
      }
    }
  }
}

/** Channels 0-7 of a lookup: the int16 values e from their low bytes l and high bytes h. */
// @ts-ignore: decorator
@inline function lowChannels(l: v128, h: v128): v128 {
  return i8x16.shuffle(l, h, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

/** Channels 8-15 of a lookup. */
// @ts-ignore: decorator
@inline function highChannels(l: v128, h: v128): v128 {
  return i8x16.shuffle(l, h, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/** acc[0..4) += the int16 lanes of low (channels 0-7) and high (8-15), widened to int32. */
// @ts-ignore: decorator
@inline function widenInto(acc: usize, low: v128, high: v128): void {
  v128.store(acc, i32x4.add(v128.load(acc), i32x4.extend_low_i16x8_s(low)));
  v128.store(acc, i32x4.add(v128.load(acc, 16), i32x4.extend_high_i16x8_s(low)), 16);
  v128.store(acc, i32x4.add(v128.load(acc, 32), i32x4.extend_low_i16x8_s(high)), 32);
  v128.store(acc, i32x4.add(v128.load(acc, 48), i32x4.extend_high_i16x8_s(high)), 48);
}

/**
 * One tile over `count` group pairs (count ≤ pairsPerChunk, so the int16 lanes are exact):
 * planes P (1 or 2, the type's size) at w, `planes` · 16 bytes per pair; adds into acc
 * (int32, [plane][16 channels]).
 */
// @ts-ignore: decorator
@inline function tileChunk<P>(tables: usize, w: usize, count: i32, acc: usize): void {
  const planes = <i32>sizeof<P>();
  const nibble = i8x16.splat(15);
  let a = i16x8.splat(0), b = a, c = a, d = a;
  let t = tables;
  let wp = w;
  const end = tables + (<usize>count << 6);
  while (t < end) {
    const lo0 = v128.load(t), hi0 = v128.load(t, 16), lo1 = v128.load(t, 32), hi1 = v128.load(t, 48);
    // low nibbles index the tables of group 2gp, high nibbles those of 2gp + 1 (a 16-bit shift
    // then the nibble mask: the bits shifted in from the next byte are masked off)
    const v = v128.load(wp);
    const n0 = v128.and(v, nibble), n1 = v128.and(i16x8.shr_u(v, 4), nibble);
    const l0 = i8x16.swizzle(lo0, n0), h0 = i8x16.swizzle(hi0, n0);
    const l1 = i8x16.swizzle(lo1, n1), h1 = i8x16.swizzle(hi1, n1);
    a = i16x8.add(a, i16x8.add(lowChannels(l0, h0), lowChannels(l1, h1)));
    b = i16x8.add(b, i16x8.add(highChannels(l0, h0), highChannels(l1, h1)));
    if (planes == 2) {
      const u = v128.load(wp, 16);
      const m0 = v128.and(u, nibble), m1 = v128.and(i16x8.shr_u(u, 4), nibble);
      const k0 = i8x16.swizzle(lo0, m0), j0 = i8x16.swizzle(hi0, m0);
      const k1 = i8x16.swizzle(lo1, m1), j1 = i8x16.swizzle(hi1, m1);
      c = i16x8.add(c, i16x8.add(lowChannels(k0, j0), lowChannels(k1, j1)));
      d = i16x8.add(d, i16x8.add(highChannels(k0, j0), highChannels(k1, j1)));
    }
    t += 64;
    wp += <usize>(planes * TILE);
  }
  widenInto(acc, a, b);
  if (planes == 2) widenInto(acc + 64, c, d);
}

// @ts-ignore: decorator
@inline function gemvTablesImpl<P>(
  tables: usize, pairStart: i32, pairCount: i32, pairs: i32, w: usize, tiles: i32, pairsPerChunk: i32,
  planeWeights: usize, sums: usize, acc: usize,
): void {
  const planes = <i32>sizeof<P>();
  for (let tile = 0; tile < tiles; tile++) {
    memory.fill(acc, 0, <usize>(planes * TILE * 4));
    const wt = w + <usize>((tile * pairs + pairStart) * planes * TILE);
    for (let p0 = 0; p0 < pairCount; p0 += pairsPerChunk) {
      tileChunk<P>(tables + (<usize>p0 << 6), wt + <usize>(p0 * planes * TILE), min(pairsPerChunk, pairCount - p0), acc);
    }
    const pw = planeWeights + (<usize>(tile * TILE * planes) << 2);
    const out = sums + (<usize>(tile * TILE) << 3);
    for (let j = 0; j < TILE; j++) {
      let s = <i64>load<i32>(pw + (<usize>(j * planes) << 2)) * <i64>load<i32>(acc + (<usize>j << 2));
      if (planes == 2) {
        s += <i64>load<i32>(pw + (<usize>(j * planes + 1) << 2)) * <i64>load<i32>(acc + (<usize>(TILE + j) << 2));
      }
      store<f64>(out + (<usize>j << 3), load<f64>(out + (<usize>j << 3)) + <f64>s);
    }
  }
}

/**
 * One row against every tile of 1 or 2 planes, over the group pairs [pairStart, pairStart +
 * pairCount) whose tables are at `tables` (of `pairs` in all): per channel c,
 * sums[c] += Σ_i planeWeights[c][i] · Σ_{k ∈ P_i} a_k (float64, exact).
 * planeWeights: int32 [channel][planes], the signed plane weights σ_i 2^(t_c-1-i);
 * acc: 128 bytes of scratch (int32 per plane and channel of a tile).
 */
export function gemvTables(
  tables: usize, pairStart: i32, pairCount: i32, pairs: i32, w: usize, tiles: i32, planes: i32, pairsPerChunk: i32,
  planeWeights: usize, sums: usize, acc: usize,
): void {
  if (planes == 1) gemvTablesImpl<u8>(tables, pairStart, pairCount, pairs, w, tiles, pairsPerChunk, planeWeights, sums, acc);
  else gemvTablesImpl<u16>(tables, pairStart, pairCount, pairs, w, tiles, pairsPerChunk, planeWeights, sums, acc);
}
