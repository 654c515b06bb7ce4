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
import { ConversionError, oneLine } from './errors';
import { isGraphModelJson, readModelFiles, WeightEntry } from './model_io';
import {
  selectCalibration, checkCalibrationShape, gatherStats, CalibrationCache, CalibrationSet, StatsTarget, inputRows, previousStates, gruResetGatedStates,
} from './calibration';
import { RangeMode, RANGE_MODES, InputStats } from './quant_math';
import { PbqModelFormat, PBQ_FILE } from './pbq_format';
import { buildOutputs, QuantizedEntry, tensorSummary } from './outputs';
import { quantizeGraphModel } from './graph_model';
import { DEFAULT_GPTQ, GptqSettings, GPTQ_ORDERS, Rounding, ROUNDINGS } from './gptq';
import { quantizeTensor } from './tensor_quant';
import { isBitCount, MAX_BITS } from '../quantize';
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
  /** How each weight gets its code: 'nearest' level (default) or 'gptq' (error-compensating, gptq.ts). */
  rounding?: Rounding;
  gptq?: Partial<GptqSettings>;
  /** Bits per layer name (overrides weightBits for that layer). */
  layerBits?: Record<string, number>;
  /** Replace a non-empty output folder, if pbq wrote it (only pbq's files in it). */
  force?: boolean;
  /** Messages about the run that are not errors (e.g. leftovers of an interrupted run cleaned up). */
  onNote?: (message: string) => void;
  /** Reuses the calibration statistics of an earlier conversion of the same model and inputs. */
  calibrationCache?: CalibrationCache;
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
  /** How the codes were chosen ('nearest' when GPTQ was asked for but had no full E[x xᵀ]). */
  rounding: Rounding;
  /** GPTQ's dampening λ per group of channels sharing one H (cross-validated with 'auto'). */
  gptqDampening?: number[];
  bytesBefore: number;
  bytesAfter: number;
}

export interface ConversionReport {
  input: string;
  output: string;
  settings: {
    weightBits: number; activationBits: number; range: RangeMode; biasCorrection: boolean;
    multipoint: boolean; budget: number | null; layerBits: Record<string, number>;
    rounding: Rounding; gptq: GptqSettings | null;
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
    /** pbq bits (planes) per quantized weight, all tensors: the true size of a multipoint model. */
    avgBits: number;
    /** The widest channel's planes: what a run needs (weightBits) to use every stored plane. */
    maxBits: number;
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
  /**
   * GRU recurrent kernel: the candidate-gate columns [from, N) multiply r_t ⊙ h_{t-1}, whose
   * statistics are kept under `key`.
   */
  gatedColumns?: { from: number; key: string };
  bits: number;
}

function checkBits(name: string, v: unknown): number {
  if (!isBitCount(v)) throw new ConversionError(`${name} must be an integer in 1..${MAX_BITS}, got ${String(v)}`);
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
interface VarRead { read: () => tf.Tensor }

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

function checkGptqSettings(given: Partial<GptqSettings> | undefined): GptqSettings {
  const dampening = given?.dampening ?? DEFAULT_GPTQ.dampening;
  if (dampening !== 'auto' && (typeof dampening !== 'number' || !Number.isFinite(dampening) || dampening < 0 || dampening > 10)) {
    throw new ConversionError(`--gptq-dampening must be 'auto' or a number in 0..10, got ${JSON.stringify(given?.dampening)}`);
  }
  const order = given?.order ?? DEFAULT_GPTQ.order;
  if (!GPTQ_ORDERS.includes(order)) throw new ConversionError(`--gptq-order must be one of ${GPTQ_ORDERS.join(', ')}, got ${String(order)}`);
  return { dampening, order };
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
    if (typeof budget !== 'number' || !Number.isFinite(budget) || budget < weightBits || budget > MAX_BITS) {
      throw new ConversionError(`--budget must be a number in ${weightBits}..${MAX_BITS} (average bits), got ${String(options.budget)}`);
    }
  } else if (options.budget !== undefined) {
    throw new ConversionError('--budget needs --multipoint');
  }
  const biasCorrection = Boolean(options.biasCorrection);
  const rounding: Rounding = options.rounding ?? 'nearest';
  if (!ROUNDINGS.includes(rounding)) throw new ConversionError(`--rounding must be one of ${ROUNDINGS.join(', ')}, got ${String(rounding)}`);
  if (options.gptq !== undefined && rounding !== 'gptq') throw new ConversionError('--gptq-dampening and --gptq-order need --rounding gptq');
  const gptqSettings = checkGptqSettings(options.gptq);
  const progress = options.onProgress ?? (() => undefined);

  const files = readModelFiles(options.input, { graphModels: true });
  checkFiniteWeights(files.weights);
  const inputDir = path.dirname(path.resolve(files.jsonPath));
  // The input's folder as named and, when model.json is a link, the folder it links into.
  const inputFolders = [inputDir, path.dirname(fs.realpathSync(files.jsonPath))];
  const notes = cleanLeftovers(realPathAllowingMissing(options.output));
  for (const note of notes) options.onNote?.(note);
  const output = checkOutputFolder(inputFolders, options.output, Boolean(options.force));
  const calibrationNeededBy = biasCorrection ? '--bias-correction' : multipoint ? '--multipoint' : rounding === 'gptq' ? '--rounding gptq' : null;

  /** Writes the outputs and returns the report. */
  const finish = (
    quantized: Map<string, QuantizedEntry>, biasDelta: Map<string, Float64Array>, reports: TensorReport[],
    cal: CalibrationSet | null, format: PbqModelFormat,
  ): ConversionReport => {
    progress(0.95, 'writing');
    const maxPlanes = reports.reduce((m, r) => Math.max(m, r.maxBits), 0);
    const quantWeights = reports.reduce((s, r) => s + r.shape[0] * r.shape[1], 0);
    const avgBits = quantWeights > 0 ? reports.reduce((s, r) => s + r.avgBits * r.shape[0] * r.shape[1], 0) / quantWeights : 0;
    const settings = {
      weightBits: maxPlanes || weightBits, requestedWeightBits: weightBits, avgBits, activationBits, range, biasCorrection,
      multipoint, budget, layerBits, rounding, ...(rounding === 'gptq' ? { gptq: gptqSettings } : {}), converter: `pbq convert ${CONVERTER_VERSION}`,
    };
    const built = buildOutputs(files, quantized, biasDelta, settings, format, `pbq convert ${CONVERTER_VERSION}`);
    const report: ConversionReport = {
      input: files.jsonPath, output,
      settings: {
        weightBits, activationBits, range, biasCorrection, multipoint, budget, layerBits, rounding,
        gptq: rounding === 'gptq' ? gptqSettings : null,
      },
      calibration: cal ? { source: cal.source, samples: cal.shape[0] } : null,
      tensors: reports,
      passthrough: built.passthrough,
      correctedBiases: [...biasDelta.keys()],
      totals: {
        inputWeightBytes: files.shardBytes,
        quantizedFloatBytes: reports.reduce((s, r) => s + r.bytesBefore, 0),
        quantizedPackedBytes: reports.reduce((s, r) => s + r.bytesAfter, 0),
        outputShardBytes: built.shardBytes, pbqFileBytes: built.pbqFileBytes, avgBits, maxBits: maxPlanes,
      },
      files: [...OUTPUT_FILES],
      leftovers: notes,
      seconds: (Date.now() - t0) / 1000,
    };
    writeAtomically(output, { ...built.contents, 'pbq-report.json': Buffer.from(JSON.stringify(report, null, 1)) });
    progress(1, 'done');
    return report;
  };

  if (isGraphModelJson(files.json)) {
    const cal = selectCalibration(options, inputDir, calibrationNeededBy);
    const settings = { weightBits, range, layerBits, multipoint, budget, biasCorrection, rounding, gptq: gptqSettings };
    const q = await quantizeGraphModel(files, settings, cal, { progress, calibrationCache: options.calibrationCache });
    return finish(q.quantized, q.biasDelta, q.reports, cal, 'pbq-graph-model');
  }

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
        const k = entry.shape[0];
        const job: Job = { layer, className, role, entry, biasName, statsKey, bits };
        jobs.push(job);
        if (role === 'kernel') {
          targets.push({ key: statsKey, tensors: [input], rows: inputRows, k });
          continue;
        }
        const hidden = hiddenSequence(layer, input);
        if (hidden === null) continue;
        targets.push({ key: statsKey, tensors: [hidden], rows: ([h]) => previousStates(h), k });
        if (className === 'GRU') {
          const cell = owner as unknown as { kernel: VarRead; recurrentKernel: VarRead; bias: VarRead | null; recurrentActivation: { apply: (t: tf.Tensor) => tf.Tensor } };
          job.gatedColumns = { from: 2 * units, key: `${statsKey}/reset-gated` };
          targets.push({
            key: job.gatedColumns.key, tensors: [input, hidden], k,
            rows: ([x, h]) => gruResetGatedStates({
              units, kernel: cell.kernel.read(), recurrentKernel: cell.recurrentKernel.read(), bias: owner.useBias === false || !cell.bias ? null : cell.bias.read(),
              recurrentActivation: (t) => cell.recurrentActivation.apply(t),
            }, x, h),
          });
        }
      }
    }
    for (const name of Object.keys(layerBits)) {
      if (!jobs.some((j) => j.layer.name === name)) {
        throw new ConversionError(`--layer-bits: no quantized layer named '${name}' (quantized layers: ${[...new Set(jobs.map((j) => j.layer.name))].join(', ') || 'none'})`);
      }
    }

    // Calibration.
    const cal = selectCalibration(options, inputDir, calibrationNeededBy);
    let stats = new Map<string, InputStats>();
    if (cal !== null && jobs.length > 0) {
      checkCalibrationShape(cal, model);
      progress(0.05, 'calibration');
      try {
        const key = options.calibrationCache && CalibrationCache.key(files.json, files.weights.map((w) => w.values), cal, targets);
        stats = (key && options.calibrationCache?.get(key)) || await gatherStats(model.inputs, targets, cal, tfl, 32, (batch) => onCpuBackend(batch));
        if (key) options.calibrationCache?.set(key, stats);
      } catch (e) {
        if (e instanceof ConversionError) throw e;
        throw new ConversionError(`running the model on the calibration inputs failed: ${oneLine(e)}`);
      }
    }

    // Quantize.
    const quantized = new Map<string, QuantizedEntry>();
    const biasDelta = new Map<string, Float64Array>();
    const reports: TensorReport[] = [];
    for (const [ji, job] of jobs.entries()) {
      progress(0.2 + (0.75 * ji) / jobs.length, `${job.layer.name}/${job.role}`);
      await new Promise((r) => setImmediate(r));
      const [K, N] = job.entry.shape as [number, number];
      const W = job.entry.values as Float32Array; // finite: checkFiniteWeights
      const st = stats.get(job.statsKey);
      const gated = job.gatedColumns ? stats.get(job.gatedColumns.key) : undefined;
      for (const [key, s] of [[job.statsKey, st], [job.gatedColumns?.key, gated]] as const) {
        if (s && !(s.mean.every(Number.isFinite) && s.diag.every(Number.isFinite))) {
          throw new ConversionError(`the calibration inputs give non-finite activations at the input of ${key}`);
        }
      }
      const statsOf = (n: number) => (job.gatedColumns && n >= job.gatedColumns.from ? gated : st);
      const canCorrect = biasCorrection && st !== undefined && job.biasName !== null && byName.has(job.biasName);
      const extraPlanes = multipoint && budget !== null ? Math.floor((budget - weightBits) * N + 1e-9) : 0;
      const q = quantizeTensor({
        values: W, k: K, n: N, bits: job.bits, range,
        // A channel whose bias absorbs the mean shift is judged by the variance of its output error.
        channel: (n) => ({ stats: statsOf(n), centered: canCorrect && statsOf(n) !== undefined }),
        extraPlanes, maxBits: Math.min(16, job.bits + 8), rounding, gptq: gptqSettings,
      });
      const { weight, layout, deq } = q;
      quantized.set(job.entry.name, { weight, layout, deq });
      if (canCorrect) {
        const delta = biasDelta.get(job.biasName as string) ?? new Float64Array(byName.get(job.biasName as string)!.values.length);
        biasDelta.set(job.biasName as string, delta);
        for (let n = 0; n < N; n++) if (statsOf(n) !== undefined) delta[n] += q.meanShift[n];
      }
      reports.push({
        layer: job.layer.name, className: job.className, weight: job.entry.name, role: job.role, shape: [K, N],
        ...tensorSummary(q, job.bits), biasCorrected: canCorrect,
      });
    }

    return finish(quantized, biasDelta, reports, cal, 'pbq-layers-model');
  } finally {
    model?.dispose();
  }
}
