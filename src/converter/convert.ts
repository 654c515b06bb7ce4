/**
 * `pbq convert`: post-training quantization of a saved tfjs LayersModel to pbq's weight format.
 * See src/converter/README.md for the method and the files written.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import '../chained_ops';
import { quantizeWeights, dequantizeWeight, QuantizedWeight } from '../quantize';
import type { WeightLayout } from '../weight_cache';
import { ConversionError, oneLine } from './errors';
import { readModelFiles, WeightEntry } from './model_io';
import { readCalibration, checkCalibrationShape, gatherStats, CalibrationSet, StatsTarget } from './calibration';
import {
  RangeMode, RANGE_MODES, column, maxAbs, chooseRange, channelDelta, outputError, quadForm, toDb, InputStats,
} from './quant_math';
import { encodePbq, PbqWeightInput, PBQ_FILE } from './pbq_format';
import { checkOutputFolder, cleanLeftovers, OUTPUT_FILES, realPathAllowingMissing, writeAtomically } from './output_dir';
import { onCpuBackend } from './float_backend';

export const QUANTIZED_CLASSES = ['Dense', 'LSTM', 'GRU', 'SimpleRNN'] as const;
export const CONVERTER_VERSION = '0.1.0';

export interface ConvertOptions {
  /** Model folder or model.json path. */
  input: string;
  /** Output folder (must be absent or empty unless `force`). */
  output: string;
  /** Planes per weight, 1..16. */
  weightBits: number;
  /** Recorded in the output for pbq.configure (1..16, default 8); does not change the weights. */
  activationBits?: number;
  /**
   * Range per channel: 'mse' (default: the output error on the calibration inputs when there are
   * some, else the weight error), 'weight-mse', 'minmax' (pbq's run-time choice), 'minmax-tensor'
   * (the baseline).
   */
  range?: RangeMode;
  /** Calibration JSON; default: calibration.json next to model.json when present. */
  calibration?: string;
  biasCorrection?: boolean;
  /** Use only the first N calibration samples (default: all). */
  calibrationSamples?: number;
  /** Extra planes on the channels with the largest output error, up to `budget` average bits. */
  multipoint?: boolean;
  budget?: number;
  /** Bits per layer name (overrides weightBits for that layer). */
  layerBits?: Record<string, number>;
  /** Replace a non-empty output folder, if pbq wrote it (only pbq's files in it). */
  force?: boolean;
  /** Messages about the run that are not errors (e.g. leftovers of an interrupted run cleaned up). */
  onNote?: (message: string) => void;
  /** Progress in [0, 1] with a label (the CLI draws a bar on a TTY). */
  onProgress?: (fraction: number, label: string) => void;
}

export interface TensorReport {
  layer: string;
  className: string;
  weight: string;
  role: 'kernel' | 'recurrent_kernel';
  shape: [number, number];
  bits: number;
  /** Average planes per weight (differs from bits with multipoint). */
  avgBits: number;
  maxBits: number;
  rangeMin: number;
  rangeMax: number;
  /** 10·log10(Σw² / Σ(w-ŵ)²). */
  sqnrDb: number;
  /** E‖x(W-Ŵ)‖² / E‖xW‖² on the calibration inputs of this matmul (after bias correction), or null. */
  outputRelError: number | null;
  biasCorrected: boolean;
  bytesBefore: number;
  bytesAfter: number;
}

export interface ConversionReport {
  input: string;
  output: string;
  settings: {
    weightBits: number; activationBits: number; range: RangeMode; biasCorrection: boolean;
    multipoint: boolean; budget: number | null; layerBits: Record<string, number>;
  };
  calibration: { source: string; samples: number } | null;
  tensors: TensorReport[];
  /** Float weights written unchanged. */
  passthrough: Array<{ name: string; shape: number[]; bytes: number }>;
  /** Biases changed by bias correction. */
  correctedBiases: string[];
  totals: {
    inputWeightBytes: number;
    quantizedFloatBytes: number;
    quantizedPackedBytes: number;
    outputShardBytes: number;
    pbqFileBytes: number;
    /** pbq bits per quantized weight, all tensors. */
    avgBits: number;
  };
  /** Files written to the output folder. */
  files: string[];
  /** What was cleaned up from an earlier interrupted run to the same output (see output_dir.ts). */
  leftovers: string[];
  seconds: number;
}

interface Job {
  layer: tfl.layers.Layer;
  className: string;
  role: 'kernel' | 'recurrent_kernel';
  entry: WeightEntry;
  biasName: string | null;
  statsKey: string;
  bits: number;
  /** Columns whose bias absorbs the correction: [0, biasColumns). */
  biasColumns: number;
}

function checkBits(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 16) {
    throw new ConversionError(`${name} must be an integer in 1..16, got ${String(v)}`);
  }
  return v;
}

/**
 * Every float32 weight must be finite: a quantized one cannot be quantized otherwise, and an
 * untouched one (a bias) would make the outputs NaN; model.pbq refuses both at load.
 */
function checkFiniteWeights(weights: WeightEntry[]): void {
  for (const w of weights) {
    if (w.dtype !== 'float32') continue;
    for (let i = 0; i < w.values.length; i++) {
      if (!Number.isFinite(w.values[i])) {
        throw new ConversionError(`weight '${w.name}' holds a non-finite value (${w.values[i]}) at index ${i}: cannot convert NaN or Inf weights`);
      }
    }
  }
}

/** Every layer, descending into nested models. */
function allLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  const visit = (l: tfl.layers.Layer) => {
    const sub = (l as unknown as { layers?: tfl.layers.Layer[] }).layers;
    if (Array.isArray(sub) && l !== (model as unknown)) sub.forEach(visit);
    else out.push(l);
  };
  model.layers.forEach(visit);
  return out;
}

interface VarLike { originalName: string; shape: number[] }

function varName(v: unknown): string | null {
  return v && typeof (v as VarLike).originalName === 'string' ? (v as VarLike).originalName : null;
}

/** Rejects absurd dimensions in the topology before tfjs allocates (and initializes) them. */
function checkTopologyDims(topology: unknown, limit: number): void {
  const visit = (v: unknown, key: string) => {
    if (Array.isArray(v)) v.forEach((e) => visit(e, key));
    else if (v !== null && typeof v === 'object') for (const [k, e] of Object.entries(v)) visit(e, k);
    else if (typeof v === 'number' && /units|dim|shape|size|filters/i.test(key) && (v > limit || v < -1)) {
      throw new ConversionError(`model.json: '${key}' = ${v} is out of range for this model's weights`);
    }
  };
  visit(topology, '');
}

async function buildModel(topology: Record<string, unknown>, weights: WeightEntry[]): Promise<tfl.LayersModel> {
  const maxDim = weights.reduce((m, w) => Math.max(m, ...w.shape, 0), 0);
  checkTopologyDims(topology, Math.max(4096, maxDim));
  const weightSpecs = weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype }));
  const weightData = tf.io.concatenateArrayBuffers(weights.map((w) => w.values.buffer.slice(
    w.values.byteOffset, w.values.byteOffset + w.values.byteLength) as ArrayBuffer));
  try {
    return await tfl.loadLayersModel({
      load: async () => ({ modelTopology: topology, weightSpecs, weightData, format: 'layers-model' }),
    });
  } catch (e) {
    throw new ConversionError(`cannot build the model from model.json: ${oneLine(e)}`);
  }
}

/** The RNN layer's output sequence (or a sequence-returning copy of it), for h_{t-1} statistics. */
function hiddenSequence(layer: tfl.layers.Layer, input: tfl.SymbolicTensor): tfl.SymbolicTensor | null {
  const cfg0 = layer.getConfig() as { returnSequences?: boolean; returnState?: boolean; goBackwards?: boolean; stateful?: boolean };
  if (cfg0.returnSequences && !cfg0.returnState && !cfg0.goBackwards && !cfg0.stateful) {
    try {
      return layer.output as tfl.SymbolicTensor;
    } catch {
      // shared layer: fall through to a copy
    }
  }
  try {
    const Cls = layer.constructor as new (cfg: unknown) => tfl.layers.Layer;
    const cfg = { ...layer.getConfig(), returnSequences: true, returnState: false, stateful: false, goBackwards: false, name: `${layer.name}_pbq_hidden`,
      kernelInitializer: 'zeros', recurrentInitializer: 'zeros', biasInitializer: 'zeros' };
    const copy = new Cls(cfg);
    const out = copy.apply(input) as tfl.SymbolicTensor;
    copy.setWeights(layer.getWeights());
    return out;
  } catch {
    return null;
  }
}

function layerInput(layer: tfl.layers.Layer): tfl.SymbolicTensor {
  try {
    return layer.input as tfl.SymbolicTensor;
  } catch {
    return layer.getInputAt(0) as tfl.SymbolicTensor;
  }
}

/** Plane bytes of a quantized weight, with its ranges and channel widths. */
function packedBytes(q: QuantizedWeight): number {
  return q.planes.byteLength + q.ranges.byteLength + (q.channelBits ? q.channelBits.byteLength : 0);
}

/**
 * Multipoint (greedy, as in the multipoint paper): `extra` planes, one at a time, each to the
 * channel whose error drops most with one more plane (its range re-chosen for the wider grid).
 * Updates `bitsOf` and `rangeOf` in place.
 */
function allocateExtraPlanes(
  N: number, extra: number, maxBits: number, bitsOf: Int32Array, rangeOf: Float64Array,
  rangeFor: (n: number, bits: number) => number, err: (n: number, bits: number, m: number) => number,
): void {
  const cur = new Float64Array(N);
  const nextRange = new Float64Array(N);
  const next = new Float64Array(N);
  const prepNext = (n: number) => {
    if (bitsOf[n] >= maxBits) {
      next[n] = cur[n];
      return;
    }
    nextRange[n] = rangeFor(n, bitsOf[n] + 1);
    next[n] = err(n, bitsOf[n] + 1, nextRange[n]);
  };
  for (let n = 0; n < N; n++) {
    cur[n] = err(n, bitsOf[n], rangeOf[n]);
    prepNext(n);
  }
  for (let left = extra; left > 0; left--) {
    let best = -1;
    let gain = 0;
    for (let n = 0; n < N; n++) {
      const g = cur[n] - next[n];
      if (bitsOf[n] < maxBits && g > gain) {
        gain = g;
        best = n;
      }
    }
    if (best < 0) break;
    bitsOf[best]++;
    rangeOf[best] = nextRange[best];
    cur[best] = next[best];
    prepNext(best);
  }
}

export async function convert(options: ConvertOptions): Promise<ConversionReport> {
  const t0 = Date.now();
  const weightBits = checkBits('--weight-bits', options.weightBits);
  const activationBits = checkBits('--activation-bits', options.activationBits ?? 8);
  const range: RangeMode = options.range ?? 'mse';
  if (!RANGE_MODES.includes(range)) throw new ConversionError(`--range must be one of ${RANGE_MODES.join(', ')}, got ${String(range)}`);
  const layerBits = options.layerBits ?? {};
  for (const [name, b] of Object.entries(layerBits)) checkBits(`--layer-bits ${name}`, b);
  const multipoint = Boolean(options.multipoint);
  let budget: number | null = null;
  if (multipoint) {
    budget = options.budget ?? weightBits + 0.5;
    if (typeof budget !== 'number' || !Number.isFinite(budget) || budget < weightBits || budget > 16) {
      throw new ConversionError(`--budget must be a number in ${weightBits}..16 (average bits), got ${String(options.budget)}`);
    }
  } else if (options.budget !== undefined) {
    throw new ConversionError('--budget needs --multipoint');
  }
  const biasCorrection = Boolean(options.biasCorrection);
  const progress = options.onProgress ?? (() => undefined);

  const files = readModelFiles(options.input);
  checkFiniteWeights(files.weights);
  const inputDir = path.dirname(path.resolve(files.jsonPath));
  // The input's folder as named and, when model.json is a link, the folder it links into.
  const inputFolders = [inputDir, path.dirname(fs.realpathSync(files.jsonPath))];
  const notes = cleanLeftovers(realPathAllowingMissing(options.output));
  for (const note of notes) options.onNote?.(note);
  const output = checkOutputFolder(inputFolders, options.output, Boolean(options.force));

  let model: tfl.LayersModel | null = null;
  try {
    progress(0, 'building model');
    model = await buildModel(files.modelTopology, files.weights);
    const byName = new Map(files.weights.map((w) => [w.name, w]));

    // Quantized tensors.
    const jobs: Job[] = [];
    const targets: StatsTarget[] = [];
    const layerNames = new Set<string>();
    for (const layer of allLayers(model)) {
      const className = layer.getClassName();
      layerNames.add(layer.name);
      if (!(QUANTIZED_CLASSES as readonly string[]).includes(className)) continue;
      const owner = (className === 'Dense' ? layer : (layer as unknown as { cell: unknown }).cell) as Record<string, unknown>;
      const bits = layerBits[layer.name] ?? weightBits;
      const biasName = owner.useBias === false ? null : varName(owner.bias);
      const kernelName = varName(owner.kernel);
      const input = layerInput(layer);
      const units = owner.units as number;
      const roles: Array<['kernel' | 'recurrent_kernel', string | null]> = [['kernel', kernelName]];
      if (className !== 'Dense') roles.push(['recurrent_kernel', varName(owner.recurrentKernel)]);
      for (const [role, name] of roles) {
        const entry = name === null ? undefined : byName.get(name);
        if (entry === undefined || entry.shape.length !== 2 || entry.dtype !== 'float32') {
          throw new ConversionError(`layer '${layer.name}' (${className}): ${role} weight not found in the manifest as a float32 matrix`);
        }
        const statsKey = `${layer.name}/${role}`;
        let biasColumns = entry.shape[1];
        if (role === 'recurrent_kernel' && className === 'GRU') biasColumns = 2 * units; // h-gate recurrent term is multiplied by r
        jobs.push({ layer, className, role, entry, biasName, statsKey, bits, biasColumns });
        if (role === 'kernel') {
          targets.push({ key: statsKey, tensor: input, shift: false, k: entry.shape[0] });
        } else {
          const hidden = hiddenSequence(layer, input);
          if (hidden !== null) targets.push({ key: statsKey, tensor: hidden, shift: true, k: entry.shape[0] });
        }
      }
    }
    for (const name of Object.keys(layerBits)) {
      if (!jobs.some((j) => j.layer.name === name)) {
        throw new ConversionError(`--layer-bits: no quantized layer named '${name}' (quantized layers: ${[...new Set(jobs.map((j) => j.layer.name))].join(', ') || 'none'})`);
      }
    }

    // Calibration.
    let cal: CalibrationSet | null = null;
    const defaultCal = path.join(inputDir, 'calibration.json');
    if (options.calibration !== undefined) cal = readCalibration(options.calibration);
    else if ((biasCorrection || multipoint || fs.existsSync(defaultCal)) && fs.existsSync(defaultCal)) cal = readCalibration(defaultCal);
    if (cal !== null && options.calibrationSamples !== undefined) {
      const n = options.calibrationSamples;
      if (!Number.isInteger(n) || n < 1) throw new ConversionError(`--calibration-samples must be a positive integer, got ${n}`);
      if (n < cal.shape[0]) {
        const per = cal.data.length / cal.shape[0];
        cal = { ...cal, data: cal.data.subarray(0, n * per), shape: [n, ...cal.shape.slice(1)] };
      }
    }
    if ((biasCorrection || multipoint) && cal === null) {
      throw new ConversionError(`${biasCorrection ? '--bias-correction' : '--multipoint'} needs calibration inputs: pass --calibration <file> (no calibration.json next to model.json)`);
    }
    let stats = new Map<string, InputStats>();
    if (cal !== null && jobs.length > 0) {
      checkCalibrationShape(cal, model);
      progress(0.05, 'calibration');
      try {
        // The float model runs on 'cpu', switched to and back around each synchronous batch.
        stats = await gatherStats(model.inputs, targets, cal, tfl, 32, (batch) => onCpuBackend(batch));
      } catch (e) {
        if (e instanceof ConversionError) throw e;
        throw new ConversionError(`running the model on the calibration inputs failed: ${oneLine(e)}`);
      }
    }

    // Quantize.
    const quantized = new Map<string, { weight: QuantizedWeight; layout: WeightLayout; deq: Float32Array }>();
    const biasDelta = new Map<string, Float64Array>();
    const reports: TensorReport[] = [];
    for (const [ji, job] of jobs.entries()) {
      progress(0.2 + (0.75 * ji) / jobs.length, `${job.layer.name}/${job.role}`);
      await new Promise((r) => setImmediate(r));
      const [K, N] = job.entry.shape as [number, number];
      const W = job.entry.values as Float32Array; // finite: checkFiniteWeights
      const st = stats.get(job.statsKey);
      if (st && !(st.mean.every(Number.isFinite) && st.diag.every(Number.isFinite))) {
        throw new ConversionError(`the calibration inputs give non-finite activations at the input of ${job.statsKey}`);
      }
      const tensorMax = maxAbs(W);
      const cols = Array.from({ length: N }, (_, n) => column(W, K, N, n));
      const canCorrect = biasCorrection && st !== undefined && job.biasName !== null && byName.has(job.biasName);
      // A channel whose bias absorbs the mean shift is judged by the variance of its output error.
      const centered = (n: number) => canCorrect && n < job.biasColumns;
      const rangeFor = (n: number, b: number) => chooseRange(cols[n], b, range, tensorMax, st, centered(n));
      const bitsOf = new Int32Array(N).fill(job.bits);
      const rangeOf = new Float64Array(N);
      for (let n = 0; n < N; n++) rangeOf[n] = rangeFor(n, job.bits);
      if (multipoint && budget !== null) {
        const tensorBudget = job.bits + (budget - weightBits);
        const extra = Math.floor((tensorBudget - job.bits) * N + 1e-9);
        const err = (n: number, b: number, m: number) => {
          const d = channelDelta(cols[n], m, b);
          return st ? outputError(st, d, centered(n)) : d.reduce((s, v) => s + v * v, 0);
        };
        allocateExtraPlanes(N, extra, Math.min(16, job.bits + 8), bitsOf, rangeOf, rangeFor, err);
      }
      let planesBits = 0;
      for (let n = 0; n < N; n++) planesBits = Math.max(planesBits, bitsOf[n]);
      const uniform = bitsOf.every((b) => b === planesBits);
      const layout: WeightLayout = { batch: 1, k: K, n: N, transposed: false };
      const weight = quantizeWeights(W, layout, planesBits, { ranges: rangeOf, ...(uniform ? {} : { channelBits: bitsOf }) });
      const deq = new Float32Array(K * N);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) deq[k * N + n] = dequantizeWeight(weight, 0, k, n);
      quantized.set(job.entry.name, { weight, layout, deq });

      // Errors and bias correction.
      let sw = 0;
      let se = 0;
      let outErr = 0;
      let outRef = 0;
      let delta: Float64Array | null = null;
      if (canCorrect) {
        delta = biasDelta.get(job.biasName as string) ?? new Float64Array(byName.get(job.biasName as string)!.values.length);
        biasDelta.set(job.biasName as string, delta);
      }
      const d = new Float64Array(K);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) {
          d[k] = W[k * N + n] - deq[k * N + n];
          sw += W[k * N + n] * W[k * N + n];
          se += d[k] * d[k];
        }
        if (st) {
          let shift = 0;
          for (let k = 0; k < K; k++) shift += st.mean[k] * d[k];
          const corrected = centered(n);
          outErr += quadForm(st, d) - (corrected ? shift * shift : 0);
          outRef += quadForm(st, cols[n]);
          if (corrected && delta) delta[n] += shift;
        }
      }
      let rMin = Infinity;
      let rMax = 0;
      for (let n = 0; n < N; n++) {
        rMin = Math.min(rMin, weight.ranges[n]);
        rMax = Math.max(rMax, weight.ranges[n]);
      }
      const totalBits = bitsOf.reduce((s, b) => s + b, 0);
      reports.push({
        layer: job.layer.name, className: job.className, weight: job.entry.name, role: job.role, shape: [K, N],
        bits: job.bits, avgBits: totalBits / N, maxBits: planesBits, rangeMin: rMin, rangeMax: rMax,
        sqnrDb: toDb(sw / se), outputRelError: st ? (outRef > 0 ? Math.max(outErr, 0) / outRef : 0) : null,
        biasCorrected: canCorrect, bytesBefore: K * N * 4, bytesAfter: packedBytes(weight),
      });
    }

    // Output weights: dequantized matmul weights, corrected biases, everything else as it was.
    progress(0.95, 'writing');
    const outWeights: PbqWeightInput[] = files.weights.map((w) => {
      const q = quantized.get(w.name);
      if (q) return { name: w.name, shape: w.shape, dtype: 'float32', values: q.deq, quantized: { weight: q.weight, layout: q.layout } };
      const bd = biasDelta.get(w.name);
      if (bd) {
        const v = Float32Array.from(w.values as Float32Array);
        for (let i = 0; i < v.length; i++) v[i] = v[i] + bd[i];
        return { name: w.name, shape: w.shape, dtype: w.dtype, values: v };
      }
      return { name: w.name, shape: w.shape, dtype: w.dtype, values: w.values };
    });
    const maxPlanes = reports.reduce((m, r) => Math.max(m, r.maxBits), 0);
    const settings = {
      weightBits: maxPlanes || weightBits, requestedWeightBits: weightBits, activationBits, range, biasCorrection,
      multipoint, budget, layerBits, converter: `pbq convert ${CONVERTER_VERSION}`,
    };
    const extras: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(files.json)) if (k !== 'modelTopology' && k !== 'weightsManifest') extras[k] = v;
    const pbqBytes = encodePbq(files.modelTopology, extras, settings, outWeights);
    const shard = tf.io.concatenateArrayBuffers(outWeights.map((w) => {
      const v = w.values as Float32Array | Int32Array;
      return v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer;
    }));
    const modelJson = {
      ...extras, modelTopology: files.modelTopology,
      convertedBy: `pbq convert ${CONVERTER_VERSION}`,
      weightsManifest: [{ paths: ['./weights.bin'], weights: outWeights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype })) }],
      pbq: { file: PBQ_FILE, ...settings },
    };
    const quantizedFloatBytes = reports.reduce((s, r) => s + r.bytesBefore, 0);
    const quantizedPackedBytes = reports.reduce((s, r) => s + r.bytesAfter, 0);
    const quantWeights = reports.reduce((s, r) => s + r.shape[0] * r.shape[1], 0);
    const report: ConversionReport = {
      input: files.jsonPath, output,
      settings: { weightBits, activationBits, range, biasCorrection, multipoint, budget, layerBits },
      calibration: cal ? { source: cal.source, samples: cal.shape[0] } : null,
      tensors: reports,
      passthrough: files.weights.filter((w) => !quantized.has(w.name) && !biasDelta.has(w.name))
        .map((w) => ({ name: w.name, shape: w.shape, bytes: w.values.byteLength })),
      correctedBiases: [...biasDelta.keys()],
      totals: {
        inputWeightBytes: files.shardBytes, quantizedFloatBytes, quantizedPackedBytes,
        outputShardBytes: shard.byteLength, pbqFileBytes: pbqBytes.byteLength,
        avgBits: quantWeights > 0 ? reports.reduce((s, r) => s + r.avgBits * r.shape[0] * r.shape[1], 0) / quantWeights : 0,
      },
      files: [...OUTPUT_FILES],
      leftovers: notes,
      seconds: (Date.now() - t0) / 1000,
    };
    writeAtomically(output, {
      'model.json': Buffer.from(JSON.stringify(modelJson)),
      'weights.bin': Buffer.from(shard),
      [PBQ_FILE]: Buffer.from(pbqBytes.buffer, pbqBytes.byteOffset, pbqBytes.byteLength),
      'pbq-report.json': Buffer.from(JSON.stringify(report, null, 1)),
    });
    progress(1, 'done');
    return report;
  } finally {
    model?.dispose();
  }
}
