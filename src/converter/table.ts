/**
 * `npm run convert:table`: converts the bundled models (models/mnist-mlp, models/lstm-lm,
 * models/gru-lm, whichever exist) with several settings and evaluates each converted model
 * under pbq (Node CPU engine, A8) from its compact model.pbq. Prints a markdown table and writes
 * it to src/converter/TABLE.md.
 *
 *   EVAL_DIGITS=1996 EVAL_WINDOWS=128 npm run convert:table   (defaults: the full eval sets)
 *   TABLE_MODELS=mnist-mlp,gru-lm npm run convert:table        (a subset of the models)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../index';
import { registerFileRouters } from '../io/file_io';
import { convert, ConvertOptions, ConversionReport } from './convert';
import { loadMnistEvalSet, loadLmEvalSet, MODELS_DIR } from '../../models/eval';

export interface Metric { name: string; value: number; nll: number }

/** Top-1 accuracy and mean NLL on the first `n` eval digits. */
export async function mnistMetric(model: tfl.LayersModel, n: number): Promise<Metric> {
  const set = loadMnistEvalSet();
  const count = Math.min(n, set.n);
  let correct = 0;
  let nll = 0;
  for (let s = 0; s < count; s += 250) {
    const b = Math.min(250, count - s);
    const [pred, logp] = tf.tidy(() => {
      const x = tf.div(tf.tensor2d(set.images.subarray(s * 784, (s + b) * 784), [b, 784], 'int32'), 255);
      const p = model.predict(x) as tf.Tensor2D;
      const picked = tf.sum(tf.mul(p, tf.oneHot(tf.tensor1d(set.labels.subarray(s, s + b), 'int32'), 10)), 1);
      return [tf.argMax(p, -1), tf.sum(tf.log(tf.maximum(picked, 1e-30)))];
    });
    const pv = await pred.data();
    for (let i = 0; i < b; i++) if (pv[i] === set.labels[s + i]) correct++;
    nll -= (await logp.data())[0];
    tf.dispose([pred, logp]);
  }
  return { name: 'accuracy', value: correct / count, nll: nll / count };
}

/** Perplexity on the first `windows` eval windows. */
export async function lmMetric(model: tfl.LayersModel, dir: string, windows: number): Promise<Metric> {
  const set = loadLmEvalSet(dir);
  const T = set.seqLen;
  const nWin = Math.min(windows, Math.floor((set.ids.length - 1) / T));
  let nll = 0;
  for (let w0 = 0; w0 < nWin; w0 += 64) {
    const b = Math.min(64, nWin - w0);
    const x = new Float32Array(b * T);
    const y = new Int32Array(b * T);
    for (let k = 0; k < b; k++) {
      for (let t = 0; t < T; t++) {
        x[k * T + t] = set.ids[(w0 + k) * T + t];
        y[k * T + t] = set.ids[(w0 + k) * T + t + 1];
      }
    }
    const lp = tf.tidy(() => {
      const probs = model.predict(tf.tensor2d(x, [b, T])) as tf.Tensor;
      const V = probs.shape[probs.shape.length - 1] as number;
      const picked = tf.sum(tf.mul(tf.reshape(probs, [b * T, V]), tf.oneHot(tf.tensor1d(y, 'int32'), V)), 1);
      return tf.sum(tf.log(tf.maximum(picked, 1e-30)));
    });
    nll -= (await lp.data())[0];
    lp.dispose();
  }
  const mean = nll / (nWin * T);
  return { name: 'perplexity', value: Math.exp(mean), nll: mean };
}

/**
 * A bundled model that exists and is trained: a smoke-test LM (a few steps, perplexity near
 * the unigram baseline) says nothing about quantization.
 */
export function isTrainedModel(name: string): boolean {
  const dir = path.join(MODELS_DIR, name);
  if (!fs.existsSync(path.join(dir, 'model.json')) || !fs.existsSync(path.join(dir, 'eval.json'))) return false;
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
    return !(m.evalSetUnigramPerplexity && m.evalSetPerplexity > 0.6 * m.evalSetUnigramPerplexity);
  } catch {
    return false;
  }
}

export interface Variant { label: string; options: Partial<ConvertOptions> }

export function variants(bits: number): Variant[] {
  return [
    { label: `W${bits} min-max per tensor`, options: { weightBits: bits, range: 'minmax-tensor' } },
    { label: `W${bits} min-max per channel (= pbq run time)`, options: { weightBits: bits, range: 'minmax' } },
    { label: `W${bits} MSE per channel`, options: { weightBits: bits, range: 'mse' } },
    { label: `W${bits} MSE + bias correction`, options: { weightBits: bits, range: 'mse', biasCorrection: true } },
    { label: `W${bits} MSE + BC + multipoint ${bits + 0.5} bits`, options: { weightBits: bits, range: 'mse', biasCorrection: true, multipoint: true, budget: bits + 0.5 } },
  ];
}

/** Converts with `options` into a temporary folder and evaluates model.pbq under pbq. */
export async function convertAndEvaluate(
  modelDir: string, options: Partial<ConvertOptions>, evaluate: (m: tfl.LayersModel) => Promise<Metric>, activationBits = 8,
): Promise<{ report: ConversionReport; metric: Metric }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-table-'));
  try {
    const report = await convert({ input: modelDir, output: out, force: true, weightBits: 4, ...options });
    await tf.setBackend('pbq');
    pbq.configure({ weightBits: 16, activationBits });
    const model = await pbq.loadLayersModel(out);
    const metric = await evaluate(model);
    model.dispose();
    return { report, metric };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    pbq.resetConfig();
  }
}

async function floatMetric(modelDir: string, evaluate: (m: tfl.LayersModel) => Promise<Metric>, backend: string, weightBits?: number) {
  await tf.setBackend(backend);
  if (weightBits) pbq.configure({ weightBits, activationBits: 8 });
  const model = await tfl.loadLayersModel(`file://${modelDir}/model.json`);
  const m = await evaluate(model);
  model.dispose();
  pbq.resetConfig();
  return m;
}

function fmt(m: Metric): string {
  return m.name === 'accuracy' ? `${(100 * m.value).toFixed(2)} %` : m.value.toFixed(3);
}

async function main(): Promise<void> {
  registerFileRouters();
  tf.env().set('PROD', true);
  const digits = Number(process.env.EVAL_DIGITS ?? 1996);
  const windows = Number(process.env.EVAL_WINDOWS ?? 128);
  const only = process.env.TABLE_MODELS?.split(',');
  const models: Array<[string, (m: tfl.LayersModel) => Promise<Metric>, string]> = [
    ['mnist-mlp', (m) => mnistMetric(m, digits), `top-1 accuracy, ${digits} eval digits`],
    ['lstm-lm', (m) => lmMetric(m, path.join(MODELS_DIR, 'lstm-lm'), windows), `perplexity, ${windows}×64 eval chars`],
    ['gru-lm', (m) => lmMetric(m, path.join(MODELS_DIR, 'gru-lm'), windows), `perplexity, ${windows}×64 eval chars`],
  ];
  const lines: string[] = [
    '| model | weights | metric (pbq A8, from model.pbq) | NLL | avg bits | model.pbq / float shards |',
    '|---|---|---|---|---|---|',
  ];
  for (const [name, evaluate, what] of models) {
    const dir = path.join(MODELS_DIR, name);
    if (only && !only.includes(name)) continue;
    if (!isTrainedModel(name)) {
      process.stderr.write(`${name}: not there or not trained yet, skipped\n`);
      continue;
    }
    const t0 = Date.now();
    const f = await floatMetric(dir, evaluate, 'cpu');
    lines.push(`| ${name} | float32 (cpu backend; ${what}) | ${fmt(f)} | ${f.nll.toFixed(4)} | 32 | 1 |`);
    const a8 = await floatMetric(dir, evaluate, 'pbq', 16);
    lines.push(`| ${name} | W16 A8 (pbq run time) | ${fmt(a8)} | ${a8.nll.toFixed(4)} | 16 | – |`);
    for (const bits of [3, 4]) {
      for (const v of variants(bits)) {
        const { report, metric } = await convertAndEvaluate(dir, v.options, evaluate);
        const ratio = report.totals.pbqFileBytes / report.totals.inputWeightBytes;
        lines.push(`| ${name} | ${v.label} | ${fmt(metric)} | ${metric.nll.toFixed(4)} | ${report.totals.avgBits.toFixed(2)} | ${ratio.toFixed(3)} |`);
        process.stderr.write(`${name} ${v.label}: ${fmt(metric)} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
      }
    }
  }
  const table = lines.join('\n');
  const doc = `<!-- generated by \`npm run convert:table\` (src/converter/table.ts); do not edit -->\n\n${table}\n`;
  fs.writeFileSync(process.env.TABLE_OUT ?? path.join(__dirname, 'TABLE.md'), doc);
  process.stdout.write(table + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`convert:table: ${(e as Error).stack}\n`);
    process.exit(1);
  });
}
