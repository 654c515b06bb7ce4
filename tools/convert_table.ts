/**
 * `npm run convert:table`: converts the bundled models (models/mnist-mlp, models/lstm-lm,
 * models/gru-lm, whichever exist) with several settings and evaluates each converted model
 * under pbq (Node CPU engine, A8) from its compact model.pbq. Prints a markdown table and writes
 * it to models/results/convert_table.md.
 *
 *   EVAL_DIGITS=1996 EVAL_WINDOWS=128 npm run convert:table   (defaults: the full eval sets)
 *   TABLE_MODELS=mnist-mlp,gru-lm npm run convert:table        (a subset of the models)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../src/index';
import { registerFileRouters } from '../src/io/file_io';
import { convert, ConvertOptions, ConversionReport } from '../src/converter/convert';
import { CalibrationCache } from '../src/converter/calibration';
import { loadMnistEvalSet, loadLmEvalSet, MODELS_DIR } from '../models/eval';

/**
 * What a converted model is judged by: its task metric, its mean NLL, and its fidelity to the
 * float model, the mean KL(p_float ‖ p_quantized) of the predicted distributions. Near float
 * quality (MNIST at W4) accuracy and NLL move by sampling noise of either sign (a quantized
 * model may even score a lower NLL than the float one), while the KL measures what quantization
 * changed, per prediction: it is the quantity the converter's methods reduce.
 */
export interface Metric { name: 'accuracy' | 'perplexity'; value: number; nll: number; kl: number | null }

/** Eval inputs in batches, with the target class of every predicted row. */
export interface EvalData {
  kind: 'mnist' | 'lm';
  batches: Array<{ input: () => tf.Tensor; rows: number }>;
  targets: Int32Array;
}

/** The first `n` eval digits. */
export function mnistData(n: number): EvalData {
  const set = loadMnistEvalSet();
  const count = Math.min(n, set.n);
  const batches: EvalData['batches'] = [];
  for (let s = 0; s < count; s += 250) {
    const b = Math.min(250, count - s);
    batches.push({ rows: b, input: () => tf.div(tf.tensor2d(set.images.subarray(s * 784, (s + b) * 784), [b, 784], 'int32'), 255) });
  }
  return { kind: 'mnist', batches, targets: Int32Array.from(set.labels.subarray(0, count)) };
}

/** The first `windows` eval windows of an LM (every position is a prediction). */
export function lmData(dir: string, windows: number): EvalData {
  const set = loadLmEvalSet(dir);
  const T = set.seqLen;
  const nWin = Math.min(windows, Math.floor((set.ids.length - 1) / T));
  const targets = new Int32Array(nWin * T);
  for (let w = 0; w < nWin; w++) for (let t = 0; t < T; t++) targets[w * T + t] = set.ids[w * T + t + 1];
  const batches: EvalData['batches'] = [];
  for (let w0 = 0; w0 < nWin; w0 += 64) {
    const b = Math.min(64, nWin - w0);
    batches.push({ rows: b * T, input: () => tf.tensor2d(set.ids.subarray(w0 * T, (w0 + b) * T), [b, T], 'float32') });
  }
  return { kind: 'lm', batches, targets };
}

/** The model's predicted distributions, one row per target ([targets, classes] row-major). */
export async function predictProbs(model: tfl.LayersModel, data: EvalData): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (const batch of data.batches) {
    const p = tf.tidy(() => model.predict(batch.input()) as tf.Tensor);
    parts.push((await p.data()) as Float32Array);
    p.dispose();
  }
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Metric, NLL and (given the float model's distributions) KL of predicted distributions. */
export function metricOf(data: EvalData, probs: Float32Array, reference: Float32Array | null = null): Metric {
  const rows = data.targets.length;
  const V = probs.length / rows;
  let nll = 0;
  let kl = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * V;
    let best = 0;
    for (let c = 0; c < V; c++) {
      if (probs[base + c] > probs[base + best]) best = c;
      const f = reference === null ? 0 : reference[base + c];
      if (f > 0) kl += f * Math.log(f / Math.max(probs[base + c], 1e-30));
    }
    if (best === data.targets[r]) correct++;
    nll -= Math.log(Math.max(probs[base + data.targets[r]], 1e-30));
  }
  nll /= rows;
  return data.kind === 'mnist'
    ? { name: 'accuracy', value: correct / rows, nll, kl: reference === null ? null : kl / rows }
    : { name: 'perplexity', value: Math.exp(nll), nll, kl: reference === null ? null : kl / rows };
}

/** An evaluate callback for convertAndEvaluate: metric and KL against `reference`. */
export function evaluator(data: EvalData, reference: Float32Array | null = null): (m: tfl.LayersModel) => Promise<Metric> {
  return async (m) => metricOf(data, await predictProbs(m, data), reference);
}

/** The float model's distributions on the stock cpu backend: the reference of the KL. */
export async function floatReference(modelDir: string, data: EvalData): Promise<Float32Array> {
  const prev = tf.getBackend();
  await tf.setBackend('cpu');
  const model = await tfl.loadLayersModel(`file://${modelDir}/model.json`);
  try {
    return await predictProbs(model, data);
  } finally {
    model.dispose();
    if (prev) await tf.setBackend(prev);
  }
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
    { label: `W${bits} weight-MSE per channel`, options: { weightBits: bits, range: 'weight-mse' } },
    { label: `W${bits} output-MSE per channel`, options: { weightBits: bits, range: 'mse' } },
    { label: `W${bits} MSE + bias correction`, options: { weightBits: bits, range: 'mse', biasCorrection: true } },
    { label: `W${bits} MSE + BC + multipoint ${bits + 0.5} bits`, options: { weightBits: bits, range: 'mse', biasCorrection: true, multipoint: true, budget: bits + 0.5 } },
    ...gptqVariants(bits),
  ];
}

/** GPTQ rounding (defaults: dampening cross-validated, act-order) with bias correction, uniform and multipoint. */
export function gptqVariants(bits: number): Variant[] {
  return [
    { label: `W${bits} MSE + BC + GPTQ`, options: { weightBits: bits, range: 'mse', biasCorrection: true, rounding: 'gptq' } },
    { label: `W${bits} GPTQ + BC + multipoint ${bits + 0.5} bits`, options: { weightBits: bits, range: 'mse', biasCorrection: true, rounding: 'gptq', multipoint: true, budget: bits + 0.5 } },
  ];
}

/** Extra rows of a model: MNIST at 2 bits (nearest and GPTQ). */
export function extraVariants(model: string): Variant[] {
  if (model !== 'mnist-mlp') return [];
  return [
    { label: 'W2 MSE + bias correction', options: { weightBits: 2, range: 'mse', biasCorrection: true } },
    { label: 'W2 MSE + BC + GPTQ', options: { weightBits: 2, range: 'mse', biasCorrection: true, rounding: 'gptq' } },
  ];
}

/**
 * Converts with `options` into a temporary folder and evaluates model.pbq under pbq with
 * default weight settings (a loaded model runs at every plane it stores) at `activationBits`.
 */
export async function convertAndEvaluate(
  modelDir: string, options: Partial<ConvertOptions>, evaluate: (m: tfl.LayersModel) => Promise<Metric>, activationBits = 8,
): Promise<{ report: ConversionReport; metric: Metric; planes: pbq.PlanesInForce }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-table-'));
  try {
    const report = await convert({ input: modelDir, output: out, force: true, weightBits: 4, ...options });
    await tf.setBackend('pbq');
    pbq.resetConfig();
    pbq.configure({ activationBits });
    const { model, planes } = await pbq.loadPbqModel(out);
    const metric = await evaluate(model);
    model.dispose();
    return { report, metric, planes };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
    pbq.resetConfig();
  }
}

async function floatMetric(modelDir: string, evaluate: (m: tfl.LayersModel) => Promise<Metric>, backend: string, weightBits?: number) {
  await tf.setBackend(backend);
  if (weightBits) pbq.configure({ weightBits, activationBits: 8 });
  const model = await tfl.loadLayersModel(`file://${modelDir}/model.json`);
  try {
    return await evaluate(model);
  } finally {
    model.dispose();
    pbq.resetConfig();
  }
}

function fmt(m: Metric): string {
  return m.name === 'accuracy' ? `${(100 * m.value).toFixed(2)} %` : m.value.toFixed(3);
}

function fmtKl(m: Metric): string {
  return m.kl === null ? '–' : m.kl.toExponential(2);
}

async function main(): Promise<void> {
  registerFileRouters();
  tf.env().set('PROD', true);
  const digits = Number(process.env.EVAL_DIGITS ?? 1996);
  const windows = Number(process.env.EVAL_WINDOWS ?? 128);
  const only = process.env.TABLE_MODELS?.split(',');
  const models: Array<[string, () => EvalData, string]> = [
    ['mnist-mlp', () => mnistData(digits), `top-1 accuracy, ${digits} eval digits`],
    ['lstm-lm', () => lmData(path.join(MODELS_DIR, 'lstm-lm'), windows), `perplexity, ${windows}×64 eval chars`],
    ['gru-lm', () => lmData(path.join(MODELS_DIR, 'gru-lm'), windows), `perplexity, ${windows}×64 eval chars`],
  ];
  const lines: string[] = [
    '| model | weights | metric (pbq A8, from model.pbq) | NLL | KL to float | avg bits (max) | model.pbq / float shards | convert s |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const calibrationCache = new CalibrationCache();
  for (const [name, makeData, what] of models) {
    const dir = path.join(MODELS_DIR, name);
    if (only && !only.includes(name)) continue;
    if (!isTrainedModel(name)) {
      process.stderr.write(`${name}: not there or not trained yet, skipped\n`);
      continue;
    }
    const t0 = Date.now();
    const data = makeData();
    const reference = await floatReference(dir, data);
    const evaluate = evaluator(data, reference);
    const f = await floatMetric(dir, evaluate, 'cpu');
    lines.push(`| ${name} | float32 (cpu backend; ${what}) | ${fmt(f)} | ${f.nll.toFixed(4)} | 0 | 32 | 1 | – |`);
    const a8 = await floatMetric(dir, evaluate, 'pbq', 16);
    lines.push(`| ${name} | W16 A8 (pbq run time) | ${fmt(a8)} | ${a8.nll.toFixed(4)} | ${fmtKl(a8)} | 16 | – | – |`);
    let first = true;
    for (const v of [...extraVariants(name), ...variants(3), ...variants(4)]) {
      const { report, metric, planes } = await convertAndEvaluate(dir, { ...v.options, calibrationCache }, evaluate);
      const ratio = report.totals.pbqFileBytes / report.totals.inputWeightBytes;
      const bitsCell = report.totals.maxBits === report.totals.avgBits ? report.totals.avgBits.toFixed(2) : `${report.totals.avgBits.toFixed(2)} (${report.totals.maxBits})`;
      if (planes.truncated) throw new Error(`${name} ${v.label}: ran truncated`);
      // The calibration pass runs once per model (first row), later rows reuse its statistics.
      const seconds = `${report.seconds.toFixed(0)}${first ? ' (with calibration)' : ''}`;
      lines.push(`| ${name} | ${v.label} | ${fmt(metric)} | ${metric.nll.toFixed(4)} | ${fmtKl(metric)} | ${bitsCell} | ${ratio.toFixed(3)} | ${seconds} |`);
      first = false;
      process.stderr.write(`${name} ${v.label}: ${fmt(metric)} KL ${fmtKl(metric)} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
  }
  const table = lines.join('\n');
  const doc = `<!-- generated by \`npm run convert:table\` (tools/convert_table.ts); do not edit -->\n\n${table}\n`;
  fs.writeFileSync(process.env.TABLE_OUT ?? path.join(__dirname, '..', 'models', 'results', 'convert_table.md'), doc);
  process.stdout.write(table + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`convert:table: ${(e as Error).stack}\n`);
    process.exit(1);
  });
}
