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

/** A matmul operand whose input statistics are gathered: a layer's input, or its previous hidden state. */
export interface StatsTarget {
  key: string;
  /** Symbolic tensor of the rows (last dimension = K). */
  tensor: tfl.SymbolicTensor;
  /** Rows are h_{t-1}: the sequence output shifted by one step with a zero initial state. */
  shift: boolean;
  k: number;
}

const FULL_SECOND_MOMENT_MAX_K = 2048;

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
  const slot = targets.map((t) => {
    let i = unique.indexOf(t.tensor);
    if (i < 0) i = unique.push(t.tensor) - 1;
    return i;
  });
  const statsModel = tflModule.model({ inputs, outputs: unique });
  const acc = targets.map((t) => ({
    sum: new Float64Array(t.k),
    second: t.k <= FULL_SECOND_MOMENT_MAX_K ? new Float64Array(t.k * t.k) : null,
    diag: new Float64Array(t.k),
    count: 0,
  }));
  const samples = cal.shape[0];
  const dims = cal.shape.slice(1);
  const per = dims.reduce((a, b) => a * b, 1);
  /** Adds the statistics of samples [s, s + b). */
  const accumulateBatch = (s: number, b: number): void => {
    const results = tf.tidy(() => {
      const x = tf.tensor(cal.data.subarray(s * per, (s + b) * per), [b, ...dims], 'float32');
      let outs = statsModel.predict(x) as tf.Tensor | tf.Tensor[];
      if (!Array.isArray(outs)) outs = [outs];
      const got = outs;
      return targets.map((t, i) => {
        const o = got[slot[i]];
        let rows = o;
        if (t.shift) {
          // [B, T, U] -> h_{t-1}: zero state first, last step dropped.
          const [B, T, U] = o.shape;
          rows = tf.concat([tf.zeros([B, 1, U]), tf.slice(o, [0, 0, 0], [B, T - 1, U])], 1);
        }
        const x2 = tf.reshape(rows, [-1, t.k]);
        return [tf.sum(x2, 0), acc[i].second ? tf.matMul(x2, x2, true, false) : tf.sum(tf.square(x2), 0), tf.scalar(x2.shape[0])];
      });
    });
    for (let i = 0; i < targets.length; i++) {
      const [sum, second, count] = results[i];
      const a = acc[i];
      const sv = sum.dataSync();
      for (let k = 0; k < a.sum.length; k++) a.sum[k] += sv[k];
      const qv = second.dataSync();
      if (a.second) for (let j = 0; j < qv.length; j++) a.second[j] += qv[j];
      else for (let j = 0; j < qv.length; j++) a.diag[j] += qv[j];
      a.count += count.dataSync()[0];
      tf.dispose([sum, second, count]);
    }
  };
  for (let s = 0; s < samples; s += batchSize) {
    const b = Math.min(batchSize, samples - s);
    compute(() => accumulateBatch(s, b));
    // Let a long calibration run yield to the event loop (progress bar).
    await new Promise((r) => setImmediate(r));
  }
  const out = new Map<string, InputStats>();
  targets.forEach((t, i) => {
    const a = acc[i];
    const c = Math.max(a.count, 1);
    const mean = a.sum.map((v) => v / c);
    let second: Float64Array | null = null;
    const diag = new Float64Array(t.k);
    if (a.second) {
      second = a.second.map((v) => v / c);
      for (let k = 0; k < t.k; k++) diag[k] = second[k * t.k + k];
    } else {
      for (let k = 0; k < t.k; k++) diag[k] = a.diag[k] / c;
    }
    out.set(t.key, { k: t.k, count: a.count, mean, second, diag });
  });
  return out;
}
