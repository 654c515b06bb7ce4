/**
 * Bundled trained models: load each via file:// on the tfjs `cpu` backend, evaluate it on its
 * committed held-back eval set, and check the metric against models/<name>/metrics.json and
 * the quality thresholds.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src/chained_ops';
import * as fs from 'fs';
import * as path from 'path';
import {registerFileRouters} from '../src/io/file_io';
import {evaluateMnist, evaluateLm, loadMnistEvalSet, loadLmEvalSet, loadCalibration, MODELS_DIR, useFastCpuSliceKernels} from '../models/eval';

const metrics = (name: string) => JSON.parse(fs.readFileSync(path.join(MODELS_DIR, name, 'metrics.json'), 'utf8'));
const load = (name: string) => tfl.loadLayersModel(`file://${path.join(MODELS_DIR, name, 'model.json')}`);

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerFileRouters();
  useFastCpuSliceKernels();  // bit-identical, much faster cpu Slice/SplitV (see models/eval.ts)
});

test('total size of bundled model weights is < 25 MB', () => {
  let total = 0;
  for (const name of ['mnist-mlp', 'lstm-lm', 'gru-lm']) {
    for (const f of fs.readdirSync(path.join(MODELS_DIR, name))) total += fs.statSync(path.join(MODELS_DIR, name, f)).size;
  }
  expect(total).toBeLessThan(25 * 1024 * 1024);
});

test('mnist-mlp: architecture, eval-set accuracy == metrics.json, >= 97.5%', async () => {
  const m = metrics('mnist-mlp');
  const model = await load('mnist-mlp');
  expect(model.layers.map((l) => l.getClassName())).toEqual(['Dense', 'Dense', 'Dense']);
  expect(model.layers.map((l) => (l.getConfig() as {units: number}).units)).toEqual([512, 512, 10]);
  expect(model.countParams()).toBe(m.params);
  const set = loadMnistEvalSet();
  expect(set.n).toBe(m.evalSetSize);
  const before = tf.memory().numTensors;
  const acc = await evaluateMnist(model, set);
  expect(tf.memory().numTensors).toBe(before);  // no leaks
  expect(acc).toBeCloseTo(m.evalSetAccuracy, 6);
  expect(acc).toBeGreaterThanOrEqual(0.975);
  const cal = loadCalibration(path.join(MODELS_DIR, 'mnist-mlp'));
  expect(cal.shape).toEqual([256, 784]);
  model.dispose();
});

for (const [name, cell, units] of [['lstm-lm', 'LSTM', 256], ['gru-lm', 'GRU', 128]] as [string, string, number][]) {
  test(`${name}: architecture, eval-set perplexity == metrics.json, clearly beats unigram`, async () => {
    const m = metrics(name);
    const model = await load(name);
    expect(model.layers.map((l) => l.getClassName())).toEqual(['Embedding', cell, 'Dense']);
    const rnnCfg = model.layers[1].getConfig() as {units: number, recurrentActivation: string};
    expect(rnnCfg.units).toBe(units);
    expect(rnnCfg.recurrentActivation).toBe('hardSigmoid');
    expect(model.countParams()).toBe(m.params);
    const set = loadLmEvalSet(path.join(MODELS_DIR, name));
    expect(set.vocab!.length).toBe(m.vocabSize);
    const before = tf.memory().numTensors;
    const ppl = await evaluateLm(model, set);
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(ppl - m.evalSetPerplexity) / m.evalSetPerplexity).toBeLessThan(1e-4);
    expect(ppl).toBeLessThan(0.5 * m.evalSetUnigramPerplexity);
    const cal = loadCalibration(path.join(MODELS_DIR, name));
    expect(cal.shape).toEqual([256, m.config.seqLen]);
    model.dispose();
  });
}
