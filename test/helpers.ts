/** Small deterministic helpers shared by the Node tests. */
import { mulberry32 } from '../models/data/mnist';

/** Seeded PRNG (mulberry32, shared with the training scripts): every random case is reproducible. */
export { mulberry32 as rng } from '../models/data/mnist';

/** Float32 values, uniform in [-scale, scale). */
export function randomValues(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** Plain float64 matmul of row-major [M,K] × [K,N]. */
export function naiveMatMul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      out[i * n + j] = s;
    }
  }
  return out;
}
