/**
 * Backend-agnostic evaluation of the bundled models on their committed held-back sets.
 * Runs on whatever tfjs backend is active, batch-wise, inside tf.tidy (no tensor leaks).
 *
 *   evaluateMnist(model, set)  -> top-1 accuracy in [0,1]
 *   evaluateLm(model, set)     -> perplexity (exp of mean next-token NLL, natural log)
 *
 * Eval-set files:
 *   models/mnist-mlp/eval.json        {n, labels: number[], imagesFile, ...}
 *   models/mnist-mlp/eval-images.u8   n*784 uint8 pixels (model input = pixel/255)
 *   models/<lm>/eval.json             {seqLen, ids: number[], vocab: string[], ...}
 */
import * as tf from '@tensorflow/tfjs-core';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import * as fs from 'fs';
import * as path from 'path';

export const MODELS_DIR = __dirname;

export interface MnistEvalSet { images: Uint8Array; labels: Uint8Array; n: number; }
export interface LmEvalSet {
  /** token ids; window k = ids[k*seqLen .. k*seqLen+seqLen] (seqLen inputs, seqLen targets) */
  ids: Int32Array;
  seqLen: number;
  vocab?: string[];
}

export function loadMnistEvalSet(dir = path.join(MODELS_DIR, 'mnist-mlp')): MnistEvalSet {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'eval.json'), 'utf8'));
  const buf = fs.readFileSync(path.join(dir, meta.imagesFile));
  const images = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (images.length !== meta.n * 784) throw new Error(`eval images: expected ${meta.n * 784} bytes, got ${images.length}`);
  return {images, labels: Uint8Array.from(meta.labels), n: meta.n};
}

export function loadLmEvalSet(dir: string): LmEvalSet {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'eval.json'), 'utf8'));
  return {ids: Int32Array.from(meta.ids), seqLen: meta.seqLen, vocab: meta.vocab};
}

/** Calibration inputs of a model dir as a float32 tensor-ready array + shape. */
export function loadCalibration(dir: string): {data: Float32Array, shape: number[]} {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'calibration.json'), 'utf8'));
  if (meta.imagesFile) {
    const buf = fs.readFileSync(path.join(dir, meta.imagesFile));
    const data = new Float32Array(buf.length);
    for (let i = 0; i < buf.length; i++) data[i] = buf[i] / 255;
    return {data, shape: [meta.n, 784]};
  }
  const rows: number[][] = meta.inputs;
  return {data: Float32Array.from(rows.flat()), shape: [rows.length, rows[0].length]};
}

export function makeLmEvalSet(ids: Int32Array, seqLen: number): LmEvalSet {
  return {ids: Int32Array.from(ids), seqLen};
}

/** Top-1 accuracy of `model` ([n,784] float in [0,1] -> [n,10]) on the set. */
export async function evaluateMnist(model: LayersModel, set: MnistEvalSet, batchSize = 500): Promise<number> {
  let correct = 0;
  for (let s = 0; s < set.n; s += batchSize) {
    const b = Math.min(batchSize, set.n - s);
    const pred = tf.tidy(() => {
      const x = tf.div(tf.tensor2d(set.images.subarray(s * 784, (s + b) * 784), [b, 784], 'int32'), 255);
      return tf.argMax(model.predict(x) as tf.Tensor, -1);
    });
    const p = await pred.data();
    pred.dispose();
    for (let i = 0; i < b; i++) if (p[i] === set.labels[s + i]) correct++;
  }
  return correct / set.n;
}

/**
 * Perplexity of a sequence model ([b,T] ids as float -> [b,T,V] softmax probabilities) on
 * the non-overlapping windows of the set (each window starts from zero state).
 */
export async function evaluateLm(model: LayersModel, set: LmEvalSet, batchSize = 128): Promise<number> {
  const T = set.seqLen;
  const nWin = Math.floor((set.ids.length - 1) / T);
  let nll = 0;
  for (let w0 = 0; w0 < nWin; w0 += batchSize) {
    const b = Math.min(batchSize, nWin - w0);
    const x = new Float32Array(b * T);
    const y = new Int32Array(b * T);
    for (let k = 0; k < b; k++) {
      const off = (w0 + k) * T;
      for (let t = 0; t < T; t++) { x[k * T + t] = set.ids[off + t]; y[k * T + t] = set.ids[off + t + 1]; }
    }
    const lp = tf.tidy(() => {
      const probs = model.predict(tf.tensor2d(x, [b, T])) as tf.Tensor;
      const V = probs.shape[probs.shape.length - 1];
      const p2 = tf.reshape(probs, [b * T, V]);
      const picked = tf.sum(tf.mul(p2, tf.oneHot(tf.tensor1d(y, 'int32'), V)), 1);
      return tf.sum(tf.log(tf.maximum(picked, 1e-30)));
    });
    nll -= (await lp.data())[0];
    lp.dispose();
  }
  return Math.exp(nll / (nWin * T));
}

// ---------------------------------------------------------------------------------------
// Optional speed-up for the stock tfjs `cpu` backend. Its Slice/SplitV kernels copy
// non-contiguous slices element by element through TensorBuffer.get/set (~5 us/element),
// which makes tfjs-layers LSTM/GRU inference (one SplitV per gate per time step) take
// minutes. These replacements copy contiguous innermost runs with TypedArray.set and
// produce bit-identical results. Opt-in, idempotent; strings/complex use the original.
// ---------------------------------------------------------------------------------------
let fastCpuSlice = false;

function copySlice(vals: tf.TypedArray, shape: number[], begin: number[], size: number[]): tf.TypedArray {
  const rank = shape.length;
  const n = size.reduce((a, b) => a * b, 1);
  const out = new (vals.constructor as {new(n: number): tf.TypedArray})(n);
  if (n === 0) return out;
  if (rank === 0) { out[0] = vals[0]; return out; }
  const strides = new Array(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
  const inner = size[rank - 1];
  const outer = n / inner;
  const idx = new Array(Math.max(rank - 1, 0)).fill(0);
  for (let o = 0; o < outer; o++) {
    let off = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) off += (idx[d] + begin[d]) * strides[d];
    out.set(vals.subarray(off, off + inner), o * inner);
    for (let d = rank - 2; d >= 0; d--) { if (++idx[d] < size[d]) break; idx[d] = 0; }
  }
  return out;
}

export function useFastCpuSliceKernels(): void {
  if (fastCpuSlice) return;
  const origSlice = tf.getKernel('Slice', 'cpu');
  const origSplit = tf.getKernel('SplitV', 'cpu');
  if (!origSlice || !origSplit) return;
  fastCpuSlice = true;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const valsOf = (backend: any, x: tf.TensorInfo) => backend.data.get(x.dataId).values as tf.TypedArray;
  tf.unregisterKernel('Slice', 'cpu');
  tf.registerKernel({kernelName: 'Slice', backendName: 'cpu',
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    kernelFunc: (args: any) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === 'string' || x.dtype === 'complex64') return origSlice.kernelFunc(args);
      const [begin, size] = tf.slice_util.parseSliceParams(x, args.attrs.begin, args.attrs.size);
      return args.backend.makeTensorInfo(size, x.dtype, copySlice(valsOf(args.backend, x), x.shape, begin, size));
    }});
  tf.unregisterKernel('SplitV', 'cpu');
  tf.registerKernel({kernelName: 'SplitV', backendName: 'cpu',
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    kernelFunc: (args: any) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === 'string' || x.dtype === 'complex64') return origSplit.kernelFunc(args);
      const axis = tf.util.parseAxisParam(args.attrs.axis, x.shape)[0];
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, args.attrs.numOrSizeSplits, axis);
      const vals = valsOf(args.backend, x);
      const begin = new Array(x.shape.length).fill(0);
      return sizes.map((s: number) => {
        const size = x.shape.slice();
        size[axis] = s;
        const t = args.backend.makeTensorInfo(size, x.dtype, copySlice(vals, x.shape, begin, size));
        begin[axis] += s;
        return t;
      });
    }});
}
