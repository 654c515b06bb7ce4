/**
 * Accuracy parity of the bundled models on 'pbq-webgpu' (WGSL on SwiftShader's WebGPU, headless
 * Chromium): pbq in the page vs float32 on the stock `cpu` backend computed here in Node, on the
 * same examples, the subsets of test/browser/parity_gpu.test.ts (SwiftShader runs the shaders on
 * the CPU): MNIST every 4th held-back digit (500), the LMs the first 8 windows (512 next-char
 * predictions). Bounds as in test/browser/parity_gpu.test.ts: MNIST top-1 W8A8 within 0.2 points
 * and W4A8 within 0.5; LSTM perplexity W8A8 within 1 %, W4A8 within 3 %; GRU W8A8 within 1 %.
 * (The integers are the CPU engine's, test/browser/webgpu_matmul.test.ts.)
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { closeBrowser, openPage, PageHandle } from '../../tools/harness/browser';
import { EVAL_PAGE_BUILD } from '../../tools/demo/browser_build';
import { loadModel, loadTask, modelAvailable, useFastCpuSlices } from '../../tools/demo/node_models';
import { ModelName, Result, resultsTable, runSetting, Setting } from '../../tools/demo/suite';

const MNIST_DIGITS = 500;
const LM_WINDOWS = 8;
const PBQ = (weightBits: number, activationBits: number): Setting => ({ backend: 'pbq-webgpu', weightBits, activationBits });

let page: PageHandle;

beforeAll(async () => {
  await tf.setBackend('cpu');
  useFastCpuSlices();
  page = await openPage(path.join(__dirname, 'pages', 'webgpu_parity_page.ts'), { build: EVAL_PAGE_BUILD, callTimeoutMs: 300_000, webgpu: true });
  expect(await page.call('useBackend', 'pbq-webgpu')).toBe('pbq-webgpu');
}, 180_000);

afterAll(async () => {
  await page?.close();
  await closeBrowser();
});

async function parity(name: ModelName, limit: number, settings: Setting[]): Promise<Result[]> {
  const model = await loadModel(name);
  const float = await runSetting(model, name, loadTask(name, limit), { backend: 'cpu' });
  model.dispose();
  // warm: false — the suite's warm-up reads with dataSync, which WebGPU cannot do here
  const gpu: Result[] = await page.call('evalSettings', name, limit, settings, { warm: false });
  expect(gpu.map((r) => r.backend)).toEqual(settings.map(() => 'pbq-webgpu'));
  const out = [float, ...gpu];
  process.stderr.write(`\n${name} (${float.examples}; float32 on Node cpu, pbq-webgpu in Chromium):\n${resultsTable(out)}\n`);
  return out;
}

const pointsOff = (r: Result, f: Result) => Math.abs(100 * (r.metric - f.metric));
const relOff = (r: Result, f: Result) => Math.abs(r.metric / f.metric - 1);

describe('MNIST MLP (pbq-webgpu)', () => {
  it(`top-1 on ${MNIST_DIGITS} digits: W8A8 within 0.2 points, W4A8 within 0.5 points`, async () => {
    const [f, w8, w4] = await parity('mnist-mlp', MNIST_DIGITS, [PBQ(8, 8), PBQ(4, 8)]);
    expect(pointsOff(w8, f)).toBeLessThanOrEqual(0.2);
    expect(pointsOff(w4, f)).toBeLessThanOrEqual(0.5);
  }, 300_000);
});

const describeLstm = modelAvailable('lstm-lm') ? describe : describe.skip;
describeLstm('LSTM LM (pbq-webgpu, fused LSTM kernel)', () => {
  it(`perplexity on ${LM_WINDOWS} windows: W8A8 within 1 %, W4A8 within 3 %`, async () => {
    const [f, w8, w4] = await parity('lstm-lm', LM_WINDOWS, [PBQ(8, 8), PBQ(4, 8)]);
    expect(relOff(w8, f)).toBeLessThanOrEqual(0.01);
    expect(relOff(w4, f)).toBeLessThanOrEqual(0.03);
  }, 300_000);
});

const describeGru = modelAvailable('gru-lm') ? describe : describe.skip;
describeGru('GRU LM (pbq-webgpu)', () => {
  it(`perplexity on ${LM_WINDOWS} windows: W8A8 within 1 % of float32`, async () => {
    const [f, w8] = await parity('gru-lm', LM_WINDOWS, [PBQ(8, 8)]);
    expect(relOff(w8, f)).toBeLessThanOrEqual(0.01);
  }, 300_000);
});
