/**
 * `pbq.loadLayersModel(dirOrPath)`: loads a model written by `pbq convert` from its compact
 * file `model.pbq` alone (no float shards needed). The model's weights are set to the
 * dequantized values (so any non-matmul use of a weight sees the quantized values) and the
 * stored planes are attached to the quantized kernels, so every pbq backend multiplies with
 * them directly instead of quantizing the float values again.
 *
 * Run it with `pbq.configure({weightBits})` at least the model's `settings.weightBits`
 * (the max planes of any channel): fewer bits truncate the stored planes (LSB planes dropped).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../chained_ops';
import { channelPlanes, QuantizedWeight } from '../quantize';
import { attachStoredPlanes, detachStoredPlanes } from '../weight_cache';
import { routeDenseThroughVariable, splitGruRecurrentKernel } from '../layers/load_patches';
import { isNode } from '../io/file_io';
import { ConversionError, oneLine } from './errors';
import { decodePbq, DecodedPbq, PbqHeader, PBQ_FILE } from './pbq_format';
import { planesInForce, PlanesInForce } from './planes_in_force';

export interface LoadedPbqModel {
  model: tfl.LayersModel;
  header: PbqHeader;
  /** Names of the weights whose stored planes are attached. */
  planeWeights: string[];
  /** Stored planes (average, widest channel) and the weightBits the model runs with. */
  planes: PlanesInForce;
}

/** The model.pbq URL of a folder URL (`out/`, `/models/m`), a model.json URL or a .pbq URL. */
function pbqUrl(source: string): string {
  return source.endsWith('.pbq') ? source : `${source.replace(/\/model\.json$/, '').replace(/\/$/, '')}/${PBQ_FILE}`;
}

/** fetch()es the bytes; in a browser a relative URL is relative to the page, as for tf.loadLayersModel. */
async function fetchBytes(url: string): Promise<{ bytes: Uint8Array; file: string }> {
  if (url.startsWith('file://')) throw new ConversionError(`cannot load ${url}: file:// paths load in Node only (serve the folder and pass its URL)`);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new ConversionError(`cannot fetch ${url}: ${oneLine(e)}`);
  }
  if (!res.ok) throw new ConversionError(`cannot fetch ${url}: HTTP ${res.status}`);
  return { bytes: new Uint8Array(await res.arrayBuffer()), file: url };
}

/** The bytes of model.pbq and the file name for messages (a folder, its model.json/model.pbq path, or a URL). */
export async function readPbqBytes(source: string): Promise<{ bytes: Uint8Array; file: string }> {
  // Outside Node every string is a URL (absolute or relative to the page); in Node, http(s) URLs.
  if (/^https?:\/\//.test(source) || !isNode()) return fetchBytes(pbqUrl(source));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const req = eval('require') as (m: string) => any;
  const fs = req('fs');
  const path = req('path');
  let p = source.startsWith('file://') ? source.slice('file://'.length) : source;
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, PBQ_FILE);
  else if (p.endsWith('.json')) p = path.join(path.dirname(p), PBQ_FILE);
  if (!fs.existsSync(p)) throw new ConversionError(`pbq model file not found: ${p}`);
  if (!fs.statSync(p).isFile()) throw new ConversionError(`pbq model file ${p} is not a regular file`);
  const buf: Buffer = fs.readFileSync(p);
  return { bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file: p };
}

/** Every weight's values: stored planes dequantized (dequantizedValues), the others as stored. */
export function pbqWeightValues({ header, floats, planes }: DecodedPbq): Map<string, Float32Array | Int32Array> {
  const values = new Map<string, Float32Array | Int32Array>();
  for (const spec of header.weights) {
    const p = planes.get(spec.name);
    values.set(spec.name, p ? dequantizedValues(p.weight, p.layout.transposed) : floats.get(spec.name) as Float32Array | Int32Array);
  }
  return values;
}

/** The weight specs and data tfjs' loaders take, from pbqWeightValues. */
export function weightArtifacts(header: PbqHeader, values: Map<string, Float32Array | Int32Array>): { weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer } {
  return {
    weightSpecs: header.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype })),
    weightData: tf.io.concatenateArrayBuffers(header.weights.map((w) => {
      const v = values.get(w.name) as Float32Array | Int32Array;
      return v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer;
    })),
  };
}

/** Loads a converted model from a folder, its model.json/model.pbq path, a URL, or the file's bytes. */
export async function loadPbqModel(source: string | Uint8Array): Promise<LoadedPbqModel> {
  const { bytes, file } = typeof source === 'string' ? await readPbqBytes(source) : { bytes: source, file: PBQ_FILE };
  const decoded = decodePbq(bytes, file);
  const { header, planes } = decoded;
  if (header.format === 'pbq-graph-model') throw new ConversionError(`${file} holds a GraphModel: load it with pbq.loadGraphModel`);
  const model = await buildModel(header, pbqWeightValues(decoded), file);
  try {
    for (const layer of model.layers) routeDenseThroughVariable(layer);
    const attached: string[] = [];
    const owned: tf.Variable[] = [];
    for (const layer of model.layers) splitGruRecurrentKernel(layer, planes, attached, owned);
    for (const v of model.weights) {
      const p = planes.get(v.originalName);
      if (!p) continue;
      attachStoredPlanes(v.read().dataId, p.layout, p.weight);
      attached.push(v.originalName);
    }
    releaseWithModel(model, owned);
    const inForce = planesInForce([...planes.values()].map((p) => p.weight));
    // The layers' call wrappers may keep this function's scope alive: drop the decoded planes.
    planes.clear();
    return { model, header, planeWeights: attached, planes: inForce };
  } catch (e) {
    model.dispose();
    throw new ConversionError(`${file}: cannot attach the stored planes: ${oneLine(e)}`);
  }
}

/**
 * The values the stored planes stand for, in the weight's own layout: dequantizeWeight of every
 * element (m_n·(2q + 1) / 2^t, the same float operations), channel by channel.
 */
function dequantizedValues(weight: QuantizedWeight, transposed: boolean): Float32Array {
  const { batch, k: K, n: N, words } = weight;
  const values = new Float32Array(batch * K * N);
  for (let c = 0; c < batch * N; c++) {
    const b = Math.floor(c / N);
    const n = c % N;
    const t = channelPlanes(weight, c, weight.bits);
    const range = weight.ranges[c];
    const denominator = 2 ** t;
    const base = c * weight.bits * words;
    for (let k = 0; k < K; k++) {
      let q = 0;
      for (let p = 0; p < t; p++) {
        const bit = (weight.planes[base + p * words + (k >>> 5)] >>> (k & 31)) & 1;
        q = p === 0 ? -bit : 2 * q + bit;
      }
      values[transposed ? (b * N + n) * K + k : (b * K + k) * N + n] = (range * (2 * q + 1)) / denominator;
    }
  }
  return values;
}

/**
 * Builds the LayersModel from the header with its weights, leaving nothing behind on failure.
 * tfjs-layers' loader keeps the weight tensors it decoded when they do not fit the model, and the
 * variables of a half-built model; so the weights are first checked against a probe build (the
 * same topology with zero initializers: cheap, disposed), then tfjs-layers builds the model with
 * its fast weight initialization and loads them.
 */
async function buildModel(header: PbqHeader, values: Map<string, Float32Array | Int32Array>, file: string): Promise<tfl.LayersModel> {
  const expected = await probeWeightShapes(header, file);
  const problem = weightsMismatch(header.weights, expected);
  if (problem !== null) throw new ConversionError(`${file}: the weights do not fit the model: ${problem}`);
  return withoutLeftovers(file, () => tfl.loadLayersModel({
    load: async () => ({
      ...header.modelJsonExtras,
      modelTopology: header.modelTopology as tf.io.ModelArtifacts['modelTopology'],
      ...weightArtifacts(header, values),
    }),
  }));
}

/** Runs a tfjs-layers build; on failure disposes the variables it created and names the file. */
async function withoutLeftovers(file: string, build: () => Promise<tfl.LayersModel>): Promise<tfl.LayersModel> {
  const variablesBefore = new Set(Object.keys(tf.engine().state.registeredVariables));
  try {
    return await build();
  } catch (e) {
    const variables = tf.engine().state.registeredVariables;
    for (const name of Object.keys(variables)) if (!variablesBefore.has(name)) variables[name].dispose();
    throw new ConversionError(`${file}: cannot build the model: ${oneLine(e)}`);
  }
}

/** Weight names and shapes of the model the topology describes (built with zero initializers, then disposed). */
async function probeWeightShapes(header: PbqHeader, file: string): Promise<Map<string, number[]>> {
  const probe = await withoutLeftovers(file, () => tfl.loadLayersModel({ load: async () => ({ modelTopology: zeroInitializers(header.modelTopology) as tf.io.ModelArtifacts['modelTopology'] }) }));
  const shapes = new Map(probe.weights.map((w) => [w.originalName, w.shape as number[]]));
  probe.dispose();
  return shapes;
}

/** A copy of a Keras topology with every `*_initializer` replaced by zeros. */
function zeroInitializers(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(zeroInitializers);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(v)) out[k] = /_initializer$/.test(k) && e !== null ? { class_name: 'Zeros', config: {} } : zeroInitializers(e);
  return out;
}

/** What differs between the file's weights and the model's (names and shapes), or null. */
function weightsMismatch(weights: Array<{ name: string; shape: number[] }>, expected: Map<string, number[]>): string | null {
  for (const w of weights) {
    const shape = expected.get(w.name);
    if (shape === undefined) return `the model has no weight '${w.name}'`;
    if (shape.length !== w.shape.length || shape.some((d, i) => d !== w.shape[i])) {
      return `weight '${w.name}' has shape [${w.shape.join(', ')}], the model's is [${shape.join(', ')}]`;
    }
  }
  const names = new Set(weights.map((w) => w.name));
  const missing = [...expected.keys()].filter((n) => !names.has(n));
  return missing.length > 0 ? `the file has no values for ${missing.map((n) => `'${n}'`).join(', ')}` : null;
}

/**
 * When the model is disposed (its last reference), frees what the loader made for it: the
 * variables it owns (GRU's split recurrent kernels) and the stored planes attached to every
 * weight. The plane registry is keyed by dataId; tfjs-layers' caches keep a disposed model's
 * dataIds reachable, so the planes must be detached explicitly, not left to the WeakMap.
 */
function releaseWithModel(model: tfl.LayersModel, owned: tf.Variable[]): void {
  const dispose = model.dispose.bind(model);
  model.dispose = () => {
    let dataIds: tf.DataId[] = [];
    try {
      dataIds = [...model.weights.map((v) => v.read().dataId), ...owned.map((v) => v.dataId)];
    } catch {
      // already disposed: tfjs-layers' dispose below reports it
    }
    const result = dispose();
    if (result.refCountAfterDispose === 0) {
      for (const id of dataIds) detachStoredPlanes(id);
      tf.dispose(owned);
    }
    return result;
  };
}

/** Loads a converted model (see loadPbqModel) and returns the LayersModel. */
export async function loadLayersModel(source: string | Uint8Array): Promise<tfl.LayersModel> {
  return (await loadPbqModel(source)).model;
}
