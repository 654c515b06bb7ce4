/**
 * Builds the demo page (tools/demo_page/) into a static folder (default build/demo/) that any
 * static file server can serve: index.html, demo.js (esbuild: the page script with tfjs and pbq's
 * browser entry bundled in, so the page makes no request elsewhere), the bundled MNIST MLP and
 * LSTM LM, DIGITS evenly spaced held-back digits and LM_WINDOWS windows of held-back text.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as esbuild from 'esbuild';
import { loadLmEvalSet, loadMnistEvalSet } from '../../models/eval';
import { EVAL_PAGE_BUILD } from '../demo/browser_build';
import { subsetLm, subsetMnist } from '../demo/suite';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const DEFAULT_OUT = path.join(REPO_ROOT, 'build', 'demo');
/** Held-back digits the page scores (every ~6.7th of the 1,996). */
export const DIGITS = 300;
/** Held-back LM windows of 64 characters the page's perplexity uses. */
export const LM_WINDOWS = 8;
export const DEMO_MODELS = ['mnist-mlp', 'lstm-lm'];

/** The page's data files: the digit subset (uint8 pixels + labels) and the LM text (ids + vocabulary). */
function writeData(out: string): void {
  const digits = subsetMnist(loadMnistEvalSet(path.join(REPO_ROOT, 'models', 'mnist-mlp')), DIGITS);
  fs.writeFileSync(path.join(out, 'data', 'digits.u8'), digits.images);
  fs.writeFileSync(path.join(out, 'data', 'digits.json'), JSON.stringify({ n: digits.n, labels: Array.from(digits.labels) }));
  const lm = subsetLm(loadLmEvalSet(path.join(REPO_ROOT, 'models', 'lstm-lm')), LM_WINDOWS);
  fs.writeFileSync(path.join(out, 'data', 'lm.json'), JSON.stringify({ seqLen: lm.seqLen, vocab: lm.vocab, ids: Array.from(lm.ids) }));
}

/** Builds the page into `out` (replaced); returns the files written, relative to it. */
export async function buildDemo(out = DEFAULT_OUT): Promise<string[]> {
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(path.join(out, 'data'), { recursive: true });
  await esbuild.build({
    ...EVAL_PAGE_BUILD,
    entryPoints: [path.join(__dirname, 'main.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    outfile: path.join(out, 'demo.js'),
    logLevel: 'warning',
    logOverride: { 'direct-eval': 'silent' },
  });
  fs.copyFileSync(path.join(__dirname, 'index.html'), path.join(out, 'index.html'));
  for (const m of DEMO_MODELS) {
    fs.mkdirSync(path.join(out, 'models', m), { recursive: true });
    for (const f of ['model.json', 'weights.bin']) fs.copyFileSync(path.join(REPO_ROOT, 'models', m, f), path.join(out, 'models', m, f));
  }
  writeData(out);
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else files.push(path.relative(out, path.join(d, e.name)));
    }
  };
  walk(out);
  return files.sort();
}
