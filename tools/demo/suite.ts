/**
 * The bundled-model evaluation suite shared by `npm start`, `npm run eval:table`,
 * `npm run sweep:accumulator`, the parity tests and their browser page. Environment-agnostic:
 * no fs here (the page bundles it for Chromium); callers load models and eval sets.
 *
 * A "setting" is float32 on a stock tfjs backend, or pbq with weight/activation bits and an
 * accumulator. runSetting() configures, warms the weight cache with one tiny batch (so the
 * timing is inference, not the one-off weight quantization), evaluates the held-back set with
 * models/eval.ts, and reports metric, model size in bits and milliseconds per batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as pbq from '../../src/index';
import type { AccumulatorConfig, AccumulatorStats } from '../../src/index';
import { evaluateLm, evaluateMnist, LmEvalSet, MnistEvalSet } from '../../models/eval';

export type ModelName = 'mnist-mlp' | 'lstm-lm' | 'gru-lm';
export const MODEL_NAMES: ModelName[] = ['mnist-mlp', 'lstm-lm', 'gru-lm'];

/** `fullSize`: when `set` is a subset, the size of the whole eval set (digits, or LM windows). */
export type Task =
  | { kind: 'mnist'; set: MnistEvalSet; batchSize: number; fullSize?: number }
  | { kind: 'lm'; set: LmEvalSet; batchSize: number; fullSize?: number };

export interface Setting {
  /** 'cpu' / 'webgl' / 'wasm' = stock float32 tfjs backend; 'pbq' or 'pbq-<base>' = quantized. */
  backend: string;
  weightBits?: number;
  activationBits?: number;
  accumulator?: AccumulatorConfig;
}

export interface Result {
  model: string;
  backend: string;
  /** null for float32 */
  weightBits: number | null;
  activationBits: number | null;
  accumulator: string | null;
  metricName: 'top-1 accuracy' | 'perplexity';
  /** accuracy in [0,1] or perplexity */
  metric: number;
  sizeBits: number;
  msPerBatch: number;
  batches: number;
  batchDesc: string;
  examples: string;
  stats?: AccumulatorStats;
}

export function accumulatorLabel(acc: AccumulatorConfig | undefined): string {
  if (!acc || acc.type === 'exact') return 'exact';
  if (acc.type === 'int') return `int${acc.bits} ${acc.overflow}`;
  return `float M${acc.mantissa}E${acc.exponent} chunk ${acc.chunk}${acc.rounding === 'nearest' ? ' nearest' : ''}`;
}

/** True for pbq's backends: 'pbq' (the best base here) and 'pbq-<base>'. */
export function isPbqBackend(backend: string): boolean {
  return backend === 'pbq' || backend.startsWith('pbq-');
}

export function settingLabel(s: Setting): string {
  if (!isPbqBackend(s.backend)) return `float32 (${s.backend})`;
  const acc = s.accumulator && s.accumulator.type !== 'exact' ? `, acc ${accumulatorLabel(s.accumulator)}` : '';
  return `W${s.weightBits}A${s.activationBits}${acc}`;
}

/**
 * Model size in bits at a weight bit width: every matmul kernel (Dense kernel, LSTM/GRU kernel
 * and recurrent kernel; K×N) stored as weightBits per weight plus one float32 range per output
 * channel (pbq's per-channel max-abs), everything else (biases, embeddings) as float32.
 * weightBits = null gives the float32 model (32 bits per parameter).
 */
export function modelSizeBits(model: LayersModel, weightBits: number | null): number {
  let bits = 0;
  for (const w of model.weights) {
    const size = w.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    const isKernel = /(^|\/)(recurrent_)?kernel$/.test(w.originalName ?? w.name) || /kernel(_\d+)?$/.test(w.name);
    if (weightBits !== null && isKernel && w.shape.length === 2) {
      const n = w.shape[1] as number;
      bits += weightBits * size + 32 * n;
    } else {
      bits += 32 * size;
    }
  }
  return bits;
}

/** Every `stride`-th digit (the eval set is ordered by class, so a prefix would not do). */
export function subsetMnist(set: MnistEvalSet, n: number): MnistEvalSet {
  if (n >= set.n) return set;
  const stride = set.n / n;
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = Math.floor(i * stride);
    images.set(set.images.subarray(j * 784, (j + 1) * 784), i * 784);
    labels[i] = set.labels[j];
  }
  return { images, labels, n };
}

/** The first `windows` windows of an LM eval set. */
export function subsetLm(set: LmEvalSet, windows: number): LmEvalSet {
  const total = Math.floor((set.ids.length - 1) / set.seqLen);
  if (windows >= total) return set;
  return { ids: set.ids.slice(0, windows * set.seqLen + 1), seqLen: set.seqLen, vocab: set.vocab };
}

export function lmWindows(set: LmEvalSet): number {
  return Math.floor((set.ids.length - 1) / set.seqLen);
}

export async function applySetting(s: Setting): Promise<void> {
  if (tf.getBackend() !== s.backend) {
    const ok = await tf.setBackend(s.backend);
    if (!ok) throw new Error(`backend '${s.backend}' could not be initialized`);
  }
  if (isPbqBackend(s.backend)) {
    pbq.configure({
      weightBits: s.weightBits ?? 8,
      activationBits: s.activationBits ?? 8,
      accumulator: s.accumulator ?? { type: 'exact' },
    });
  }
}

/** One small batch through the model (quantizes and caches the weights at this setting). */
export function warmUp(model: LayersModel, task: Task): void {
  tf.tidy(() => {
    const x = task.kind === 'mnist'
      ? tf.div(tf.tensor2d(task.set.images.subarray(0, 784), [1, 784], 'int32'), 255)
      : tf.tensor2d(Array.from(task.set.ids.subarray(0, task.set.seqLen)), [1, task.set.seqLen]);
    (model.predict(x) as tf.Tensor).dataSync();
  });
}

/** Batches, and the examples evaluated, labelled as a subset when they are one. */
export function describeTask(task: Task): { batches: number; batchDesc: string; examples: string } {
  const subset = task.fullSize !== undefined && task.fullSize > (task.kind === 'mnist' ? task.set.n : lmWindows(task.set));
  if (task.kind === 'mnist') {
    const b = Math.min(task.batchSize, task.set.n);
    const examples = subset ? `${task.set.n} of ${task.fullSize} digits, evenly spaced` : `${task.set.n} digits`;
    return { batches: Math.ceil(task.set.n / b), batchDesc: `${b} digits`, examples };
  }
  const w = lmWindows(task.set);
  const b = Math.min(task.batchSize, w);
  const chars = `${w * task.set.seqLen} chars`;
  return {
    batches: Math.ceil(w / b),
    batchDesc: `${b}×${task.set.seqLen} chars`,
    examples: subset ? `${chars}: first ${w} of ${task.fullSize} windows` : chars,
  };
}

export async function evaluateTask(model: LayersModel, task: Task): Promise<number> {
  return task.kind === 'mnist'
    ? evaluateMnist(model, task.set, task.batchSize)
    : evaluateLm(model, task.set, task.batchSize);
}

export async function runSetting(model: LayersModel, modelName: string, task: Task, s: Setting,
                                 opts: { warm?: boolean; stats?: boolean } = {}): Promise<Result> {
  await applySetting(s);
  if (opts.warm !== false) warmUp(model, task);
  if (opts.stats) pbq.resetAccumulatorStats();
  const t0 = performance.now();
  const metric = await evaluateTask(model, task);
  const ms = performance.now() - t0;
  const d = describeTask(task);
  const quantized = isPbqBackend(s.backend);
  return {
    model: modelName,
    backend: s.backend,
    weightBits: quantized ? s.weightBits ?? 8 : null,
    activationBits: quantized ? s.activationBits ?? 8 : null,
    accumulator: quantized ? accumulatorLabel(s.accumulator) : null,
    metricName: task.kind === 'mnist' ? 'top-1 accuracy' : 'perplexity',
    metric,
    sizeBits: modelSizeBits(model, quantized ? s.weightBits ?? 8 : null),
    msPerBatch: ms / d.batches,
    ...d,
    ...(opts.stats ? { stats: pbq.accumulatorStats() } : {}),
  };
}

/**
 * Model outputs on the first `n` examples (MNIST: digits, LM: windows), as a digest of their
 * float32 bits, for exact comparisons (e.g. switching weightBits vs a fresh model).
 */
export function outputDigest(model: LayersModel, task: Task, n: number): string {
  const out = tf.tidy(() => {
    const x = task.kind === 'mnist'
      ? tf.div(tf.tensor2d(task.set.images.subarray(0, n * 784), [n, 784], 'int32'), 255)
      : tf.tensor2d(Array.from(task.set.ids.subarray(0, n * task.set.seqLen)), [n, task.set.seqLen]);
    return (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  });
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  let h1 = 0x811c9dc5 >>> 0;
  let h2 = 0x9e3779b9 >>> 0;
  for (let i = 0; i < u.length; i++) {
    h1 = Math.imul(h1 ^ u[i], 0x01000193) >>> 0;
    h2 = (Math.imul(h2 ^ u[i], 0x85ebca6b) + i) >>> 0;
  }
  return `${u.length}:${h1.toString(16).padStart(8, '0')}${h2.toString(16).padStart(8, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Formatting.
// ---------------------------------------------------------------------------------------------

export function formatMetric(r: Pick<Result, 'metricName' | 'metric'>): string {
  return r.metricName === 'top-1 accuracy' ? `${(100 * r.metric).toFixed(2)} %` : r.metric.toFixed(3);
}

export function formatBits(bits: number): string {
  const kib = bits / 8 / 1024;
  return `${bits.toLocaleString('en-US')} (${kib >= 1024 ? (kib / 1024).toFixed(2) + ' MiB' : kib.toFixed(1) + ' KiB'})`;
}

/** Relative change vs a float row: accuracy in points, perplexity in percent. */
export function formatDelta(r: Result, float: Result | undefined): string {
  if (!float || r.weightBits === null) return '—';
  if (r.metricName === 'top-1 accuracy') {
    const d = 100 * (r.metric - float.metric);
    return `${d >= 0 ? '+' : ''}${d.toFixed(2)} pt`;
  }
  const d = 100 * (r.metric / float.metric - 1);
  return `${d >= 0 ? '+' : ''}${d.toFixed(2)} %`;
}

export function markdownTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(headers), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

/** The results table of one model (float row first). */
export function resultsTable(results: Result[]): string {
  const float = results.find((r) => r.weightBits === null);
  const rows = results.map((r) => [
    r.weightBits === null ? `float32 (${r.backend})` : `pbq W${r.weightBits}A${r.activationBits}`,
    formatMetric(r),
    formatDelta(r, float),
    formatBits(r.sizeBits),
    r.msPerBatch.toFixed(1),
  ]);
  const m = results[0];
  return markdownTable(
    ['setting', m.metricName, 'vs float32', 'model size, bits', `ms / batch (${m.batchDesc})`], rows);
}
