/** Node side of `npm run bench`: pbq CPU engine vs stock `cpu` and `wasm` (XNNPACK). */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import * as pbq from '../../src/index';
import type { PbqBackendCPU } from '../../src/backend_cpu';
import { ALL_SETTINGS, INT16_WRAP, FigureRecord, Item, measure, Options, Setting, shapesFor, wanted } from './bench';
import { lmWindow, LM_FIGURE, LM_TOKENS, mlpWeights, MLP_LAYERS, seededValues } from './bench_data';
import '../../src/chained_ops';
import { MODELS_DIR } from '../../models/eval';
import { registerFileRouters } from '../../src/io/file_io';

const BACKENDS = ['cpu', 'wasm', 'pbq'];
const BACKEND_OF: Record<string, string> = { 'pbq-cpu': 'pbq', cpu: 'cpu', wasm: 'wasm' };

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
}

function pbqBytes(dataId: object, k: number, n: number, bits: number): number {
  const b = tf.engine().findBackend('pbq') as PbqBackendCPU;
  const { weight } = b.weightCache.get(dataId, { batch: 1, k, n, transposed: false }, bits, () => { throw new Error('not cached'); });
  // planes a run at `bits` needs (the cache keeps the widest width asked for so far)
  return weight.n * weight.words * Math.min(bits, weight.bits) * 4 + weight.ranges.byteLength;
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
  const backends = BACKENDS.filter((b) => b !== 'wasm' || haveWasm);
  const contenders = ['cpu', ...(haveWasm ? ['wasm'] : [])];
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
      weightBytes: async () => (contender === 'pbq-cpu' ? pbqBytes(w.pbq.dataId, sh.k, sh.n, setting!.weightBits) : 4 * sh.k * sh.n),
    });
    const items = [...contenders.map((c) => item(c, null)), ...ALL_SETTINGS.map((s) => item('pbq-cpu', s))];
    if (sh.name === '1x1024x1024') items.push(item('pbq-cpu', INT16_WRAP));
    records.push(...await measure('node', sh.name, items, 'cpu', opt, 4 * sh.k * sh.n));
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
    const kernels = models.pbq.layers.map((l) => (l as unknown as { kernel: { read(): tf.Tensor } }).kernel.read());
    const floatBytes = kernels.reduce((s, k) => s + 4 * k.size, 0);
    const settings = batch === 64
      ? ALL_SETTINGS.filter((s) => s.activationBits === 8 && (!opt.quick || s.weightBits === 1 || s.weightBits === 4)) : ALL_SETTINGS;
    const item = (contender: string, setting: Setting | null): Item => ({
      contender, setting,
      run: (reps) => timeLoop(contender, setting, reps, () => models[BACKEND_OF[contender]].predict(xs[BACKEND_OF[contender]]) as tf.Tensor),
      weightBytes: async () => (contender === 'pbq-cpu'
        ? kernels.reduce((s, k) => s + pbqBytes(k.dataId, k.shape[0] as number, k.shape[1] as number, setting!.weightBits), 0) : floatBytes),
    });
    records.push(...await measure('node', `mlp-784-4096-4096-10-b${batch}`,
      [...contenders.map((c) => item(c, null)), ...settings.map((s) => item('pbq-cpu', s))], 'cpu',
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
  const kernels = models.pbq.weights.filter((w) => w.shape.length === 2 && /kernel/.test(w.originalName)).map((w) => w.read());
  const floatBytes = kernels.reduce((s, k) => s + 4 * k.size, 0);
  const item = (contender: string, setting: Setting | null): Item => ({
    contender, setting,
    run: async (reps) => (await timeLoop(contender, setting, reps, () => models[BACKEND_OF[contender]].predict(xs[BACKEND_OF[contender]]) as tf.Tensor)) / LM_TOKENS,
    // planes and ranges by formula: the fused LSTM step caches its own [W; U] weight, not these
    weightBytes: async () => (contender === 'pbq-cpu'
      ? kernels.reduce((s, k) => s + (Math.ceil((k.shape[0] as number) / 32) * setting!.weightBits * 4 + 4) * (k.shape[1] as number), 0)
      : floatBytes),
  });
  const records = await measure('node', LM_FIGURE, [...contenders.map((c) => item(c, null)), ...ALL_SETTINGS.map((s) => item('pbq-cpu', s))], 'cpu', opt, floatBytes);
  for (const b of backends) {
    await tf.setBackend(b);
    models[b].dispose();
    xs[b].dispose();
  }
  return records;
}
