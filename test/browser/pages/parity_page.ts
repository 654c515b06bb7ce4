/**
 * Page code of the GLSL model parity test and of `npm start -- --browser`: the bundled models
 * (fetched from /fs/models/...) evaluated on the held-back sets under pbq on WebGL 2, with the
 * same suite (tools/demo/suite.ts) and eval functions (models/eval.ts) as in Node.
 * Bundle with EVAL_PAGE_BUILD (src/cli/browser_build.ts).
 */
import '../../../src/chained_ops';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../../../src/index';
import type { LmEvalSet, MnistEvalSet } from '../../../models/eval';
import {
  lmWindows, ModelName, outputDigest, Result, runSetting, Setting, subsetLm, subsetMnist, Task,
} from '../../../tools/demo/suite';

const sets = new Map<string, MnistEvalSet | LmEvalSet>();

async function fetchJson(url: string) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function loadTask(name: ModelName, limit?: number): Promise<Task> {
  const dir = `/fs/models/${name}`;
  if (!sets.has(name)) {
    const meta = await fetchJson(`${dir}/eval.json`);
    if (name === 'mnist-mlp') {
      const buf = await (await fetch(`${dir}/${meta.imagesFile}`)).arrayBuffer();
      sets.set(name, { images: new Uint8Array(buf), labels: Uint8Array.from(meta.labels), n: meta.n });
    } else {
      sets.set(name, { ids: Int32Array.from(meta.ids), seqLen: meta.seqLen, vocab: meta.vocab });
    }
  }
  const set = sets.get(name)!;
  if (name === 'mnist-mlp') {
    const s = set as MnistEvalSet;
    return { kind: 'mnist', set: limit ? subsetMnist(s, limit) : s, batchSize: 500, fullSize: s.n };
  }
  const s = set as LmEvalSet;
  return { kind: 'lm', set: limit ? subsetLm(s, limit) : s, batchSize: 64, fullSize: lmWindows(s) };
}

const loadModel = (name: ModelName) => tfl.loadLayersModel(`/fs/models/${name}/model.json`);

const api = {
  async pbqInfo() {
    await tf.setBackend('pbq');
    return { base: pbq.detectBaseKind(), backend: tf.getBackend() };
  },

  /** Evaluates `settings` in order on one loaded model; limit = MNIST digits / LM windows. */
  async evalSettings(name: ModelName, limit: number | null, settings: Setting[],
                     opts: { stats?: boolean } = {}): Promise<Result[]> {
    const task = await loadTask(name, limit ?? undefined);
    const model = await loadModel(name);
    const out: Result[] = [];
    for (const s of settings) out.push(await runSetting(model, name, task, s, opts));
    model.dispose();
    pbq.resetConfig();
    return out;
  },

  /**
   * weightBits `seq` (activation bits 8) on one model, then a freshly loaded model per distinct
   * setting: metric + output digest of the first `digestN` examples, for exact comparison.
   */
  async switching(name: ModelName, limit: number | null, seq: number[], digestN: number) {
    const task = await loadTask(name, limit ?? undefined);
    const setting = (w: number): Setting => ({ backend: 'pbq', weightBits: w, activationBits: 8 });
    const model = await loadModel(name);
    const switched = [];
    for (const w of seq) {
      const r = await runSetting(model, name, task, setting(w), { warm: false });
      switched.push({ w, metric: r.metric, digest: outputDigest(model, task, digestN) });
    }
    model.dispose();
    const fresh = [];
    for (const w of [...new Set(seq)]) {
      const m = await loadModel(name);
      const r = await runSetting(m, name, task, setting(w), { warm: false });
      fresh.push({ w, metric: r.metric, digest: outputDigest(m, task, digestN) });
      m.dispose();
    }
    pbq.resetConfig();
    return { switched, fresh, numTensors: tf.memory().numTensors };
  },
};
Object.assign(window, api);
