/**
 * Page of test/browser/soak_gpu.test.ts (and `npm run soak:browser`): many predictions of the
 * bundled MNIST MLP and LSTM LM on pbq-webgl, sampling tensors, GPU bytes and the JS heap.
 * Chromium runs with --js-flags=--expose-gc and --enable-precise-memory-info (the test launches it).
 */
import '../../../src/chained_ops';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../../../src/index';
import type { PbqBackendWebGL } from '../../../src/backend_webgl';
import { FUSED_LSTM_FLAG } from '../../../src/layers';
import { rawResources } from '../../../kernels/webgl/raw_program';

/** numBytesInGPU includes pbq's own textures; scratchBytes is the part the backend keeps for activations (a bounded cache). */
interface Sample {
  calls: number; numTensors: number; numBytesInGPU: number; numBytesInGPUAllocated: number; scratchBytes: number; heapBytes: number | null;
}

async function fetchJson(url: string) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

/** JS heap in use after pending tasks ran and two full GCs (null where the page cannot force one or read the heap). */
async function heapBytes(): Promise<number | null> {
  const w = window as unknown as { gc?: () => void };
  const memory = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory;
  if (!w.gc || !memory) return null;
  await new Promise((resolve) => setTimeout(resolve, 0));
  w.gc();
  w.gc();
  return memory.usedJSHeapSize;
}

async function sample(calls: number): Promise<Sample> {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU: number; numBytesInGPUAllocated: number };
  const scratchBytes = tf.getBackend() === 'pbq' ? rawResources(tf.backend() as PbqBackendWebGL).scratchBytes : 0;
  return {
    calls, numTensors: m.numTensors, numBytesInGPU: m.numBytesInGPU, numBytesInGPUAllocated: m.numBytesInGPUAllocated, scratchBytes,
    heapBytes: await heapBytes(),
  };
}

/**
 * `calls` runs of `step(i)`: the first `warmUp` are warm-up, then a sample every `every` calls.
 * Every 10th call reads its result with await data(), the others with dataSync().
 */
async function soak(calls: number, warmUp: number, every: number, step: (i: number) => tf.Tensor) {
  const samples: Sample[] = [];
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    const y = step(i);
    if (i % 10 === 9) await y.data();
    else y.dataSync();
    y.dispose();
    if (i + 1 >= warmUp && (i + 1 - warmUp) % every === 0) samples.push(await sample(i + 1));
  }
  if (samples[samples.length - 1].calls !== calls) samples.push(await sample(calls));
  return { samples, msPerCall: (performance.now() - started) / calls };
}

const api = {
  /** `predictions` batch-1 predictions of the MNIST MLP at W4A8, one held-back digit each. */
  async mnist(predictions: number) {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const meta = await fetchJson('/fs/models/mnist-mlp/eval.json');
    const pixels = new Uint8Array(await (await fetch(`/fs/models/mnist-mlp/${meta.imagesFile}`)).arrayBuffer());
    const initial = await sample(0);
    const model = await tfl.loadLayersModel('/fs/models/mnist-mlp/model.json');
    const before = await sample(0);
    const r = await soak(predictions, Math.ceil(predictions / 10), Math.ceil(predictions / 10), (i) => tf.tidy(() => {
      const d = i % meta.n;
      const x = tf.tensor2d(Float32Array.from(pixels.subarray(d * 784, (d + 1) * 784), (p) => p / 255), [1, 784]);
      return (model.predict(x) as tf.Tensor).argMax(-1);
    }));
    model.dispose();
    pbq.resetConfig();
    return { initial, before, ...r, disposed: await sample(predictions), base: pbq.detectBaseKind() };
  },

  /** LSTM LM predictions of `window`-character windows (the fused PbqLSTMStep: `window` steps each) until `steps` steps. */
  async lstm(steps: number, window: number) {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits: 4, activationBits: 8 });
    tf.env().set(FUSED_LSTM_FLAG, true);
    const meta = await fetchJson('/fs/models/lstm-lm/eval.json');
    const ids = Int32Array.from(meta.ids as number[]);
    const initial = await sample(0);
    const model = await tfl.loadLayersModel('/fs/models/lstm-lm/model.json');
    const windows = Math.ceil(steps / window);
    const input = (i: number) => tf.tensor2d(Array.from(ids.subarray((i * window) % (ids.length - window)).slice(0, window)), [1, window]);
    const profile = await tf.profile(() => tf.tidy(() => (model.predict(input(0)) as tf.Tensor).dataSync()));
    const before = await sample(0);
    const r = await soak(windows, Math.ceil(windows / 10), Math.ceil(windows / 10), (i) => tf.tidy(() => model.predict(input(i)) as tf.Tensor));
    model.dispose();
    pbq.resetConfig();
    return {
      initial, before, ...r, disposed: await sample(windows), steps: windows * window,
      fusedSteps: profile.kernels.filter((k) => k.name === 'PbqLSTMStep').length,
    };
  },
};

Object.assign(window, api);
