/**
 * `npm run soak`: long runs of the Node pbq backend that must leave tensors and process memory
 * flat after warm-up, and the fuzz of pbq's model readers at a larger count.
 *
 *   npm run soak                  10,000 MNIST MLP predictions, 2,000 LSTM LM steps, 1,000
 *                                 load/predict/dispose cycles of the MNIST MLP converted at W4
 *                                 (each on pbq-wasm and pbq-cpu), 2,000 products on pbq-wasm's
 *                                 worker threads, a 1×10^7 · 10^7×1 product, 5,000 fuzz cases
 *   npm run soak -- --quick       a tenth of each
 *   npm run soak -- --json        the results as JSON
 *
 * "Flat": after warm-up (the first 5% of the calls, at least 20; LSTM: 8 windows; load cycles:
 * 120, past tfjs-layers' cache of the last 100 models' graphs) and a full GC, the run ends
 * with the same number of tensors, at most 1 MB more ArrayBuffer memory and at most 5 MB more
 * JS heap (1 MB over 10,000 calls is 100 bytes a call). test/soak.test.ts runs a short version
 * inside `npm test`. Exit code 1 when any run is not flat or the fuzz finds a problem.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../../src/index';
import { registerFileRouters } from '../../src/io/file_io';
import { convert } from '../../src/converter/convert';
import { loadLmEvalSet, loadMnistEvalSet } from '../../models/eval';
import type { PbqBackendWasm } from '../../src/backend_wasm';
import { contextOf } from '../../kernels/wasm/context';

const MODELS = path.resolve(__dirname, '..', '..', 'models');

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc') as () => void;

export interface MemorySample { tensors: number; arrayBuffersMB: number; heapMB: number; rssMB: number }

export interface SoakResult {
  name: string;
  calls: number;
  warmup: number;
  before: MemorySample;
  after: MemorySample;
  /** MB the run's worker threads have allocated, after warm-up and at the end (threaded runs). */
  workersMB?: [number, number];
  seconds: number;
  /** Outputs of the last calls equal those of the first (same inputs). */
  stableOutputs: boolean;
  flat: boolean;
}

export function memory(): MemorySample {
  gc();
  gc();
  const m = process.memoryUsage();
  return { tensors: tf.memory().numTensors, arrayBuffersMB: m.arrayBuffers / 1e6, heapMB: m.heapUsed / 1e6, rssMB: m.rss / 1e6 };
}

/** The flatness rule of the file comment. */
export function isFlat(before: MemorySample, after: MemorySample): boolean {
  return after.tensors === before.tensors && after.arrayBuffersMB - before.arrayBuffersMB < 1 && after.heapMB - before.heapMB < 5;
}

/**
 * Runs `call(i)` for warm-up + `calls` iterations, sampling memory after warm-up and at the end.
 * Call i uses input i mod 8: the outputs of the last 8 calls must equal those of the first 8.
 */
async function soak(
  name: string, calls: number, call: (i: number) => Promise<Float32Array>, warmup = Math.max(20, Math.floor(calls * 0.05)),
  workersMB?: () => number,
): Promise<SoakResult> {
  const total = warmup + calls;
  const first: Float32Array[] = [];
  let before = memory();
  let workersBefore = 0;
  let stable = true;
  const t0 = Date.now();
  for (let i = 0; i < total; i++) {
    const y = await call(i);
    if (i < 8) first.push(y);
    if (i >= total - 8) stable = stable && tf.util.arraysEqual(y, first[i % 8]);
    if (i === warmup - 1) {
      before = memory();
      workersBefore = workersMB?.() ?? 0;
    }
  }
  const after = memory();
  const result: SoakResult = { name, calls, warmup, before, after, seconds: (Date.now() - t0) / 1000, stableOutputs: stable, flat: isFlat(before, after) };
  if (workersMB) {
    result.workersMB = [workersBefore, workersMB()];
    result.flat = result.flat && result.workersMB[1] - result.workersMB[0] < 1;
  }
  return result;
}

/**
 * Products shared by pbq-wasm's worker threads (wasmThreads 2, 64×1024×1024 at W4A8, above
 * THREAD_MIN_WORK), the weight re-created every 25 calls, so that the workers take and free a
 * share each time: tensors, the process's memory and the workers' allocations stay flat.
 */
export async function soakThreads(calls: number): Promise<SoakResult> {
  await tf.setBackend('pbq-wasm');
  pbq.configure({ weightBits: 4, activationBits: 8, wasmThreads: 2 });
  const engine = contextOf(tf.backend() as PbqBackendWasm).engine;
  const k = 1024;
  const values = tf.tidy(() => tf.randomUniform([k, k], -0.05, 0.05, 'float32', 5).dataSync());
  const xs = Array.from({ length: 8 }, (_, i) => tf.randomUniform([64, k], -1, 1, 'float32', 10 + i));
  // a variable keeps its initial tensor's data: a fresh tensor each time, so each weight is new
  const newWeight = () => tf.tidy(() => tf.variable(tf.tensor2d(values, [k, k])));
  let w = newWeight();
  const workersMB = () => (engine.threadPool?.workerBytes() ?? []).reduce((a, b) => a + b, 0) / 1e6;
  const result = await soak('pbq-wasm: products on 2 threads (64×1024×1024, W4A8, a new weight every 25 calls)', calls, async (i) => {
    if (i % 25 === 24) {
      w.dispose();
      w = newWeight();
    }
    const y = tf.matMul(xs[i % 8], w);
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v;
  }, Math.max(100, Math.floor(calls * 0.05)), workersMB); // warm-up: 4 new weights (the wasm memory settles)
  if (engine.lastThreads !== 2) throw new Error(`soakThreads: the products ran on ${engine.lastThreads} thread(s), not 2`);
  tf.dispose([w, ...xs]);
  pbq.resetConfig();
  return result;
}

/** Batch-1 predictions of the bundled MNIST MLP on pbq (W4A8), cycling over 8 eval digits. */
export async function soakMnist(predictions: number, backend = 'pbq'): Promise<SoakResult> {
  await tf.setBackend(backend);
  pbq.configure({ weightBits: 4, activationBits: 8 });
  const model = await tfl.loadLayersModel(`file://${path.join(MODELS, 'mnist-mlp', 'model.json')}`);
  const set = loadMnistEvalSet(path.join(MODELS, 'mnist-mlp'));
  const xs = Array.from({ length: 8 }, (_, i) => tf.tensor2d(Float32Array.from(set.images.subarray(i * 784, (i + 1) * 784), (p) => p / 255), [1, 784]));
  const result = await soak(`${backend}: MNIST MLP predictions (batch 1, W4A8)`, predictions, async (i) => {
    const y = model.predict(xs[i % 8]) as tf.Tensor;
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v;
  });
  tf.dispose(xs);
  model.dispose();
  return result;
}

/**
 * LSTM LM steps on pbq (W4A8, the fused PbqLSTMStep route): predictions of `window`-character
 * windows from the eval text, batch 1; one step is one character through the LSTM.
 */
export async function soakLstm(steps: number, window = 20, backend = 'pbq'): Promise<SoakResult> {
  await tf.setBackend(backend);
  pbq.configure({ weightBits: 4, activationBits: 8 });
  const model = await tfl.loadLayersModel(`file://${path.join(MODELS, 'lstm-lm', 'model.json')}`);
  const set = loadLmEvalSet(path.join(MODELS, 'lstm-lm'));
  const xs = Array.from({ length: 8 }, (_, i) => tf.tensor2d(Float32Array.from(set.ids.subarray(i * window, (i + 1) * window)), [1, window]));
  const calls = Math.ceil(steps / window);
  const result = await soak(`${backend}: LSTM LM steps (${window}-character windows, W4A8)`, calls, async (i) => {
    const y = model.predict(xs[i % 8]) as tf.Tensor;
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v;
  }, Math.max(8, Math.floor(calls * 0.05)));
  result.calls = calls * window;
  result.warmup *= window;
  tf.dispose(xs);
  model.dispose();
  return result;
}

/** Load/predict/dispose cycles of the MNIST MLP converted at W4 (pbq.loadLayersModel, model.pbq). */
export async function soakLoadCycles(cycles: number, work: string, backend = 'pbq'): Promise<SoakResult> {
  const out = path.join(work, 'mnist-w4');
  if (!fs.existsSync(path.join(out, 'model.pbq'))) {
    await convert({ input: path.join(MODELS, 'mnist-mlp'), output: out, weightBits: 4, range: 'minmax', force: true });
  }
  await tf.setBackend(backend);
  pbq.configure({ weightBits: 4, activationBits: 8 });
  const bytes = new Uint8Array(fs.readFileSync(path.join(out, 'model.pbq')));
  const x = tf.ones([1, 784]);
  // Warm-up past 100 cycles: tfjs-layers keeps the graphs of the last 100 models it ran (an LRU
  // cache of their layers' metadata, bounded), which fills during the first 100.
  const result = await soak(`${backend}: MNIST MLP W4 load/predict/dispose cycles (model.pbq)`, cycles, async () => {
    const model = await pbq.loadLayersModel(bytes);
    const y = model.predict(x) as tf.Tensor;
    const v = (await y.data()) as Float32Array;
    y.dispose();
    model.dispose();
    return v;
  }, Math.min(120, cycles));
  x.dispose();
  return result;
}

export interface BigKResult { k: number; pbqMs: number; cpuMs: number; rssBeforeMB: number; rssAfterMB: number; arrayBuffersGrowthMB: number; relativeDifference: number }

/**
 * One 1×K · K×1 product on pbq (W8A8) and on stock cpu: the pbq engine's scratch memory does
 * not grow with K (before the fix: +2.5 GB at K = 10^7).
 */
export async function bigK(k: number): Promise<BigKResult> {
  await tf.setBackend('pbq');
  pbq.resetConfig();
  const a = tf.randomUniform([1, k], -1, 1, 'float32', 1);
  const b = tf.variable(tf.randomUniform([k, 1], -1, 1, 'float32', 2));
  const m0 = memory();
  let t = Date.now();
  const y = tf.matMul(a, b);
  const pbqValue = y.dataSync()[0];
  const pbqMs = Date.now() - t;
  const m1 = process.memoryUsage();
  await tf.setBackend('cpu');
  t = Date.now();
  const z = tf.matMul(a, b);
  const cpuValue = z.dataSync()[0];
  const cpuMs = Date.now() - t;
  tf.dispose([a, b, y, z]);
  await tf.setBackend('pbq');
  return {
    k, pbqMs, cpuMs, rssBeforeMB: m0.rssMB, rssAfterMB: m1.rss / 1e6, arrayBuffersGrowthMB: m1.arrayBuffers / 1e6 - m0.arrayBuffersMB,
    relativeDifference: Math.abs(pbqValue - cpuValue) / Math.abs(cpuValue),
  };
}

function line(r: SoakResult): string {
  const d = (a: number, b: number) => `${a.toFixed(2)} -> ${b.toFixed(2)}`;
  return `${r.name}: ${r.calls} calls after ${r.warmup} warm-up, ${r.seconds.toFixed(1)} s; tensors ${r.before.tensors} -> ${r.after.tensors}, ` +
    `arrayBuffers MB ${d(r.before.arrayBuffersMB, r.after.arrayBuffersMB)}, heap MB ${d(r.before.heapMB, r.after.heapMB)}, ` +
    `rss MB ${d(r.before.rssMB, r.after.rssMB)}${r.workersMB ? `, workers MB ${d(...r.workersMB)}` : ''}; ` +
    `outputs stable: ${r.stableOutputs}; ${r.flat ? 'FLAT' : 'NOT FLAT'}`;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const scale = args.includes('--quick') ? 0.1 : 1;
  const json = args.includes('--json');
  registerFileRouters();
  tf.env().set('PROD', true);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-soak-'));
  const say = (s: string) => { if (!json) process.stdout.write(`${s}\n`); };
  try {
    const runs: SoakResult[] = [];
    // Every Node base: pbq-wasm (what 'pbq' runs on in Node) and pbq-cpu.
    for (const run of ['pbq-wasm', 'pbq-cpu'].flatMap((backend) => [
      () => soakMnist(Math.round(10000 * scale), backend),
      () => soakLstm(Math.round(2000 * scale), 20, backend),
      () => soakLoadCycles(Math.round(1000 * scale), work, backend),
    ]).concat([() => soakThreads(Math.round(2000 * scale))])) {
      const r = await run();
      runs.push(r);
      say(line(r));
    }
    const big = await bigK(scale < 1 ? 1e6 : 1e7);
    say(`1×${big.k}·${big.k}×1 product: pbq ${big.pbqMs} ms, stock cpu ${big.cpuMs} ms, rss ${big.rssBeforeMB.toFixed(0)} -> ${big.rssAfterMB.toFixed(0)} MB, ` +
      `arrayBuffers +${big.arrayBuffersGrowthMB.toFixed(1)} MB, |pbq - cpu| / |cpu| = ${big.relativeDifference.toExponential(2)}`);
    const { runFuzz, formatOutcomes } = await import('../../test/fuzz/model_fuzz');
    const n = Math.round(5000 * scale);
    const fuzz = await runFuzz({ work: path.join(work, 'fuzz'), cases: { loader: Math.round(n * 0.4), pbq: Math.round(n * 0.4), converter: n - 2 * Math.round(n * 0.4) } });
    say(`fuzz: ${fuzz.cases} cases in ${fuzz.seconds.toFixed(0)} s, slowest ${fuzz.slowestCaseMs} ms, ${fuzz.problems.length} problems\n${formatOutcomes(fuzz.outcomes)}`);
    for (const p of fuzz.problems) say(`  PROBLEM ${p}`);
    if (json) process.stdout.write(`${JSON.stringify({ runs, bigK: big, fuzz }, null, 1)}\n`);
    return runs.every((r) => r.flat && r.stableOutputs) && fuzz.problems.length === 0 ? 0 : 1;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
}
