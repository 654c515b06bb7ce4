/**
 * Node side of `npm run bench`: pbq-cpu (TypeScript engine) vs stock `cpu`, and pbq-wasm
 * (WebAssembly SIMD engine) vs stock `wasm` (XNNPACK, one thread in Node). pbq-wasm runs at its
 * default wasmThreads (0: auto, worker threads for large products); `pbq-wasm-1t` is the same
 * backend at wasmThreads 1, so one run shows what the threads add. Shapes in WASM_ONLY_SHAPES
 * run only the wasm contenders (the others take seconds per call there).
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import * as pbq from '../../src/index';
import type { PbqBackendCPU } from '../../src/backend_cpu';
import type { PbqBackendWasm } from '../../src/backend_wasm';
import { WasmWeight } from '../../kernels/wasm/context';
import { ALL_SETTINGS, INT16_WRAP, FigureRecord, Item, measure, Options, Setting, shapesFor, wanted, WASM_ONLY_SHAPES } from './bench';
import { lmWindow, LM_FIGURE, LM_TOKENS, mlpWeights, MLP_LAYERS, seededValues } from './bench_data';
import '../../src/chained_ops';
import { MODELS_DIR } from '../../models/eval';
import { registerFileRouters } from '../../src/io/file_io';

const BACKENDS = ['cpu', 'wasm', 'pbq-cpu', 'pbq-wasm'];
const BACKEND_OF: Record<string, string> = {
  'pbq-cpu': 'pbq-cpu', 'pbq-wasm': 'pbq-wasm', 'pbq-wasm-1t': 'pbq-wasm', cpu: 'cpu', wasm: 'wasm',
};
/** The pbq-wasm contenders: wasmThreads of each. */
const WASM_THREADS: Record<string, number> = { 'pbq-wasm': 0, 'pbq-wasm-1t': 1 };
const isPbqWasm = (contender: string) => contender in WASM_THREADS;

async function initWasm(): Promise<boolean> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep));
    await tf.setBackend('wasm');
    return true;
  } catch (e) {
    process.stdout.write(`  wasm unavailable: ${(e as Error).message}\n`);
    return false;
  }
}

async function use(contender: string, s: Setting | null) {
  const name = BACKEND_OF[contender];
  if (tf.getBackend() !== name) await tf.setBackend(name);
  if (s) pbq.configure({ weightBits: s.weightBits, activationBits: s.activationBits, accumulator: s.accumulator ?? { type: 'exact' } });
  if (isPbqWasm(contender)) pbq.configure({ wasmThreads: WASM_THREADS[contender] });
}

function pbqBytes(dataId: object, k: number, n: number, bits: number): number {
  const b = tf.engine().findBackend('pbq-cpu') as PbqBackendCPU;
  const { weight } = b.weightCache.get(dataId, { batch: 1, k, n, transposed: false }, bits, () => { throw new Error('not cached'); });
  // planes a run at `bits` needs (the cache keeps the widest width asked for so far)
  return weight.n * weight.words * Math.min(bits, weight.bits) * 4 + weight.ranges.byteLength;
}

/** Bytes of a weight's pbq-wasm packings (codes at `bits`; tiled planes too at 1-2 planes, batch 1). */
function pbqWasmBytes(dataId: object, k: number, n: number, bits: number): number {
  const b = tf.engine().findBackend('pbq-wasm') as PbqBackendWasm;
  const { device } = b.weightCache.get(dataId, { batch: 1, k, n, transposed: false }, bits, () => { throw new Error('not cached'); });
  if (!(device instanceof WasmWeight)) throw new Error('pbq-wasm has not packed this weight');
  return device.atWidth(bits).bytes;
}

/** Weight bytes of a contender: float32 for the stock backends. */
function contenderBytes(contender: string, dataId: object, k: number, n: number, bits: number | undefined): number {
  if (contender === 'pbq-cpu') return pbqBytes(dataId, k, n, bits!);
  if (isPbqWasm(contender)) return pbqWasmBytes(dataId, k, n, bits!);
  return 4 * k * n;
}

/** The quantized contenders (pbq-cpu, and pbq-wasm when wasm loads), each at every setting. */
function quantizedItems(backends: string[], settings: Setting[]): Array<readonly [string, Setting]> {
  return ['pbq-cpu', 'pbq-wasm', 'pbq-wasm-1t'].filter((c) => backends.includes(BACKEND_OF[c]))
    .flatMap((c) => settings.map((s) => [c, s] as const));
}

/** Mean ms per call of `reps` calls of f, each result read back. */
async function timeLoop(contender: string, s: Setting | null, reps: number, f: () => tf.Tensor): Promise<number> {
  await use(contender, s);
  const start = performance.now();
  for (let i = 0; i < reps; i++) {
    const y = f();
    y.dataSync();
    y.dispose();
  }
  return (performance.now() - start) / reps;
}

export async function runNode(opt: Options): Promise<FigureRecord[]> {
  const haveWasm = await initWasm();
  const backends = BACKENDS.filter((b) => haveWasm || !b.includes('wasm'));
  const contenders = ['cpu', ...(haveWasm ? ['wasm'] : [])];
  const quantized = (settings: Setting[]) => quantizedItems(backends, settings);
  const records: FigureRecord[] = [];
  for (const sh of shapesFor(opt.quick).filter((x) => wanted(opt, x.name))) {
    const xv = seededValues(sh.m * sh.k, 7, 1);
    const wv = seededValues(sh.k * sh.n, 8, 0.05);
    const x: Record<string, tf.Tensor2D> = {};
    const w: Record<string, tf.Tensor2D> = {};
    for (const b of backends) {
      await tf.setBackend(b);
      x[b] = tf.tensor2d(xv, [sh.m, sh.k]);
      w[b] = tf.variable(tf.tensor2d(wv, [sh.k, sh.n])) as unknown as tf.Tensor2D;
    }
    const item = (contender: string, setting: Setting | null): Item => ({
      contender, setting,
      run: (reps) => timeLoop(contender, setting, reps, () => tf.matMul(x[BACKEND_OF[contender]], w[BACKEND_OF[contender]])),
      weightBytes: async () => contenderBytes(contender, w[BACKEND_OF[contender]].dataId, sh.k, sh.n, setting?.weightBits),
    });
    const wasmOnly = WASM_ONLY_SHAPES.has(sh.name);
    const items = wasmOnly
      ? [item('wasm', null), ...ALL_SETTINGS.filter((s) => s.activationBits === 8).flatMap((s) => [item('pbq-wasm', s), item('pbq-wasm-1t', s)])]
      : [...contenders.map((c) => item(c, null)), ...quantized(ALL_SETTINGS).map(([c, s]) => item(c, s))];
    if (sh.name === '1x1024x1024') items.push(item('pbq-cpu', INT16_WRAP));
    records.push(...await measure('node', sh.name, items, wasmOnly ? 'wasm' : 'cpu', { ...opt, samples: wasmOnly ? Math.min(opt.samples, 3) : opt.samples }, 4 * sh.k * sh.n));
    tf.dispose([...Object.values(x), ...Object.values(w)]);
  }
  for (const batch of [1, 64].filter((b) => wanted(opt, `mlp-784-4096-4096-10-b${b}`))) {
    const weights = mlpWeights();
    const models: Record<string, tfl.LayersModel> = {};
    const xs: Record<string, tf.Tensor2D> = {};
    for (const b of backends) {
      await tf.setBackend(b);
      const model = tfl.sequential();
      MLP_LAYERS.forEach((units, i) => model.add(tfl.layers.dense({
        units, activation: i === MLP_LAYERS.length - 1 ? 'linear' : 'relu', inputShape: i === 0 ? [784] : undefined,
      })));
      model.setWeights(weights.map((wt) => tf.tensor(wt.values, wt.shape)));
      models[b] = model;
      xs[b] = tf.tensor2d(seededValues(batch * 784, 99, 1).map(Math.abs), [batch, 784]);
    }
    const kernelsOf = (b: string) => models[b].layers.map((l) => (l as unknown as { kernel: { read(): tf.Tensor } }).kernel.read());
    const kernels = kernelsOf('pbq-cpu');
    const floatBytes = kernels.reduce((s, k) => s + 4 * k.size, 0);
    const settings = batch === 64
      ? ALL_SETTINGS.filter((s) => s.activationBits === 8 && (!opt.quick || s.weightBits === 1 || s.weightBits === 4)) : ALL_SETTINGS;
    const item = (contender: string, setting: Setting | null): Item => ({
      contender, setting,
      run: (reps) => timeLoop(contender, setting, reps, () => models[BACKEND_OF[contender]].predict(xs[BACKEND_OF[contender]]) as tf.Tensor),
      weightBytes: async () => kernelsOf(BACKEND_OF[contender]).reduce((s, k) =>
        s + contenderBytes(contender, k.dataId, k.shape[0] as number, k.shape[1] as number, setting?.weightBits), 0),
    });
    records.push(...await measure('node', `mlp-784-4096-4096-10-b${batch}`,
      [...contenders.map((c) => item(c, null)), ...quantized(settings).map(([c, s]) => item(c, s))], 'cpu',
      { ...opt, samples: batch === 64 ? Math.min(opt.samples, 3) : opt.samples }, floatBytes));
    for (const b of backends) {
      await tf.setBackend(b);
      models[b].dispose();
      xs[b].dispose();
    }
  }
  if (!opt.quick && wanted(opt, LM_FIGURE)) records.push(...await lmFigure(backends, contenders, opt));
  return records;
}

/** Bytes of a k×n kernel as a contender stores it (by formula). */
function lmKernelBytes(contender: string, k: number, n: number, s: Setting | null): number {
  if (contender === 'pbq-cpu') return (Math.ceil(k / 32) * s!.weightBits * 4 + 4) * n;
  if (isPbqWasm(contender)) {
    const format = s!.weightBits <= 4 ? 4 : s!.weightBits <= 8 ? 8 : 16;
    return Math.ceil(n / 4) * 4 * (Math.ceil(k / 32) * format * 4 + 8);
  }
  return 4 * k * n;
}

/** The bundled LSTM LM, ms per token of one 64-character window at batch 1. */
async function lmFigure(backends: string[], contenders: string[], opt: Options): Promise<FigureRecord[]> {
  registerFileRouters();
  const models: Record<string, tfl.LayersModel> = {};
  const xs: Record<string, tf.Tensor2D> = {};
  for (const b of backends) {
    await tf.setBackend(b);
    models[b] = await tfl.loadLayersModel(`file://${path.join(MODELS_DIR, 'lstm-lm', 'model.json')}`);
    xs[b] = tf.tensor2d(lmWindow(models[b].outputs[0].shape[2] as number), [1, LM_TOKENS]);
  }
  const kernels = models['pbq-cpu'].weights.filter((w) => w.shape.length === 2 && /kernel/.test(w.originalName)).map((w) => w.read());
  const floatBytes = kernels.reduce((s, k) => s + 4 * k.size, 0);
  const item = (contender: string, setting: Setting | null): Item => ({
    contender, setting,
    run: async (reps) => (await timeLoop(contender, setting, reps, () => models[BACKEND_OF[contender]].predict(xs[BACKEND_OF[contender]]) as tf.Tensor)) / LM_TOKENS,
    // by formula (planes and ranges; pbq-wasm: its codes and factors): the fused LSTM step caches
    // its own [W; U] weight, not these
    weightBytes: async () => kernels.reduce((s, k) => s + lmKernelBytes(contender, k.shape[0] as number, k.shape[1] as number, setting), 0),
  });
  const records = await measure('node', LM_FIGURE, [...contenders.map((c) => item(c, null)), ...quantizedItems(backends, ALL_SETTINGS).map(([c, s]) => item(c, s))], 'cpu', opt, floatBytes);
  for (const b of backends) {
    await tf.setBackend(b);
    models[b].dispose();
    xs[b].dispose();
  }
  return records;
}
