/**
 * Per-row activation quantization, bit for bit as `quantizeActivations` in src/quantize.ts:
 *   E = floor(log2 max_k |x_k|) from the float32 exponent field,
 *   a = clamp(floor(f32(f32(f32(x · 2^-(E>>1)) · 2^(A-1-E+(E>>1))) + 0.5)), ±(2^A - 1)).
 * WebAssembly f32 arithmetic is IEEE single precision with round-to-nearest-even and no flush
 * of subnormals, i.e. exactly what Math.fround of each double product/sum gives (the double
 * results here are exact or, for the +0.5, double rounding is innocuous: 53 ≥ 2·24 + 2).
 *
 * Output per input row r: `digits` int16 rows of KP codes (zero padded past K) and the meta
 * record {step: f64, codeSum T: f64} at meta + 16 r. digits = 1 stores a; digits = 2 stores the
 * base-256 digits h = a >> 8 (row 2r) and l = a & 255 (row 2r + 1), a = 256 h + l, for codes or
 * products that do not fit the int16 / int32 lanes of the one-digit path.
 * Rows with NaN/Inf get step NaN, rows with max |x| < 2^-100 step 0 (codes zero, T = 0).
 */

const MIN_ROW_EXPONENT: i32 = -100;

// @ts-ignore: decorator
@inline function pow2f(e: i32): f32 {
  return reinterpret<f32>((127 + e) << 23); // e in [-126, 127]
}

// @ts-ignore: decorator
@inline function pow2(e: i32): f64 {
  return reinterpret<f64>(<i64>(1023 + e) << 52);
}

/** max_k |x_k| of one row; NaN when any value is NaN (f32.max propagates NaN). */
function rowMax(row: usize, k: i32, colStride: i32): f32 {
  let m: f32 = 0;
  let i = 0;
  if (colStride == 1) {
    let acc = f32x4.splat(0);
    for (; i + 4 <= k; i += 4) acc = f32x4.max(acc, f32x4.abs(v128.load(row + (<usize>i << 2))));
    m = max(max(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1)),
      max(f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3)));
  }
  for (; i < k; i++) m = max(m, abs(load<f32>(row + (<usize>i * colStride << 2))));
  return m;
}

// @ts-ignore: decorator
@inline function scalarCode(x: f32, f1: f32, f2: f32, limit: i32): i32 {
  const c = <i32>Mathf.floor(x * f1 * f2 + 0.5);
  return min(max(c, -limit), limit);
}

/** Codes of four contiguous values: the same operations lane-wise. */
// @ts-ignore: decorator
@inline function vectorCodes(x: v128, f1: v128, f2: v128, limit: v128): v128 {
  const scaled = f32x4.mul(f32x4.mul(x, f1), f2);
  const c = i32x4.trunc_sat_f32x4_s(f32x4.floor(f32x4.add(scaled, f32x4.splat(0.5))));
  return i32x4.min_s(i32x4.max_s(c, i32x4.neg(limit)), limit);
}

/** Stores one code (digits 1: at dst; digits 2: high digit at dst, low at dst + rowBytes). */
// @ts-ignore: decorator
@inline function storeCode(dst: usize, rowBytes: usize, digits: i32, c: i32): void {
  if (digits == 1) {
    store<i16>(dst, <i16>c);
  } else {
    store<i16>(dst, <i16>(c >> 8));
    store<i16>(dst + rowBytes, <i16>(c & 255));
  }
}

export function quantizeRows(
  src: usize, rows: i32, k: i32, rowStride: i32, colStride: i32, bits: i32, digits: i32,
  codes: usize, kp: i32, meta: usize,
): void {
  const rowBytes = <usize>kp << 1;
  const limit = (1 << bits) - 1;
  for (let r = 0; r < rows; r++) {
    const row = src + (<usize>r * rowStride << 2);
    const dst = codes + <usize>r * digits * rowBytes;
    const m = rowMax(row, k, colStride);
    const E = (<i32>(reinterpret<u32>(m) >>> 23) & 0xff) - 127;
    const finite = m - m == 0; // false for NaN and ±Inf
    if (!finite || m == 0 || E < MIN_ROW_EXPONENT) {
      memory.fill(dst, 0, rowBytes * digits);
      store<f64>(meta + (<usize>r << 4), finite ? 0 : NaN);
      store<f64>(meta + (<usize>r << 4), 0, 8);
      continue;
    }
    const half = E >> 1;
    const f1 = pow2f(-half);
    const f2 = pow2f(bits - 1 - E + half);
    let sum: i64 = 0;
    let i = 0;
    if (colStride == 1) {
      const vf1 = f32x4.splat(f1);
      const vf2 = f32x4.splat(f2);
      const vlimit = i32x4.splat(limit);
      while (i + 8 <= k) {
        // lanes hold at most 2·4096 codes of |a| ≤ 2^16 - 1 between flushes: < 2^30
        const end = min(k & ~7, i + 8 * 4096);
        let lanes = i32x4.splat(0);
        for (; i < end; i += 8) {
          const x = row + (<usize>i << 2);
          const c0 = vectorCodes(v128.load(x), vf1, vf2, vlimit);
          const c1 = vectorCodes(v128.load(x, 16), vf1, vf2, vlimit);
          lanes = i32x4.add(lanes, i32x4.add(c0, c1));
          const at = dst + (<usize>i << 1);
          if (digits == 1) {
            v128.store(at, i16x8.narrow_i32x4_s(c0, c1));
          } else {
            v128.store(at, i16x8.narrow_i32x4_s(i32x4.shr_s(c0, 8), i32x4.shr_s(c1, 8)));
            const low = i32x4.splat(255);
            v128.store(at + rowBytes, i16x8.narrow_i32x4_s(v128.and(c0, low), v128.and(c1, low)));
          }
        }
        sum += <i64>i32x4.extract_lane(lanes, 0) + <i64>i32x4.extract_lane(lanes, 1) +
          <i64>i32x4.extract_lane(lanes, 2) + <i64>i32x4.extract_lane(lanes, 3);
      }
    }
    for (; i < k; i++) {
      const c = scalarCode(load<f32>(row + (<usize>i * colStride << 2)), f1, f2, limit);
      sum += c;
      storeCode(dst + (<usize>i << 1), rowBytes, digits, c);
    }
    for (let d = 0; d < digits; d++) {
      memory.fill(dst + <usize>d * rowBytes + (<usize>k << 1), 0, <usize>(kp - k) << 1);
    }
    store<f64>(meta + (<usize>r << 4), pow2(E - (bits - 1)));
    store<f64>(meta + (<usize>r << 4), <f64>sum, 8);
  }
}
