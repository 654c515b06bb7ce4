/**
 * GPTQ rounding (Frantar et al., 2022, "GPTQ: accurate post-training quantization for generative
 * pre-trained transformers") on pbq's weight grid, one output channel at a time.
 *
 * A channel is a column w ∈ R^K of the [K, N] kernel. Its quantization error δ = w − ŵ costs
 * E[(x·δ)²] = δᵀ H δ at the layer's output, with H = E[x xᵀ] from the calibration pass (or
 * Cov[x] = E[x xᵀ] − E[x]E[x]ᵀ when the bias absorbs the mean shift, see quant_math.ts). Nearest
 * rounding ignores the off-diagonal terms of H; GPTQ rounds the inputs one after the other and
 * after each one moves the weights not yet rounded so as to cancel the error made so far
 * (optimal brain surgeon, eq. 3 of the paper, in its Cholesky form, eq. 4 / Algorithm 1):
 *
 *   H⁻¹ = Uᵀ U  (U upper triangular, in processing order),
 *   for i = 0 … K−1:   ŵ_i = Q(w_i),   e_i = (w_i − ŵ_i) / U_ii,   w_j ← w_j − e_i U_ij  (j > i).
 *
 * Q is pbq's nearest level on the channel's own grid (range m, b bits, src/quantize.ts):
 * q = clamp(floor(w·2^(b−1)/m)), ŵ = m(2q+1)/2^b, so the stored format is unchanged: GPTQ only
 * chooses which code each weight gets. With δ = w − ŵ for the original w, δ = Uᵀe, so the
 * objective is exactly δᵀHδ = eᵀ U H Uᵀ e = Σ e_i² (the `loss` returned; tested).
 *
 * Details (documented in src/converter/README.md):
 * - Dampening: H + λ·mean(diag H)·I (λ = 0.01 by default, the paper's choice) keeps the
 *   factorization stable when inputs are (nearly) collinear; λ is multiplied by 10 until the
 *   Cholesky factorization succeeds.
 * - Dead inputs (E[x_k²] = 0 on the calibration data, e.g. MNIST's border pixels, or a
 *   constant input when centered): H_kk is set to 1 with no coupling, so such a weight is
 *   rounded to nearest and neither receives nor passes on updates.
 * - Order: 'act' (act-order, the paper's `desc_act`) rounds inputs by decreasing H_kk first, so
 *   the loud inputs are rounded while many weights are still free to compensate; 'natural'
 *   rounds k = 0 … K−1. pbq's ranges are per channel (no groups), so the order changes nothing
 *   in the stored format.
 * - Only the diagonal of E[x xᵀ] is kept for K > 2048 (calibration.ts); with a diagonal H the
 *   updates vanish (U is diagonal) and GPTQ *is* nearest rounding (tested), so such tensors
 *   are rounded to nearest and reported as such.
 */
import type { InputStats } from './quant_math';

export type GptqOrder = 'act' | 'natural';
export const GPTQ_ORDERS: readonly GptqOrder[] = ['act', 'natural'];

export interface GptqSettings {
  /**
   * λ: the dampening added to the diagonal, as a fraction of mean(diag H); 'auto' picks it per
   * tensor from DAMPENING_GRID by cross-validation over the calibration samples.
   */
  dampening: number | 'auto';
  order: GptqOrder;
}

export const DEFAULT_GPTQ: Readonly<GptqSettings> = Object.freeze({ dampening: 'auto' as const, order: 'act' as GptqOrder });
/** The candidates of dampening 'auto'; 0.01 (the paper's value) when there is nothing to validate on. */
export const DAMPENING_GRID: readonly number[] = [0.01, 0.03, 0.1, 0.3, 1];
export const FALLBACK_DAMPENING = 0.01;

/** What GPTQ needs of one H: the processing order and the upper Cholesky factor of H⁻¹. */
export interface GptqFactor {
  k: number;
  /** order[i] is the input index rounded i-th. */
  order: Int32Array;
  /** U, K×K row-major in processing order (row i, column j refer to inputs order[i], order[j]). */
  u: Float64Array;
  /** 1 for a dead input (no energy on the calibration data). */
  dead: Uint8Array;
  /** The dampening λ used (after any retries) and the diagonal it added, λ·mean(diag H). */
  dampening: number;
  added: number;
}

/**
 * H for GPTQ from the calibration statistics: E[x xᵀ], or Cov[x] when `centered`; null when only
 * the diagonal was kept (K > 2048).
 */
export function hessianOf(stats: InputStats, centered: boolean): Float64Array | null {
  if (stats.second === null) return null;
  const K = stats.k;
  const H = Float64Array.from(stats.second);
  if (centered) {
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) H[i * K + j] -= stats.mean[i] * stats.mean[j];
  }
  return H;
}

/**
 * In-place lower Cholesky factor of a symmetric K×K matrix (row-major): A = L Lᵀ, L written into
 * the lower triangle (the upper triangle is zeroed). Returns false when A is not positive definite.
 */
export function choleskyLower(A: Float64Array, K: number): boolean {
  for (let j = 0; j < K; j++) {
    const rj = j * K;
    let d = A[rj + j];
    for (let p = 0; p < j; p++) d -= A[rj + p] * A[rj + p];
    if (!(d > 0) || !Number.isFinite(d)) return false;
    const ljj = Math.sqrt(d);
    A[rj + j] = ljj;
    for (let i = j + 1; i < K; i++) {
      const ri = i * K;
      let s = A[ri + j];
      for (let p = 0; p < j; p++) s -= A[ri + p] * A[rj + p];
      A[ri + j] = s / ljj;
    }
    for (let i = 0; i < j; i++) A[i * K + j] = 0;
  }
  return true;
}

/**
 * Inverse X of an upper triangular K×K matrix R (row-major), upper triangular: rows from the
 * bottom up, X_ij = −(Σ_{i<p≤j} R_ip X_pj) / R_ii for j > i, X_ii = 1/R_ii (rows of X read
 * contiguously).
 */
export function invertUpper(R: Float64Array, K: number): Float64Array {
  const X = new Float64Array(K * K);
  const acc = new Float64Array(K);
  for (let i = K - 1; i >= 0; i--) {
    acc.fill(0);
    for (let p = i + 1; p < K; p++) {
      const r = R[i * K + p];
      if (r === 0) continue;
      const row = p * K;
      for (let j = p; j < K; j++) acc[j] += r * X[row + j];
    }
    const inv = 1 / R[i * K + i];
    X[i * K + i] = inv;
    for (let j = i + 1; j < K; j++) X[i * K + j] = -acc[j] * inv;
  }
  return X;
}

/**
 * U upper triangular with H⁻¹ = UᵀU. With J the reversal permutation, chol(J H J) = M gives
 * H = R Rᵀ, R = J M J upper triangular, so H⁻¹ = R⁻ᵀ R⁻¹ and U = R⁻¹ (one factorization and one
 * triangular inverse; no explicit H⁻¹). Returns null when H is not positive definite.
 */
export function upperCholeskyOfInverse(H: Float64Array, K: number): Float64Array | null {
  const M = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) M[i * K + j] = H[(K - 1 - i) * K + (K - 1 - j)];
  if (!choleskyLower(M, K)) return null;
  const R = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) R[i * K + j] = M[(K - 1 - i) * K + (K - 1 - j)];
  return invertUpper(R, K);
}

/** Prepares H (K×K, not modified) for GPTQ: dead inputs, dampening λ, order, factorization. */
export function gptqFactor(H: Float64Array, K: number, dampening: number, order: GptqOrder): GptqFactor {
  if (!(dampening >= 0) || !Number.isFinite(dampening)) throw new Error(`GPTQ dampening must be a finite number >= 0, got ${dampening}`);
  let maxDiag = 0;
  for (let k = 0; k < K; k++) maxDiag = Math.max(maxDiag, H[k * K + k]);
  const dead = new Uint8Array(K);
  let liveSum = 0;
  let live = 0;
  for (let k = 0; k < K; k++) {
    // A relative threshold: a constant input's variance is a rounding residue, not exactly 0.
    if (!(H[k * K + k] > 1e-12 * maxDiag)) dead[k] = 1;
    else {
      liveSum += H[k * K + k];
      live++;
    }
  }
  const perm = Int32Array.from({ length: K }, (_, k) => k);
  if (order === 'act') {
    // Decreasing H_kk; dead inputs last; ties keep the natural order.
    const key = (k: number) => (dead[k] ? -1 : H[k * K + k]);
    perm.sort((a, b) => key(b) - key(a) || a - b);
  }
  const meanDiag = live > 0 ? liveSum / live : 1;
  let lambda = dampening;
  for (let attempt = 0; attempt < 8; attempt++) {
    const added = lambda * meanDiag;
    const P = new Float64Array(K * K);
    for (let i = 0; i < K; i++) {
      const oi = perm[i];
      if (dead[oi]) {
        P[i * K + i] = 1 + added;
        continue;
      }
      for (let j = 0; j < K; j++) {
        const oj = perm[j];
        if (!dead[oj]) P[i * K + j] = H[oi * K + oj];
      }
      P[i * K + i] += added;
    }
    const u = upperCholeskyOfInverse(P, K);
    if (u !== null) return { k: K, order: perm, u, dead, dampening: lambda, added };
    lambda = lambda > 0 ? lambda * 10 : 1e-6;
  }
  throw new Error('GPTQ: the calibration second moment is not positive definite even with dampening');
}

/** Nearest level of w on the grid of range m (already float32), b bits: pbq's quantValue. */
function nearest(w: number, m: number, half: number): number {
  if (m === 0) return 0;
  const q = Math.min(Math.max(Math.floor((w / m) * half), -half), half - 1);
  return (m * (2 * q + 1)) / (2 * half);
}

export interface GptqChannel {
  /** The chosen grid values ŵ (exact level centres, so src/quantize.ts recovers the codes). */
  values: Float64Array;
  /** Σ e_i² = δᵀ H_damped δ: the objective GPTQ minimizes. */
  loss: number;
  /**
   * δᵀ H δ with the undamped H (dead inputs contributing 0): the output error on the
   * calibration data, = loss − Σ_dead δ² − λ·mean(diag H)·Σ δ².
   */
  error: number;
}

/**
 * GPTQ of one channel `col` (length K, input order) on the grid of range m, b bits. `m` is
 * rounded to float32 as pbq stores it.
 */
export function gptqChannel(col: ArrayLike<number>, m: number, bits: number, f: GptqFactor): GptqChannel {
  const K = f.k;
  const range = Math.fround(m);
  const half = 2 ** (bits - 1);
  const w = new Float64Array(K);
  for (let i = 0; i < K; i++) w[i] = col[f.order[i]];
  const values = new Float64Array(K);
  const U = f.u;
  let loss = 0;
  for (let i = 0; i < K; i++) {
    const row = i * K;
    const q = nearest(w[i], range, half);
    values[f.order[i]] = q;
    const e = (w[i] - q) / U[row + i];
    loss += e * e;
    if (e === 0) continue;
    for (let j = i + 1; j < K; j++) w[j] -= e * U[row + j];
  }
  let deadErr = 0;
  let all = 0;
  for (let k = 0; k < K; k++) {
    const d = col[k] - values[k];
    all += d * d;
    if (f.dead[k]) deadErr += d * d;
  }
  return { values, loss, error: Math.max(0, loss - deadErr - f.added * all) };
}

/** A channel to validate the dampening on: its weights, range and bits. */
export interface ValidationChannel {
  col: ArrayLike<number>;
  m: number;
  bits: number;
}

/**
 * The dampening from `grid` with the least held-out output error: GPTQ with H of one fold, the
 * error δᵀH'δ measured with the other fold's H' (and the other way round), summed over
 * `channels`. With few calibration rows for K inputs (MNIST: 256 images, K = 784), H of the
 * samples is rank-deficient and GPTQ with a small λ hides its error in directions the samples
 * do not cover; a larger λ pulls towards nearest rounding there. With many rows (the LMs: 16k
 * rows, K ≤ 256) a small λ wins.
 */
export function crossValidatedDampening(
  folds: [InputStats, InputStats], centered: boolean, channels: ValidationChannel[], order: GptqOrder,
  grid: readonly number[] = DAMPENING_GRID,
): { dampening: number; heldOutError: number[] } {
  const hessians = folds.map((f) => hessianOf(f, centered));
  if (hessians.some((h) => h === null)) throw new Error('cross-validation needs full second moments');
  const K = folds[0].k;
  const heldOutError = grid.map((lambda) => {
    let total = 0;
    for (let f = 0; f < 2; f++) {
      const factor = gptqFactor(hessians[f] as Float64Array, K, lambda, order);
      const other = hessians[1 - f] as Float64Array;
      for (const ch of channels) {
        const { values } = gptqChannel(ch.col, ch.m, ch.bits, factor);
        total += quadFormDense(other, K, Float64Array.from(values, (v, k) => ch.col[k] - v));
      }
    }
    return total;
  });
  let best = 0;
  for (let i = 1; i < grid.length; i++) if (heldOutError[i] < heldOutError[best]) best = i;
  return { dampening: grid[best], heldOutError };
}

/** δᵀ H δ for a dense symmetric K×K H. */
function quadFormDense(H: Float64Array, K: number, d: Float64Array): number {
  let total = 0;
  for (let i = 0; i < K; i++) {
    if (d[i] === 0) continue;
    let row = 0;
    const base = i * K;
    for (let j = 0; j < K; j++) row += H[base + j] * d[j];
    total += d[i] * row;
  }
  return total;
}

export type Rounding = 'nearest' | 'gptq';
export const ROUNDINGS: readonly Rounding[] = ['nearest', 'gptq'];

/** GPTQ for the channels that share one H (one factorization, made once). */
export class GptqGroup {
  readonly factor: GptqFactor;

  constructor(stats: InputStats, centered: boolean, dampening: number, order: GptqOrder) {
    const H = hessianOf(stats, centered);
    if (H === null) throw new Error('GPTQ needs the full second moment E[x xᵀ]');
    this.factor = gptqFactor(H, stats.k, dampening, order);
  }

  round(col: ArrayLike<number>, m: number, bits: number): GptqChannel {
    return gptqChannel(col, m, bits, this.factor);
  }
}
