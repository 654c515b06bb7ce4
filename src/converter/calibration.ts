/**
 * Calibration inputs and the per-layer input statistics gathered from them.
 *
 * Accepted calibration files (JSON):
 *   {"inputs": number[][] | number[][][] | …, "shape"?: number[]}
 *        one nested array per sample (the bundled LMs: 256 windows of 64 token ids);
 *        "shape" (optional) is the full shape including the sample dimension.
 *   {"data": number[], "shape": [samples, ...dims]}          flat values plus their shape.
 *   {"imagesFile": "x.u8", "n": samples, "inputShape"?: [null, ...dims], "scale"?: 1/255}
 *        uint8 values in a file next to the JSON, model input = value · scale (the bundled
 *        MNIST format: 256×784 pixels, scale 1/255).
 * The per-sample shape must match the model's input shape (unknown dimensions match anything).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ConversionError } from './errors';
import { resolveInsideFolder } from '../io/safe_path';
import type { InputStats } from './quant_math';

export interface CalibrationSet {
  source: string;
  data: Float32Array;
  /** [samples, ...dims] */
  shape: number[];
}

const MAX_CALIBRATION_VALUES = 1 << 26;

function flattenNested(v: unknown, shape: number[], depth: number, out: number[]): void {
  if (Array.isArray(v)) {
    if (shape.length === depth) shape.push(v.length);
    else if (shape[depth] !== v.length) throw new ConversionError(`calibration inputs are ragged (length ${v.length} at depth ${depth}, expected ${shape[depth]})`);
    for (const e of v) flattenNested(e, shape, depth + 1, out);
    return;
  }
  if (shape.length !== depth) throw new ConversionError('calibration inputs are ragged (mixed nesting depths)');
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConversionError(`calibration inputs hold a non-finite or non-number value: ${JSON.stringify(v)}`);
  if (out.length >= MAX_CALIBRATION_VALUES) throw new ConversionError('calibration inputs are too large');
  out.push(v);
}

function checkShapeArray(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ConversionError(`calibration ${name} must be an array of positive integers, got ${JSON.stringify(shape)}`);
  }
  return shape as number[];
}

export function readCalibration(file: string): CalibrationSet {
  if (!fs.existsSync(file)) throw new ConversionError(`calibration file not found: ${file}`);
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConversionError(`corrupt calibration JSON in ${file}: ${(e as Error).message}`);
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new ConversionError(`calibration file ${file} is not a JSON object`);
  let data: Float32Array;
  let shape: number[];
  if (typeof meta.imagesFile === 'string') {
    // Inside the calibration file's folder only (src/io/safe_path.ts).
    let bin: string;
    try {
      bin = resolveInsideFolder(path.dirname(file), meta.imagesFile, 'calibration data file', file);
    } catch (e) {
      throw new ConversionError((e as Error).message);
    }
    const bytes = fs.readFileSync(bin);
    const n = meta.n;
    if (!Number.isInteger(n) || (n as number) < 1) throw new ConversionError(`calibration 'n' must be a positive integer, got ${JSON.stringify(n)}`);
    const dims = Array.isArray(meta.inputShape) ? checkShapeArray('inputShape', meta.inputShape.slice(1)) : [bytes.length / (n as number)];
    shape = [n as number, ...dims];
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== bytes.length) throw new ConversionError(`calibration data file ${bin} holds ${bytes.length} bytes, shape [${shape}] needs ${size}`);
    const scale = meta.scale === undefined ? 1 / 255 : Number(meta.scale);
    if (!Number.isFinite(scale)) throw new ConversionError(`calibration 'scale' must be a number`);
    data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = bytes[i] * scale;
  } else if (Array.isArray(meta.inputs) || Array.isArray(meta.data)) {
    const values: number[] = [];
    const nested: number[] = [];
    flattenNested(meta.inputs ?? meta.data, nested, 0, values);
    shape = meta.shape === undefined ? nested : checkShapeArray('shape', meta.shape);
    if (meta.inputs === undefined && meta.shape === undefined) throw new ConversionError(`calibration 'data' needs a 'shape'`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== values.length) throw new ConversionError(`calibration shape [${shape}] needs ${size} values, the file holds ${values.length}`);
    if (shape.length < 2 && meta.shape === undefined) throw new ConversionError('calibration inputs must hold one array per sample');
    data = Float32Array.from(values);
  } else {
    throw new ConversionError(`calibration file ${file} has neither 'inputs', 'data' nor 'imagesFile'`);
  }
  if (shape[0] < 1) throw new ConversionError('calibration set is empty');
  return { source: file, data, shape };
}

/**
 * The calibration set of a conversion: `options.calibration`, else calibration.json next to
 * model.json when present; the first `calibrationSamples` samples when given. `neededBy` names
 * the option that cannot run without one (an error when there is none).
 */
export function selectCalibration(
  options: { calibration?: string; calibrationSamples?: number }, modelDir: string, neededBy: string | null,
): CalibrationSet | null {
  const defaultCal = path.join(modelDir, 'calibration.json');
  let cal: CalibrationSet | null = null;
  if (options.calibration !== undefined) cal = readCalibration(options.calibration);
  else if (fs.existsSync(defaultCal)) cal = readCalibration(defaultCal);
  if (cal !== null && options.calibrationSamples !== undefined) {
    const n = options.calibrationSamples;
    if (!Number.isInteger(n) || n < 1) throw new ConversionError(`--calibration-samples must be a positive integer, got ${n}`);
    if (n < cal.shape[0]) {
      const per = cal.data.length / cal.shape[0];
      cal = { ...cal, data: cal.data.subarray(0, n * per), shape: [n, ...cal.shape.slice(1)] };
    }
  }
  if (neededBy !== null && cal === null) {
    throw new ConversionError(`${neededBy} needs calibration inputs: pass --calibration <file> (no calibration.json next to model.json)`);
  }
  return cal;
}

/** Checks the calibration set against the model's (single) input. */
export function checkCalibrationShape(cal: CalibrationSet, model: tfl.LayersModel): void {
  if (model.inputs.length !== 1) throw new ConversionError(`calibration supports single-input models only (this model has ${model.inputs.length} inputs)`);
  const want = model.inputs[0].shape;
  const got = cal.shape;
  const ok = want.length === got.length && want.every((d, i) => i === 0 || d === null || d === got[i]);
  if (!ok) {
    throw new ConversionError(`calibration shape [${got.join(', ')}] does not match the model input [${want.map((d) => d ?? 'null').join(', ')}]`);
  }
}

/** A matmul operand whose input statistics are gathered. */
export interface StatsTarget {
  key: string;
  /** Symbolic tensors of the float model the rows are computed from. */
  tensors: tfl.SymbolicTensor[];
  /** The rows x (last dimension K) from one batch's values of `tensors` (runs inside tf.tidy). */
  rows: (values: tf.Tensor[]) => tf.Tensor;
  k: number;
}

/** A layer's input rows: the tensor itself. */
export function inputRows([x]: tf.Tensor[]): tf.Tensor {
  return x;
}

/** h_{t-1} of a [B, T, U] output sequence: zero initial state first, last step dropped. */
export function previousStates(h: tf.Tensor): tf.Tensor {
  const [B, T, U] = h.shape;
  return tf.concat([tf.zeros([B, 1, U]), tf.slice(h, [0, 0, 0], [B, T - 1, U])], 1);
}

/** What gruResetGatedStates needs of a tfjs-layers GRUCell (reset_after = false). */
export interface GruCellWeights {
  units: number;
  kernel: tf.Tensor;
  recurrentKernel: tf.Tensor;
  bias: tf.Tensor | null;
  recurrentActivation: (t: tf.Tensor) => tf.Tensor;
}

/**
 * The rows that a GRU's candidate-gate recurrent kernel U_h multiplies: r_t ⊙ h_{t-1}, with the
 * reset gate r_t = σ_rec(x_t·W_r + b_r + h_{t-1}·U_r) (tfjs-layers GRUCell, gate order z, r, h).
 */
export function gruResetGatedStates(cell: GruCellWeights, x: tf.Tensor, h: tf.Tensor): tf.Tensor {
  const u = cell.units;
  const [B, T] = x.shape;
  const prev = tf.reshape(previousStates(h), [B * T, u]);
  const x2 = tf.reshape(x, [B * T, x.shape[2] as number]);
  let pre = tf.add(tf.matMul(x2, tf.slice(cell.kernel, [0, u], [-1, u])), tf.matMul(prev, tf.slice(cell.recurrentKernel, [0, u], [-1, u])));
  if (cell.bias) pre = tf.add(pre, tf.slice(cell.bias, [u], [u]));
  return tf.mul(cell.recurrentActivation(pre), prev);
}

const FULL_SECOND_MOMENT_MAX_K = 2048;

interface Accumulator { sum: Float64Array; second: Float64Array | null; diag: Float64Array; count: number }

function newAccumulator(k: number): Accumulator {
  return { sum: new Float64Array(k), second: k <= FULL_SECOND_MOMENT_MAX_K ? new Float64Array(k * k) : null, diag: new Float64Array(k), count: 0 };
}

function sumAccumulators(parts: Accumulator[]): Accumulator {
  if (parts.length === 1) return parts[0];
  const add = (x: Float64Array, y: Float64Array) => x.map((v, j) => v + y[j]);
  const [a, b] = parts;
  return {
    sum: add(a.sum, b.sum), second: a.second && b.second ? add(a.second, b.second) : null,
    diag: add(a.diag, b.diag), count: a.count + b.count,
  };
}

/** E[x], E[x xᵀ] (or its diagonal) from running sums. */
function momentsOf(a: Accumulator, k: number): InputStats {
  const c = Math.max(a.count, 1);
  const mean = a.sum.map((v) => v / c);
  const diag = new Float64Array(k);
  let second: Float64Array | null = null;
  if (a.second) {
    second = a.second.map((v) => v / c);
    for (let j = 0; j < k; j++) diag[j] = second[j * k + j];
  } else {
    for (let j = 0; j < k; j++) diag[j] = a.diag[j] / c;
  }
  return { k, count: a.count, mean, second, diag };
}

/**
 * Rows to gather statistics of, for one batch of calibration inputs: per target, one or more
 * tensors whose last dimension is the target's K (several when one weight multiplies several
 * operands, e.g. an unrolled RNN's steps). The caller owns `x`; the returned tensors are disposed.
 */
export type BatchRows = (x: tf.Tensor) => tf.Tensor[][];

/**
 * E[x] and E[x xᵀ] (the diagonal only for K > 2048) of the rows `rowsOf` gives on the
 * calibration set, per target (in the order of `ks`), with the same statistics of each half of
 * the samples (`folds`: GPTQ cross-validates its dampening on them). Each batch (its input tensor,
 * `rowsOf` and the sums) runs synchronously inside `compute` (see gatherStats).
 */
export async function accumulateStats(
  cal: CalibrationSet, ks: number[], rowsOf: BatchRows, batchSize = 32,
  compute: (batch: () => void) => void = (batch) => batch(),
): Promise<InputStats[]> {
  const samples = cal.shape[0];
  const dims = cal.shape.slice(1);
  const per = dims.reduce((a, b) => a * b, 1);
  const half = Math.ceil(samples / 2);
  const folds: Array<[number, number]> = samples >= 2 ? [[0, half], [half, samples]] : [[0, samples]];
  const acc = folds.map(() => ks.map((k) => newAccumulator(k)));
  for (const [f, [from, to]] of folds.entries()) {
    for (let s = from; s < to; s += batchSize) {
      const b = Math.min(batchSize, to - s);
      compute(() => {
        const x = tf.tensor(cal.data.subarray(s * per, (s + b) * per), [b, ...dims], 'float32');
        let rows: tf.Tensor[][];
        try {
          rows = rowsOf(x);
        } finally {
          x.dispose();
        }
        for (const [i, parts] of rows.entries()) {
          for (const part of parts) addRows(acc[f][i], part, ks[i]);
          tf.dispose(parts);
        }
      });
      // Let a long calibration run yield to the event loop (progress bar).
      await new Promise((r) => setImmediate(r));
    }
  }
  return ks.map((k, i) => {
    const parts = acc.map((fold) => fold[i]);
    const full = momentsOf(sumAccumulators(parts), k);
    if (parts.length === 2 && full.second !== null && parts.every((p) => p.count > 0)) {
      full.folds = [momentsOf(parts[0], k), momentsOf(parts[1], k)];
    }
    return full;
  });
}

/** Adds the rows of `t` (last dimension K) to the running sums. */
function addRows(a: Accumulator, t: tf.Tensor, k: number): void {
  const [sum, second, count] = tf.tidy(() => {
    const x2 = tf.reshape(t, [-1, k]);
    return [tf.sum(x2, 0), a.second ? tf.matMul(x2, x2, true, false) : tf.sum(tf.square(x2), 0), tf.scalar(x2.shape[0])];
  });
  const sv = sum.dataSync();
  for (let j = 0; j < a.sum.length; j++) a.sum[j] += sv[j];
  const qv = second.dataSync();
  if (a.second) for (let j = 0; j < qv.length; j++) a.second[j] += qv[j];
  else for (let j = 0; j < qv.length; j++) a.diag[j] += qv[j];
  a.count += count.dataSync()[0];
  tf.dispose([sum, second, count]);
}

/**
 * Runs the float model on the calibration set and gathers E[x], E[xxᵀ] per target. Each batch
 * runs synchronously inside `compute` (the converter passes a wrapper that switches to the cpu
 * backend and back, so no other task ever sees the switched backend); the default is the
 * current backend.
 */
export async function gatherStats(
  inputs: tfl.SymbolicTensor[], targets: StatsTarget[], cal: CalibrationSet, tflModule: typeof tfl,
  batchSize = 32, compute: (batch: () => void) => void = (batch) => batch(),
): Promise<Map<string, InputStats>> {
  // A symbolic tensor may feed several targets (an RNN's output sequence is the next layer's
  // input and its own h); a model must list each output once.
  const unique: tfl.SymbolicTensor[] = [];
  const slots = targets.map((t) => t.tensors.map((s) => {
    let i = unique.indexOf(s);
    if (i < 0) i = unique.push(s) - 1;
    return i;
  }));
  const statsModel = tflModule.model({ inputs, outputs: unique });
  const stats = await accumulateStats(cal, targets.map((t) => t.k), (x) => tf.tidy(() => {
    let outs = statsModel.predict(x) as tf.Tensor | tf.Tensor[];
    if (!Array.isArray(outs)) outs = [outs];
    const got = outs;
    return targets.map((t, i) => [t.rows(slots[i].map((j) => got[j]))]);
  }), batchSize, compute);
  return new Map(targets.map((t, i) => [t.key, stats[i]]));
}

/**
 * Calibration statistics kept across conversions of the same float model with the same
 * calibration inputs (they do not depend on the quantization settings), e.g. for a sweep over
 * settings (`npm run convert:table`, the bundled-model tests). Keyed by a hash of the model's
 * topology and weights, the calibration values and the statistics targets.
 */
export class CalibrationCache {
  private entries = new Map<string, Map<string, InputStats>>();

  static key(modelJson: unknown, weights: ArrayLike<ArrayBufferView>, cal: CalibrationSet, targets: Array<{ key: string; k: number }>): string {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const h = (require('crypto') as typeof import('crypto')).createHash('sha256');
    h.update(JSON.stringify(modelJson));
    for (let i = 0; i < weights.length; i++) h.update(new Uint8Array(weights[i].buffer, weights[i].byteOffset, weights[i].byteLength));
    h.update(JSON.stringify(cal.shape)).update(new Uint8Array(cal.data.buffer, cal.data.byteOffset, cal.data.byteLength));
    h.update(JSON.stringify(targets.map((t) => [t.key, t.k])));
    return h.digest('hex');
  }

  get(key: string): Map<string, InputStats> | undefined {
    return this.entries.get(key);
  }

  set(key: string, stats: Map<string, InputStats>): void {
    this.entries.set(key, stats);
  }
}
