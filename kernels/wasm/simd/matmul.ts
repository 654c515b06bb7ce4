/**
 * Exact integer products Σ_k q_kn · a_rk of int16 activation codes and packed weight codes
 * (layout.ts), with `i32x4.dot_i16x8_s` (two products per int32 lane), then the output
 * y = f32((step_r · m_n 2^-t_n) · d_rn) with d = 2 Σ q a + T (src/quantize.ts, u = 2q + 1).
 *
 * Exactness: every lane receives 8 products per block of 32 codes, each at most qmax · amax in
 * magnitude, so a lane holds the sum of `chunk` blocks exactly when 8 · chunk · qmax · amax
 * < 2^31; the caller chooses chunk so (kernels/wasm/plan.ts). Chunk sums are reduced into int64
 * and added up in float64, exact below 2^53.
 *
 * sums: [digit row][NP] float64, NP = channels rounded up to GROUP.
 */
import { GROUP, blockBytes } from './layout';

/**
 * The packed format as a type parameter, so that every kernel is compiled once per format with
 * its branches resolved at compile time (Int4 = u8, Int8 = i8, Int16 = i16; only the type's
 * size and signedness are used).
 */
type Int4 = u8;
type Int8 = i8;
type Int16 = i16;

// @ts-ignore: decorator
@inline function formatOf<T>(): i32 {
  return sizeof<T>() == 2 ? 16 : isSigned<T>() ? 8 : 4;
}

/** 64 bytes of int16 activation codes per block of 32. */
const CODE_BLOCK_BYTES: usize = 64;

// @ts-ignore: decorator
@inline function laneSum(v: v128): i64 {
  return <i64>i32x4.extract_lane(v, 0) + <i64>i32x4.extract_lane(v, 1) +
    <i64>i32x4.extract_lane(v, 2) + <i64>i32x4.extract_lane(v, 3);
}

/**
 * Vector s (codes k = 8s..8s+7 of a block) as int16 lanes, from the block's 16-byte vectors
 * v0..v3 (only v0 is read for format 4, v0 and v1 for format 8).
 */
// @ts-ignore: decorator
@inline function weightVector<T>(v0: v128, v1: v128, v2: v128, v3: v128, s: i32): v128 {
  const format = formatOf<T>();
  if (format == 4) {
    if (s == 0) return i16x8.shr_s(i16x8.shl(v0, 12), 12);
    if (s == 1) return i16x8.shr_s(i16x8.shl(v0, 8), 12);
    if (s == 2) return i16x8.shr_s(i16x8.shl(v0, 4), 12);
    return i16x8.shr_s(v0, 12);
  }
  if (format == 8) {
    if (s == 0) return i16x8.extend_low_i8x16_s(v0);
    if (s == 1) return i16x8.extend_high_i8x16_s(v0);
    if (s == 2) return i16x8.extend_low_i8x16_s(v1);
    return i16x8.extend_high_i8x16_s(v1);
  }
  return s == 0 ? v0 : s == 1 ? v1 : s == 2 ? v2 : v3;
}

/** The 16-byte vector i of a packed block, or zero past its size (never read then). */
// @ts-ignore: decorator
@inline function blockVector<T>(w: usize, i: i32): v128 {
  const format = formatOf<T>();
  if (i == 0) return v128.load(w);
  if (i == 1) return format >= 8 ? v128.load(w, 16) : i32x4.splat(0);
  if (i == 2) return format == 16 ? v128.load(w, 32) : i32x4.splat(0);
  return format == 16 ? v128.load(w, 48) : i32x4.splat(0);
}

/** acc + the 32-code dot product of one packed weight block with activations x0..x3. */
// @ts-ignore: decorator
@inline function dotBlock<T>(w: usize, x0: v128, x1: v128, x2: v128, x3: v128, acc: v128): v128 {
  const v0 = blockVector<T>(w, 0), v1 = blockVector<T>(w, 1);
  const v2 = blockVector<T>(w, 2), v3 = blockVector<T>(w, 3);
  const d01 = i32x4.add(i32x4.dot_i16x8_s(weightVector<T>(v0, v1, v2, v3, 0), x0),
    i32x4.dot_i16x8_s(weightVector<T>(v0, v1, v2, v3, 1), x1));
  const d23 = i32x4.add(i32x4.dot_i16x8_s(weightVector<T>(v0, v1, v2, v3, 2), x2),
    i32x4.dot_i16x8_s(weightVector<T>(v0, v1, v2, v3, 3), x3));
  return i32x4.add(acc, i32x4.add(d01, d23));
}

/**
 * One activation row against every channel group: weights are unpacked in registers and each
 * activation block is loaded once per group of four channels. Writes sums[0..NP).
 */
// @ts-ignore: decorator
function gemvImpl<T>(codes: usize, blocks: i32, w: usize, groups: i32, chunk: i32, sums: usize): void {
  const bytes = <usize>blockBytes(formatOf<T>());
  for (let g = 0; g < groups; g++) {
    const wg = w + <usize>g * blocks * GROUP * bytes;
    let t0: i64 = 0, t1: i64 = 0, t2: i64 = 0, t3: i64 = 0;
    for (let b0 = 0; b0 < blocks; b0 += chunk) {
      const b1 = min(blocks, b0 + chunk);
      let c0 = i32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
      for (let b = b0; b < b1; b++) {
        const x = codes + <usize>b * CODE_BLOCK_BYTES;
        const x0 = v128.load(x), x1 = v128.load(x, 16), x2 = v128.load(x, 32), x3 = v128.load(x, 48);
        const wb = wg + <usize>b * GROUP * bytes;
        c0 = dotBlock<T>(wb, x0, x1, x2, x3, c0);
        c1 = dotBlock<T>(wb + bytes, x0, x1, x2, x3, c1);
        c2 = dotBlock<T>(wb + 2 * bytes, x0, x1, x2, x3, c2);
        c3 = dotBlock<T>(wb + 3 * bytes, x0, x1, x2, x3, c3);
      }
      t0 += laneSum(c0); t1 += laneSum(c1); t2 += laneSum(c2); t3 += laneSum(c3);
    }
    const out = sums + (<usize>g * GROUP << 3);
    store<f64>(out, <f64>t0);
    store<f64>(out, <f64>t1, 8);
    store<f64>(out, <f64>t2, 16);
    store<f64>(out, <f64>t3, 24);
  }
}

export function gemv(format: i32, codes: usize, blocks: i32, w: usize, groups: i32, chunk: i32, sums: usize): void {
  if (format == 4) gemvImpl<Int4>(codes, blocks, w, groups, chunk, sums);
  else if (format == 8) gemvImpl<Int8>(codes, blocks, w, groups, chunk, sums);
  else gemvImpl<Int16>(codes, blocks, w, groups, chunk, sums);
}

/** Unpacks `count` blocks of one channel group to int16: scratch [block][channel][32 codes]. */
// @ts-ignore: decorator
@inline function unpackGroup<T>(w: usize, count: i32, scratch: usize): void {
  const bytes = <usize>blockBytes(formatOf<T>());
  for (let i = 0; i < count * GROUP; i++) {
    const src = w + <usize>i * bytes;
    const dst = scratch + <usize>i * CODE_BLOCK_BYTES;
    const v0 = blockVector<T>(src, 0), v1 = blockVector<T>(src, 1);
    const v2 = blockVector<T>(src, 2), v3 = blockVector<T>(src, 3);
    v128.store(dst, weightVector<T>(v0, v1, v2, v3, 0));
    v128.store(dst, weightVector<T>(v0, v1, v2, v3, 1), 16);
    v128.store(dst, weightVector<T>(v0, v1, v2, v3, 2), 32);
    v128.store(dst, weightVector<T>(v0, v1, v2, v3, 3), 48);
  }
}

// @ts-ignore: decorator
@inline function addSum(at: usize, v: v128): void {
  store<f64>(at, load<f64>(at) + <f64>laneSum(v));
}

/**
 * Four activation rows × two channels over `count` unpacked blocks: eight accumulators, every
 * weight vector loaded once for four rows and every activation vector once for two channels.
 */
function tile4x2(x: usize, rowBytes: usize, wj: usize, count: i32, sums: usize, np: i32): void {
  let c00 = i32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (let b = 0; b < count; b++) {
    const xb = x + <usize>b * CODE_BLOCK_BYTES;
    const wb = wj + <usize>b * GROUP * CODE_BLOCK_BYTES;
    for (let s: usize = 0; s < 64; s += 16) {
      const w0 = v128.load(wb + s), w1 = v128.load(wb + CODE_BLOCK_BYTES + s);
      const x0 = v128.load(xb + s), x1 = v128.load(xb + rowBytes + s);
      const x2 = v128.load(xb + 2 * rowBytes + s), x3 = v128.load(xb + 3 * rowBytes + s);
      c00 = i32x4.add(c00, i32x4.dot_i16x8_s(w0, x0)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(w1, x0));
      c10 = i32x4.add(c10, i32x4.dot_i16x8_s(w0, x1)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(w1, x1));
      c20 = i32x4.add(c20, i32x4.dot_i16x8_s(w0, x2)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(w1, x2));
      c30 = i32x4.add(c30, i32x4.dot_i16x8_s(w0, x3)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(w1, x3));
    }
  }
  const rowSums = <usize>np << 3;
  addSum(sums, c00); addSum(sums + 8, c01);
  addSum(sums + rowSums, c10); addSum(sums + rowSums + 8, c11);
  addSum(sums + 2 * rowSums, c20); addSum(sums + 2 * rowSums + 8, c21);
  addSum(sums + 3 * rowSums, c30); addSum(sums + 3 * rowSums + 8, c31);
}

/** One activation row × the four channels of a group over `count` unpacked blocks. */
function tile1x4(x: usize, w: usize, count: i32, sums: usize): void {
  let c0 = i32x4.splat(0), c1 = c0, c2 = c0, c3 = c0;
  for (let b = 0; b < count; b++) {
    const xb = x + <usize>b * CODE_BLOCK_BYTES;
    const wb = w + <usize>b * GROUP * CODE_BLOCK_BYTES;
    for (let s: usize = 0; s < 64; s += 16) {
      const xs = v128.load(xb + s);
      c0 = i32x4.add(c0, i32x4.dot_i16x8_s(v128.load(wb + s), xs));
      c1 = i32x4.add(c1, i32x4.dot_i16x8_s(v128.load(wb + 64 + s), xs));
      c2 = i32x4.add(c2, i32x4.dot_i16x8_s(v128.load(wb + 128 + s), xs));
      c3 = i32x4.add(c3, i32x4.dot_i16x8_s(v128.load(wb + 192 + s), xs));
    }
  }
  addSum(sums, c0); addSum(sums + 8, c1); addSum(sums + 16, c2); addSum(sums + 24, c3);
}

/**
 * `rows` activation rows against every channel group: per group and chunk of blocks the weights
 * are unpacked once into `scratch` (chunk · GROUP · 64 bytes) and read by every row tile, so each
 * packed weight block is read once per call. Accumulates into sums (zeroed here).
 */
// @ts-ignore: decorator
@inline function gemmImpl<T>(
  codes: usize, rows: i32, blocks: i32, w: usize, groups: i32, chunk: i32, scratch: usize, sums: usize,
): void {
  const bytes = <usize>blockBytes(formatOf<T>());
  const np = groups * GROUP;
  const rowBytes = <usize>blocks * CODE_BLOCK_BYTES;
  memory.fill(sums, 0, <usize>rows * np << 3);
  for (let g = 0; g < groups; g++) {
    const wg = w + <usize>g * blocks * GROUP * bytes;
    for (let b0 = 0; b0 < blocks; b0 += chunk) {
      const count = min(chunk, blocks - b0);
      unpackGroup<T>(wg + <usize>b0 * GROUP * bytes, count, scratch);
      const x0 = codes + <usize>b0 * CODE_BLOCK_BYTES;
      const s0 = sums + (<usize>g * GROUP << 3);
      let r = 0;
      for (; r + 4 <= rows; r += 4) {
        const x = x0 + <usize>r * rowBytes;
        const s = s0 + (<usize>r * np << 3);
        tile4x2(x, rowBytes, scratch, count, s, np);
        tile4x2(x, rowBytes, scratch + 2 * CODE_BLOCK_BYTES, count, s + 16, np);
      }
      for (; r < rows; r++) tile1x4(x0 + <usize>r * rowBytes, scratch, count, s0 + (<usize>r * np << 3));
    }
  }
}

export function gemm(
  format: i32, codes: usize, rows: i32, blocks: i32, w: usize, groups: i32, chunk: i32, scratch: usize, sums: usize,
): void {
  if (format == 4) gemmImpl<Int4>(codes, rows, blocks, w, groups, chunk, scratch, sums);
  else if (format == 8) gemmImpl<Int8>(codes, rows, blocks, w, groups, chunk, scratch, sums);
  else gemmImpl<Int16>(codes, rows, blocks, w, groups, chunk, scratch, sums);
}

/**
 * Outputs of `rows` activation rows against `channels` channels:
 *   S = Σ q a (digits 2: 256 S_high + S_low), d = 2 S + T, y = f32((step · factor_n) · d),
 * with zero rows (step 0) giving 0 and NaN rows NaN, as the TypeScript engine does. `factors`
 * holds m_n 2^-t_n (float64, exact). Writes d (float64) to `ints` when it is not 0. Output row r
 * starts `outStride` elements after row r-1 (channels, or the full width when a thread writes
 * its channel range of a wider output).
 */
export function finish(
  sums: usize, np: i32, rows: i32, channels: i32, digits: i32, meta: usize, factors: usize, out: usize, ints: usize,
  outStride: i32,
): void {
  for (let r = 0; r < rows; r++) {
    const step = load<f64>(meta + (<usize>r << 4));
    const codeSum = load<f64>(meta + (<usize>r << 4), 8);
    const s = sums + (<usize>r * digits * np << 3);
    const o = out + (<usize>r * outStride << 2);
    const d0 = ints + (<usize>r * outStride << 3);
    for (let n = 0; n < channels; n++) {
      const at = <usize>n << 3;
      const S = digits == 1 ? load<f64>(s + at) : 256 * load<f64>(s + at) + load<f64>(s + (<usize>np << 3) + at);
      const d = 2 * S + codeSum;
      store<f32>(o + (<usize>n << 2), step == 0 ? 0 : <f32>(step * load<f64>(factors + at) * d));
      if (ints) store<f64>(d0 + at, d);
    }
  }
}


