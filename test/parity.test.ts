/**
 * Accuracy parity of the bundled models in Node: float32 on the stock `cpu` backend vs 'pbq'
 * (pbq-wasm, the WebAssembly engine, in Node) at several settings on the committed held-back
 * eval sets (full sets); pbq-cpu (the TypeScript engine) gives MNIST's results exactly.
 *
 *   MNIST MLP top-1:   W8A8 within 0.2 points, W4A8 within 0.5 points (W2A16 printed)
 *   LSTM LM perplexity: W8A8 within 1 %, W4A8 within 3 % (W2A16 printed)
 *   GRU LM perplexity:  W8A8 within 1 %, and it runs through pbq's quantized matmuls
 *   weightBits 8 → 4 → 2 → 8 on one model == a freshly loaded model at each setting (exact)
 *
 * The measured table is printed (stderr) for the report.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as pbq from '../src/index';
import { loadModel, loadTask, modelAvailable, useFastCpuSlices } from '../tools/demo/node_models';
import { ModelName, outputDigest, Result, resultsTable, runSetting, Setting, Task } from '../tools/demo/suite';

const PBQ = (weightBits: number, activationBits: number): Setting => ({ backend: 'pbq', weightBits, activationBits });

beforeAll(async () => {
  await tf.setBackend('cpu');
  useFastCpuSlices();
});

afterAll(() => {
  pbq.resetConfig();
});

async function parity(name: ModelName, task: Task, settings: Setting[]): Promise<Result[]> {
  const model = await loadModel(name);
  const out = [await runSetting(model, name, task, { backend: 'cpu' })];
  for (const s of settings) out.push(await runSetting(model, name, task, s));
  model.dispose();
  process.stderr.write(`\n${name} (${out[0].examples}, Node):\n${resultsTable(out)}\n`);
  return out;
}

const pointsOff = (r: Result, f: Result) => Math.abs(100 * (r.metric - f.metric));
const relOff = (r: Result, f: Result) => Math.abs(r.metric / f.metric - 1);

/** weightBits 8 → 4 → 2 → 8 on one model vs a fresh model per setting: metric and outputs. */
async function switching(name: ModelName, task: Task, digestN: number) {
  const seq = [8, 4, 2, 8];
  const model = await loadModel(name);
  const switched: Array<{ metric: number; digest: string }> = [];
  for (const w of seq) {
    const r = await runSetting(model, name, task, PBQ(w, 8), { warm: false });
    switched.push({ metric: r.metric, digest: outputDigest(model, task, digestN) });
  }
  model.dispose();
  const fresh = new Map<number, { metric: number; digest: string }>();
  for (const w of [8, 4, 2]) {
    const m: LayersModel = await loadModel(name);
    const r = await runSetting(m, name, task, PBQ(w, 8), { warm: false });
    fresh.set(w, { metric: r.metric, digest: outputDigest(m, task, digestN) });
    m.dispose();
  }
  seq.forEach((w, i) => expect({ w, ...switched[i] }).toEqual({ w, ...fresh.get(w)! }));
  // and the settings really differ
  expect(fresh.get(2)!.digest).not.toEqual(fresh.get(8)!.digest);
}

describe('MNIST MLP (Node, pbq-wasm)', () => {
  it('top-1: W8A8 within 0.2 points, W4A8 within 0.5 points of float32 (W2A16 reported)', async () => {
    expect(pbq.detectBaseKind()).toBe('wasm');
    const [f, w8, w4, w2] = await parity('mnist-mlp', loadTask('mnist-mlp'), [PBQ(8, 8), PBQ(4, 8), PBQ(2, 16)]);
    expect(f.examples).toBe('1996 digits');
    expect(pointsOff(w8, f)).toBeLessThanOrEqual(0.2);
    expect(pointsOff(w4, f)).toBeLessThanOrEqual(0.5);
    expect(w2.metric).toBeGreaterThan(0.5);  // reported; only a sanity floor
  });

  it('pbq-cpu (the TypeScript engine) gives the same top-1 as pbq-wasm (250 digits, W4A8 and W2A16)', async () => {
    const model = await loadModel('mnist-mlp');
    const task = loadTask('mnist-mlp', 250);
    for (const s of [PBQ(4, 8), PBQ(2, 16)]) {
      const wasm = await runSetting(model, 'mnist-mlp', task, { ...s, backend: 'pbq-wasm' });
      const cpu = await runSetting(model, 'mnist-mlp', task, { ...s, backend: 'pbq-cpu' });
      expect(cpu.metric).toBe(wasm.metric); // the same integers on both engines
    }
    model.dispose();
  });

  it('weightBits 8 → 4 → 2 → 8 between calls equals a fresh model at each setting', async () => {
    await switching('mnist-mlp', loadTask('mnist-mlp', 250), 100);
  });
});

const describeLstm = modelAvailable('lstm-lm') ? describe : describe.skip;
describeLstm('LSTM LM (Node, pbq-wasm, fused LSTM kernel)', () => {
  it('perplexity: W8A8 within 1 %, W4A8 within 3 % of float32 (W2A16 reported)', async () => {
    const [f, w8, w4] = await parity('lstm-lm', loadTask('lstm-lm'), [PBQ(8, 8), PBQ(4, 8), PBQ(2, 16)]);
    expect(relOff(w8, f)).toBeLessThanOrEqual(0.01);
    expect(relOff(w4, f)).toBeLessThanOrEqual(0.03);
  });

  it('weightBits 8 → 4 → 2 → 8 between calls equals a fresh model at each setting (2 windows)', async () => {
    await switching('lstm-lm', loadTask('lstm-lm', 2), 2);
  });
});

const describeGru = modelAvailable('gru-lm') ? describe : describe.skip;
describeGru('GRU LM (Node, pbq-wasm)', () => {
  it('runs through the quantized matmuls; perplexity W8A8 within 1 % of float32 (W4A8, W2A16 reported)', async () => {
    const task = loadTask('gru-lm');
    const [f, w8, , w2] = await parity('gru-lm', task, [PBQ(8, 8), PBQ(4, 8), PBQ(2, 16)]);
    expect(relOff(w8, f)).toBeLessThanOrEqual(0.01);
    expect(w2.metric).not.toEqual(f.metric);  // 2-bit weights change the result: quantized path
    // the model's matmuls are pbq kernels
    const model = await loadModel('gru-lm');
    await tf.setBackend('pbq');
    pbq.configure({ weightBits: 8, activationBits: 8 });
    const prof = await tf.profile(() => {
      tf.tidy(() => { (model.predict(tf.tensor2d([[1, 2, 3, 4]])) as tf.Tensor).dataSync(); });
    });
    model.dispose();
    const matmuls = prof.kernelNames.filter((k) => /MatMul/.test(k));
    expect(matmuls.length).toBeGreaterThan(0);
    expect(tf.getBackend()).toBe('pbq');
  });
});
