/**
 * What `pbq convert` writes, for LayersModels and GraphModels alike: a stock model.json + one
 * shard holding the dequantized matmul weights and corrected biases (any tfjs backend loads
 * it), and the compact model.pbq (pbq_format.ts); plus the per-tensor report fields.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { QuantizedWeight } from '../quantize';
import type { WeightLayout } from '../weight_cache';
import type { ModelFiles } from './model_io';
import type { TensorReport } from './convert';
import { encodePbq, PbqModelFormat, PbqWeightInput, PBQ_FILE } from './pbq_format';
import { packedPlaneWords } from './plane_packing';
import { toDb } from './quant_math';
import type { TensorQuantResult } from './tensor_quant';

export interface QuantizedEntry {
  weight: QuantizedWeight;
  layout: WeightLayout;
  /** Dequantized values in the weight's own layout (as stored in the manifest). */
  deq: Float32Array;
}

/** Bytes of a quantized weight in model.pbq: its planes (each channel's own), ranges and channel widths. */
export function packedBytes(q: QuantizedWeight): number {
  const planeWords = q.channelBits ? packedPlaneWords(q.channelBits, q.words) : q.planes.length;
  return planeWords * 4 + q.ranges.byteLength + (q.channelBits ? q.channelBits.byteLength : 0);
}

/** The report fields that describe a quantized [K, N] tensor. */
export function tensorSummary(q: TensorQuantResult, bits: number): Pick<TensorReport,
  'bits' | 'avgBits' | 'maxBits' | 'rangeMin' | 'rangeMax' | 'sqnrDb' | 'outputRelError' | 'rounding' | 'gptqDampening' | 'bytesBefore' | 'bytesAfter'> {
  const { weight } = q;
  const N = weight.n;
  let rangeMin = Infinity;
  let rangeMax = 0;
  for (let n = 0; n < N; n++) {
    rangeMin = Math.min(rangeMin, weight.ranges[n]);
    rangeMax = Math.max(rangeMax, weight.ranges[n]);
  }
  const outputRelError = q.outputError === null || q.outputEnergy === null ? null
    : q.outputEnergy > 0 ? Math.max(q.outputError, 0) / q.outputEnergy : 0;
  return {
    bits, avgBits: q.bitsOf.reduce((s, b) => s + b, 0) / N, maxBits: weight.bits, rangeMin, rangeMax,
    sqnrDb: toDb(q.weightEnergy / q.weightError), outputRelError,
    rounding: q.gptqChannels > 0 ? 'gptq' : 'nearest',
    ...(q.gptqChannels > 0 ? { gptqDampening: q.gptqDampening } : {}),
    bytesBefore: weight.k * N * 4, bytesAfter: packedBytes(weight),
  };
}

export interface BuiltOutputs {
  /** model.json, weights.bin and model.pbq (the report is added by the caller). */
  contents: Record<string, Buffer>;
  shardBytes: number;
  pbqFileBytes: number;
  /** Weights written as they were. */
  passthrough: Array<{ name: string; shape: number[]; bytes: number }>;
}

/**
 * The output files: every weight of the input manifest in its order, quantized ones dequantized
 * (and as planes in model.pbq), corrected biases with their shift added, the rest unchanged.
 * The model.json keeps the input's other keys (format, signature, …) and gains a `pbq` key.
 */
export function buildOutputs(
  files: ModelFiles, quantized: Map<string, QuantizedEntry>, biasDelta: Map<string, Float64Array>,
  settings: Record<string, unknown>, format: PbqModelFormat, convertedBy: string,
): BuiltOutputs {
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
  const extras: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(files.json)) if (k !== 'modelTopology' && k !== 'weightsManifest') extras[k] = v;
  const pbqBytes = encodePbq(files.modelTopology, extras, settings, outWeights, format);
  const shard = tf.io.concatenateArrayBuffers(outWeights.map((w) => {
    const v = w.values as Float32Array | Int32Array;
    return v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer;
  }));
  const modelJson = {
    ...extras, modelTopology: files.modelTopology, convertedBy,
    weightsManifest: [{ paths: ['./weights.bin'], weights: outWeights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype })) }],
    pbq: { file: PBQ_FILE, ...settings },
  };
  return {
    contents: {
      'model.json': Buffer.from(JSON.stringify(modelJson)),
      'weights.bin': Buffer.from(shard),
      [PBQ_FILE]: Buffer.from(pbqBytes.buffer, pbqBytes.byteOffset, pbqBytes.byteLength),
    },
    shardBytes: shard.byteLength,
    pbqFileBytes: pbqBytes.byteLength,
    passthrough: files.weights.filter((w) => !quantized.has(w.name) && !biasDelta.has(w.name))
      .map((w) => ({ name: w.name, shape: w.shape, bytes: w.values.byteLength })),
  };
}
