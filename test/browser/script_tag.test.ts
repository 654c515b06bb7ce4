/**
 * The browser builds in headless Chromium. The script-tag build: the README's html block as the page, loading
 * tf.min.js (@tensorflow/tfjs) and dist/tfjs-backend-pbq.min.js by relative URLs. Checks that pbq
 * registered into the global `tf` (the LSTM route included: stock LSTMs run PbqLSTMStep) and
 * that pbq.loadLayersModel loads a converted model from a URL relative to the page.
 * The ES module for bundlers: an app bundled with @tensorflow/tfjs (pages/esm_bundle_page.js).
 * Needs the built package (`npm run build`, run by `npm install`).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tfl from '@tensorflow/tfjs-layers';
import '../../src/chained_ops';
import { fileHandler } from '../../src/io/file_io';
import { convert } from '../../src/converter';
import { codeBlocks } from '../readme_blocks';
import { CACHE_DIR, closeBrowser, openPage, PageHandle, REPO_ROOT } from '../../tools/harness/browser';

const SCRIPT_TAG_BUILD = path.join(REPO_ROOT, 'dist', 'tfjs-backend-pbq.min.js');
const TF_MIN = path.join(REPO_ROOT, 'node_modules', '@tensorflow', 'tfjs', 'dist', 'tf.min.js');

let page: PageHandle;
let work: string;

/** A small LSTM model saved as tfjs files, and its `pbq convert --range minmax` conversion. */
async function tinyLstm(dir: string): Promise<{ saved: string; converted: string }> {
  const model = tfl.sequential({ layers: [
    tfl.layers.lstm({ units: 12, inputShape: [5, 3] }),
    tfl.layers.dense({ units: 4, activation: 'softmax' }),
  ] });
  const saved = path.join(dir, 'saved');
  await model.save(fileHandler(saved));
  model.dispose();
  const converted = path.join(dir, 'converted');
  await convert({ input: saved, output: converted, weightBits: 4, range: 'minmax' });
  return { saved, converted };
}

beforeAll(async () => {
  if (!fs.existsSync(SCRIPT_TAG_BUILD)) throw new Error(`${SCRIPT_TAG_BUILD} is missing: run npm run build`);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-script-tag-'));
  const { saved, converted } = await tinyLstm(work);
  const html = codeBlocks(REPO_ROOT, 'README.md').filter((b) => b.lang === 'html');
  expect(html).toHaveLength(1);
  fs.mkdirSync(path.join(CACHE_DIR, 'script_tag'), { recursive: true });
  const index = path.join(CACHE_DIR, 'script_tag', 'index.html');
  fs.writeFileSync(index, `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>\n${html[0].code}</body></html>`);
  page = await openPage({ bundle: SCRIPT_TAG_BUILD }, {
    label: 'script tag',
    files: {
      '/': index,
      '/node_modules/@tensorflow/tfjs/dist/tf.min.js': TF_MIN,
      '/node_modules/tfjs-backend-pbq/dist/tfjs-backend-pbq.min.js': SCRIPT_TAG_BUILD,
      '/models/lstm-lm/model.json': 'models/lstm-lm/model.json',
      '/models/lstm-lm/weights.bin': 'models/lstm-lm/weights.bin',
      '/tiny/saved/model.json': path.join(saved, 'model.json'),
      '/tiny/saved/weights.bin': path.join(saved, 'weights.bin'),
      '/tiny/converted/model.pbq': path.join(converted, 'model.pbq'),
    },
  });
}, 300_000);

afterAll(async () => {
  await page?.close();
  await closeBrowser();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('dist/tfjs-backend-pbq.min.js after tf.min.js (the README page)', () => {
  it("runs the README's example: pbq on WebGL from the global tf", async () => {
    await page.page.waitForFunction(() => document.getElementById('out')?.textContent !== '', { timeout: 120_000 });
    const shown = await page.page.$eval('#out', (e) => e.textContent);
    expect(shown).toBe('pbq on webgl: output 1,3,55');
    expect(await page.page.evaluate(() => [
      (window as any).tf.getBackend(), typeof (window as any).pbq.configure, (window as any).tf.version.tfjs, // eslint-disable-line @typescript-eslint/no-explicit-any
    ])).toEqual(['pbq', 'function', '4.22.0']);
  });

  it('routes the global tf.layers LSTM to PbqLSTMStep, equal to the composed quantized path', async () => {
    const r = await page.page.evaluate(async () => {
      const tf = (window as any).tf; // eslint-disable-line @typescript-eslint/no-explicit-any
      const model = await tf.loadLayersModel('models/lstm-lm/model.json');
      const x = tf.tensor2d([[20, 8, 5, 1, 14, 4]]);
      const profile = async () => {
        const info = await tf.profile(() => model.predict(x));
        const values = Array.from(await info.result.data() as Float32Array);
        info.result.dispose();
        return { kernels: info.kernelNames as string[], values };
      };
      const fused = await profile();
      tf.env().set('PBQ_FUSED_LSTM', false);
      const composed = await profile();
      tf.env().set('PBQ_FUSED_LSTM', true);
      model.dispose();
      x.dispose();
      return { fused, composed };
    });
    expect(r.fused.kernels).toContain('PbqLSTMStep');
    expect(r.composed.kernels).not.toContain('PbqLSTMStep');
    const worst = Math.max(...r.fused.values.map((v, i) => Math.abs(v - r.composed.values[i])));
    expect(worst).toBeLessThan(2e-6);
  });

  it('pbq.loadLayersModel takes URLs relative to the page and names a missing file', async () => {
    const r = await page.page.evaluate(async () => {
      const { tf, pbq } = window as any; // eslint-disable-line @typescript-eslint/no-explicit-any
      pbq.configure({ weightBits: 4, activationBits: 8 });
      const x = tf.tensor3d(Array.from({ length: 2 * 5 * 3 }, (_, i) => Math.cos(0.9 * i)), [2, 5, 3]);
      const run = async (model: any) => { // eslint-disable-line @typescript-eslint/no-explicit-any
        const info = await tf.profile(() => model.predict(x));
        const values = Array.from(await info.result.data() as Float32Array);
        info.result.dispose();
        model.dispose();
        return { kernels: info.kernelNames as string[], values };
      };
      const runtime = await run(await tf.loadLayersModel('tiny/saved/model.json'));
      const converted = await run(await pbq.loadLayersModel('tiny/converted/'));
      const missing = await pbq.loadLayersModel('tiny/nothing/').then(() => 'loaded', (e: Error) => e.message);
      x.dispose();
      return { runtime, converted, missing };
    });
    expect(r.converted.kernels).toContain('PbqLSTMStep');
    // --range minmax stores exactly pbq's run-time quantization: the same outputs, bit for bit.
    expect(r.converted.values).toEqual(r.runtime.values);
    expect(r.missing).toBe('cannot fetch tiny/nothing/model.pbq: HTTP 404');
  });
});

describe('dist/tfjs-backend-pbq.esm.js bundled into an app with @tensorflow/tfjs', () => {
  it("registers into the app's tfjs: pbq on WebGL, its LSTMs through PbqLSTMStep; convert says it is Node only", async () => {
    const app = await openPage(path.join(__dirname, 'pages', 'esm_bundle_page.js'), { label: 'esm bundle' });
    try {
      const r = await app.call('esmBundle');
      expect([r.backend, r.base]).toEqual(['pbq', 'webgl']);
      expect(r.kernels).toContain('PbqLSTMStep');
      expect(r.convertError).toMatch(/^pbq: convert\(\) runs in Node only/);
    } finally {
      await app.close();
    }
  });
});
