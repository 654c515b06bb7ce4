/**
 * Range selection and error measures for the converter, on pbq's weight grid (src/quantize.ts):
 *   q = clamp(floor(w · 2^(b-1) / m), -2^(b-1), 2^(b-1) - 1),  ŵ = m · (2q + 1) / 2^b.
 * Weights are a row-major [K, N] matrix (tfjs-layers kernel layout); channel n is column n.
 */
/** 'mse': output error on calibration data when there is some, else weight error; 'weight-mse': always weight error. */
export type RangeMode = 'mse' | 'weight-mse' | 'minmax' | 'minmax-tensor';
export const RANGE_MODES: readonly RangeMode[] = ['mse', 'weight-mse', 'minmax', 'minmax-tensor'];

/** The dequantized value of w on the b-bit grid of range m (m is rounded to float32 as pbq stores it). */
export function quantValue(w: number, m: number, bits: number): number {
  if (m === 0) return 0;
  const half = 2 ** (bits - 1);
  const q = Math.min(Math.max(Math.floor((w / m) * half), -half), half - 1);
  return (m * (2 * q + 1)) / (2 * half);
}

/** Column n of a row-major [K, N] matrix. */
export function column(values: ArrayLike<number>, K: number, N: number, n: number): Float64Array {
  const col = new Float64Array(K);
  for (let k = 0; k < K; k++) col[k] = values[k * N + n];
  return col;
}

export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** Squared error Σ (w - ŵ)² of a channel at range m and b bits. */
export function channelSquaredError(col: ArrayLike<number>, m: number, bits: number): number {
  if (m === 0) {
    let e = 0;
    for (let k = 0; k < col.length; k++) e += col[k] * col[k];
    return e;
  }
  const half = 2 ** (bits - 1);
  const lo = -half;
  const hi = half - 1;
  const step = m / half;
  let e = 0;
  for (let k = 0; k < col.length; k++) {
    const w = col[k];
    let q = Math.floor((w / m) * half);
    q = q < lo ? lo : q > hi ? hi : q;
    const d = w - step * (q + 0.5);
    e += d * d;
  }
  return e;
}

/** The error a channel's range m costs at `bits` (lower is better). */
export type RangeObjective = (m: number) => number;

/**
 * The range m (float32) minimizing `error` over clipping ratios r of max|w| = `top`: coarse
 * (r = 1.00, 0.95, …, 0.20) then refined (step 0.01) around the best coarse ratio (ties keep
 * the larger range).
 */
export function searchRange(top: number, error: RangeObjective): number {
  if (top === 0) return 0;
  let bestRatio = 1;
  let bestErr = Infinity;
  const tryRatio = (r: number) => {
    const m = Math.fround(top * r);
    if (!(m > 0) || r > 1 || r < 0.2 - 1e-9) return;
    const e = error(m);
    if (e < bestErr) {
      bestErr = e;
      bestRatio = r;
    }
  };
  for (let i = 0; i <= 16; i++) tryRatio(1 - i * 0.05);
  const center = bestRatio;
  for (let i = -4; i <= 4; i++) if (i !== 0) tryRatio(Math.round((center + i * 0.01) * 100) / 100);
  return Math.fround(top * bestRatio);
}

/** The range minimizing the channel's weight quantization error Σ (w - ŵ)². */
export function mseRange(col: ArrayLike<number>, bits: number): number {
  return searchRange(maxAbs(col), (m) => channelSquaredError(col, m, bits));
}

/**
 * The range minimizing the mean squared error the channel's quantization causes at the layer's
 * output on the calibration inputs x: E[(x·δ)²] = δᵀ E[x xᵀ] δ, δ = w - ŵ(m). With bias
 * correction the mean shift E[x]·δ is absorbed by the bias, so the error left is the variance
 * δᵀ Cov[x] δ = δᵀ E[x xᵀ] δ - (E[x]·δ)². Unlike the weight MSE this ignores weights on inputs
 * that are always zero (MNIST's border pixels) and weighs each weight by its input's energy.
 */
export function outputMseRange(col: ArrayLike<number>, bits: number, stats: InputStats, centered: boolean): number {
  return searchRange(maxAbs(col), (m) => outputError(stats, channelDelta(col, m, bits), centered));
}

/** E[(x·δ)²], or its variance part when `centered` (the bias absorbs the mean). */
export function outputError(stats: InputStats, d: ArrayLike<number>, centered: boolean): number {
  const total = quadForm(stats, d);
  if (!centered) return total;
  let shift = 0;
  for (let k = 0; k < stats.k; k++) shift += stats.mean[k] * d[k];
  return total - shift * shift;
}

/**
 * Range of one channel under `mode` (tensorMax = max|W| over the whole tensor). 'mse' measures
 * the error at the layer's output when calibration statistics are given, else on the weights.
 */
export function chooseRange(
  col: ArrayLike<number>, bits: number, mode: RangeMode, tensorMax: number,
  stats?: InputStats, centered = false,
): number {
  if (mode === 'minmax') return Math.fround(maxAbs(col));
  if (mode === 'minmax-tensor') return Math.fround(tensorMax);
  if (mode === 'mse' && stats !== undefined) return outputMseRange(col, bits, stats, centered);
  return mseRange(col, bits);
}

/** δ = w - ŵ of a channel. */
export function channelDelta(col: ArrayLike<number>, m: number, bits: number): Float64Array {
  const d = new Float64Array(col.length);
  for (let k = 0; k < col.length; k++) d[k] = col[k] - quantValue(col[k], m, bits);
  return d;
}

/**
 * Second-order statistics of the inputs x (rows) of a matmul: mean E[x] and second moment
 * E[x xᵀ] (K×K, row-major; or only its diagonal when K is large).
 */
export interface InputStats {
  k: number;
  count: number;
  mean: Float64Array;
  /** E[x xᵀ], K×K row-major, or null when only the diagonal is kept. */
  second: Float64Array | null;
  /** diag E[x xᵀ]. */
  diag: Float64Array;
  /**
   * The same statistics of the first and the second half of the calibration samples (full
   * second moments only), for cross-validation (GPTQ's dampening).
   */
  folds?: [InputStats, InputStats];
}

/** E[(x·δ)²] = δᵀ E[x xᵀ] δ: the mean squared output error a weight error δ causes. */
export function quadForm(stats: InputStats, d: ArrayLike<number>): number {
  const K = stats.k;
  if (stats.second === null) {
    let s = 0;
    for (let k = 0; k < K; k++) s += stats.diag[k] * d[k] * d[k];
    return s;
  }
  // S is symmetric: δᵀSδ = Σ_i δ_i (S_ii δ_i + 2 Σ_{j>i} S_ij δ_j), half the products.
  const S = stats.second;
  let total = 0;
  for (let i = 0; i < K; i++) {
    const di = d[i];
    if (di === 0) continue;
    const base = i * K;
    let row = 0;
    for (let j = i + 1; j < K; j++) row += S[base + j] * d[j];
    total += di * (S[base + i] * di + 2 * row);
  }
  return total;
}

export function toDb(ratio: number): number {
  if (!(ratio > 0)) return ratio === 0 ? -Infinity : NaN;
  return 10 * Math.log10(ratio);
}
