/**
 * Accuracy parity of the bundled models on the GLSL path (pbq on WebGL 2, headless Chromium,
 * SwiftShader): pbq in the page vs float32 on the stock `cpu` backend computed here in Node, on
 * the same examples. SwiftShader runs the shaders on the CPU, so the eval sets are SUBSETS to
 * keep this file within ~3 minutes: MNIST every 4th held-back digit (500 of 1,996), the LMs the
 * first 8 windows (512 next-char predictions of 4,096). Node's test/parity.test.ts uses the
 * full sets. Bounds as in Node:
 *   MNIST top-1 W8A8 within 0.2 points, W4A8 within 0.5 points (W2A16 printed)
 *   LSTM perplexity W8A8 within 1 %, W4A8 within 3 % (W2A16 printed); GRU W8A8 within 1 %
 *   weightBits 8 → 4 → 2 → 8 in one page == a freshly loaded model at each setting (exact)
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { usePage } from './page_fixture';
import { EVAL_PAGE_BUILD } from '../../tools/demo/browser_build';
import { loadModel, loadTask, modelAvailable, useFastCpuSlices } from '../../tools/demo/node_models';
import { ModelName, Result, resultsTable, runSetting, Setting } from '../../tools/demo/suite';

const MNIST_DIGITS = 500;
const LM_WINDOWS = 8;
const PBQ = (weightBits: number, activationBits: number): Setting => ({ backend: 'pbq', weightBits, activationBits });

const page = usePage(path.join(__dirname, 'pages', 'parity_page.ts'), { build: EVAL_PAGE_BUILD, callTimeoutMs: 300_000 });

beforeAll(async () => {
  await tf.setBackend('cpu');
  useFastCpuSlices();
  expect(await page().call('pbqInfo')).toEqual({ base: 'webgl', backend: 'pbq' });
}, 180_000);

async function parity(name: ModelName, limit: number, settings: Setting[]): Promise<Result[]> {
  const model = await loadModel(name);
  const float = await runSetting(model, name, loadTask(name, limit), { backend: 'cpu' });
  model.dispose();
  const gpu: Result[] = await page().call('evalSettings', name, limit, settings);
  const out = [float, ...gpu];
  process.stderr.write(`\n${name} (${float.examples}; float32 on Node cpu, pbq GLSL in Chromium):\n${resultsTable(out)}\n`);
  return out;
}

const pointsOff = (r: Result, f: Result) => Math.abs(100 * (r.metric - f.metric));
const relOff = (r: Result, f: Result) => Math.abs(r.metric / f.metric - 1);

async function switching(name: ModelName, limit: number, digestN: number) {
  const r = await page().call('switching', name, limit, [8, 4, 2, 8], digestN);
  const fresh = new Map(r.fresh.map((f: { w: number }) => [f.w, f]));
  for (const s of r.switched) expect(s).toEqual(fresh.get(s.w));
  expect((fresh.get(2) as { digest: string }).digest).not.toEqual((fresh.get(8) as { digest: string }).digest);
}

describe('MNIST MLP (GLSL)', () => {
  it(`top-1 on ${MNIST_DIGITS} digits: W8A8 within 0.2 points, W4A8 within 0.5 points (W2A16 reported)`, async () => {
    const [f, w8, w4, w2] = await parity('mnist-mlp', MNIST_DIGITS, [PBQ(8, 8), PBQ(4, 8), PBQ(2, 16)]);
    expect(pointsOff(w8, f)).toBeLessThanOrEqual(0.2);
    expect(pointsOff(w4, f)).toBeLessThanOrEqual(0.5);
    expect(w2.metric).toBeGreaterThan(0.5);
  }, 300_000);

  it('weightBits 8 → 4 → 2 → 8 between calls equals a fresh model at each setting (100 digits)', async () => {
    await switching('mnist-mlp', 100, 50);
  }, 300_000);
});

const describeLstm = modelAvailable('lstm-lm') ? describe : describe.skip;
describeLstm('LSTM LM (GLSL, fused LSTM kernel)', () => {
  it(`perplexity on ${LM_WINDOWS} windows: W8A8 within 1 %, W4A8 within 3 % (W2A16 reported)`, async () => {
    const [f, w8, w4] = await parity('lstm-lm', LM_WINDOWS, [PBQ(8, 8), PBQ(4, 8), PBQ(2, 16)]);
    expect(relOff(w8, f)).toBeLessThanOrEqual(0.01);
    expect(relOff(w4, f)).toBeLessThanOrEqual(0.03);
  }, 300_000);

  it('weightBits 8 → 4 → 2 → 8 between calls equals a fresh model at each setting (1 window)', async () => {
    await switching('lstm-lm', 1, 1);
  }, 300_000);
});

const describeGru = modelAvailable('gru-lm') ? describe : describe.skip;
describeGru('GRU LM (GLSL)', () => {
  it(`perplexity on ${LM_WINDOWS} windows: W8A8 within 1 % of float32`, async () => {
    const [f, w8] = await parity('gru-lm', LM_WINDOWS, [PBQ(8, 8)]);
    expect(relOff(w8, f)).toBeLessThanOrEqual(0.01);
  }, 300_000);
});
