/** Shared helpers for the training scripts (Node only). */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import '../src/chained_ops';
import * as path from 'path';
import * as fs from 'fs';

/**
 * Select the training backend: `wasm` (default, SIMD build, single-threaded so results
 * are reproducible) or `cpu` if TRAIN_BACKEND=cpu.
 */
export async function setupBackend(): Promise<string> {
  const want = process.env.TRAIN_BACKEND || 'wasm';
  if (want === 'wasm') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
  }
  await tf.setBackend(want);
  await tf.ready();
  return tf.getBackend();
}

export function writeJson(file: string, obj: unknown): void {
  fs.mkdirSync(path.dirname(file), {recursive: true});
  fs.writeFileSync(file, JSON.stringify(obj, null, 1) + '\n');
}

export function now(): number { return Date.now() / 1000; }

/**
 * The wasm backend has no UnsortedSegmentSum kernel, which the Embedding layer's gradient
 * (GatherV2 grad) needs. Register a plain-JS one (training only).
 */
export function registerWasmUnsortedSegmentSum(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'wasm',
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    kernelFunc: ({inputs, backend, attrs}: any) => {
      const x = inputs.x as tf.TensorInfo;
      const ids = inputs.segmentIds as tf.TensorInfo;
      const numSegments = attrs.numSegments as number;
      const xv = backend.readSync(x.dataId) as Float32Array;
      const iv = backend.readSync(ids.dataId) as Int32Array;
      const inner = x.shape.slice(1).reduce((a: number, b: number) => a * b, 1);
      const res = new Float32Array(numSegments * inner);
      for (let r = 0; r < iv.length; r++) {
        const s = iv[r];
        if (s < 0 || s >= numSegments) continue;
        const o = s * inner, io = r * inner;
        for (let k = 0; k < inner; k++) res[o + k] += xv[io + k];
      }
      const out = backend.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype);
      backend.typedArrayFromHeap(out).set(res);
      return out;
    },
  });
}

/**
 * matMul whose gradient uses explicit transposes + plain matMuls: the wasm backend's
 * transposed BatchMatMul is 5-20x slower than the plain one and dominates training time.
 */
export const mm = tf.customGrad(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ((a: tf.Tensor2D, b: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: tf.Tensor2D, s: tf.Tensor[]) => [
        tf.matMul(dy, tf.transpose(s[1]) as tf.Tensor2D),
        tf.matMul(tf.transpose(s[0]) as tf.Tensor2D, dy)],
    };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  }) as any) as unknown as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;
