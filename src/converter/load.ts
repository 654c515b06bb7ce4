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
import '../../models/chained_ops';
import { dequantizeWeight, QuantizedWeight } from '../quantize';
import { attachStoredPlanes, detachStoredPlanes, WeightLayout } from '../weight_cache';
import { ConversionError, oneLine } from './errors';
import { decodePbq, PbqHeader, PBQ_FILE } from './pbq_format';

export interface LoadedPbqModel {
  model: tfl.LayersModel;
  header: PbqHeader;
  /** Names of the weights whose stored planes are attached. */
  planeWeights: string[];
}

/** The bytes of model.pbq and the file name for messages. */
async function readBytes(source: string): Promise<{ bytes: Uint8Array; file: string }> {
  if (/^https?:\/\//.test(source)) {
    const url = source.endsWith('.pbq') ? source : `${source.replace(/\/model\.json$/, '').replace(/\/$/, '')}/${PBQ_FILE}`;
    const res = await fetch(url);
    if (!res.ok) throw new ConversionError(`cannot fetch ${url}: HTTP ${res.status}`);
    return { bytes: new Uint8Array(await res.arrayBuffer()), file: url };
  }
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

/** Loads a converted model from a folder, its model.json/model.pbq path, a URL, or the file's bytes. */
export async function loadPbqModel(source: string | Uint8Array): Promise<LoadedPbqModel> {
  const { bytes, file } = typeof source === 'string' ? await readBytes(source) : { bytes: source, file: PBQ_FILE };
  const { header, floats, planes } = decodePbq(bytes, file);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const spec of header.weights) {
    weightSpecs.push({ name: spec.name, shape: spec.shape, dtype: spec.dtype });
    const p = planes.get(spec.name);
    if (p) {
      const { weight } = p;
      const values = new Float32Array(weight.batch * weight.k * weight.n);
      for (let b = 0; b < weight.batch; b++) {
        for (let k = 0; k < weight.k; k++) {
          for (let n = 0; n < weight.n; n++) {
            const at = p.layout.transposed ? (b * weight.n + n) * weight.k + k : (b * weight.k + k) * weight.n + n;
            values[at] = dequantizeWeight(weight, b, k, n);
          }
        }
      }
      buffers.push(values.buffer);
    } else {
      const v = floats.get(spec.name) as Float32Array | Int32Array;
      buffers.push(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer);
    }
  }
  const model = await buildModel(header, weightSpecs, buffers, file);
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
    // The layers' call wrappers may keep this function's scope alive: drop the decoded planes.
    planes.clear();
    return { model, header, planeWeights: attached };
  } catch (e) {
    model.dispose();
    throw new ConversionError(`${file}: cannot attach the stored planes: ${oneLine(e)}`);
  }
}

/**
 * Builds the LayersModel from the header and the weight values. A failed build leaves nothing
 * behind: variables that tfjs-layers created before it failed are disposed.
 */
async function buildModel(header: PbqHeader, weightSpecs: tf.io.WeightsManifestEntry[], buffers: ArrayBuffer[], file: string): Promise<tfl.LayersModel> {
  const variablesBefore = new Set(Object.keys(tf.engine().state.registeredVariables));
  try {
    return await tfl.loadLayersModel({
      load: async () => ({
        ...header.modelJsonExtras,
        modelTopology: header.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs,
        weightData: tf.io.concatenateArrayBuffers(buffers),
      }),
    });
  } catch (e) {
    const variables = tf.engine().state.registeredVariables;
    for (const name of Object.keys(variables)) if (!variablesBefore.has(name)) variables[name].dispose();
    throw new ConversionError(`${file}: cannot build the model: ${oneLine(e)}`);
  }
}

/**
 * tfjs-layers' Dense on an input of rank > 2 multiplies with a transposed *copy* of the kernel
 * (K.dot's N-D path), which has a new dataId and so never finds the stored planes. This makes a
 * loaded Dense layer flatten such inputs to 2D instead (the same products, row for row), so its
 * matmul reads the kernel variable itself.
 */
function routeDenseThroughVariable(layer: tfl.layers.Layer): void {
  const sub = (layer as unknown as { layers?: tfl.layers.Layer[] }).layers;
  if (Array.isArray(sub)) {
    sub.forEach(routeDenseThroughVariable);
    return;
  }
  if (layer.getClassName() !== 'Dense') return;
  type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
  const target = layer as unknown as { call: Call };
  const original = target.call.bind(layer) as Call;
  target.call = (inputs, kwargs) => {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!x || x.rank <= 2) return original(inputs, kwargs);
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const y = original(tf.reshape(x, [-1, x.shape[x.rank - 1]]), kwargs) as tf.Tensor;
      return tf.reshape(y, [...lead, y.shape[1] as number]);
    });
  };
}

/** Channels [from, to) of a quantized [1, K, N] weight, as a [1, K, to - from] weight. */
function sliceChannels(w: QuantizedWeight, from: number, to: number): QuantizedWeight {
  const per = w.bits * w.words;
  return {
    bits: w.bits, batch: 1, k: w.k, n: to - from, words: w.words,
    planes: w.planes.slice(from * per, to * per), ranges: w.ranges.slice(from, to),
    ...(w.channelBits ? { channelBits: w.channelBits.slice(from, to) } : {}),
  };
}

type StoredPlanes = Map<string, { weight: QuantizedWeight; layout: WeightLayout }>;

/**
 * tfjs-layers' GRUCell splits its recurrent kernel into [z r] and [h] columns at every step
 * (new tensors, invisible to the stored-plane registry). For a loaded GRU with stored planes,
 * this keeps the two column blocks as variables of their own, with their stored planes, and
 * runs the cell's inference step with them: the same ops in the same order as GRUCell.call.
 * Training calls and cells with dropout keep tfjs-layers' own step.
 */
function splitGruRecurrentKernel(layer: tfl.layers.Layer, planes: StoredPlanes, attached: string[], owned: tf.Variable[]): void {
  const sub = (layer as unknown as { layers?: tfl.layers.Layer[] }).layers;
  if (Array.isArray(sub)) {
    sub.forEach((l) => splitGruRecurrentKernel(l, planes, attached, owned));
    return;
  }
  if (layer.getClassName() !== 'GRU') return;
  type Act = { apply: (t: tf.Tensor) => tf.Tensor };
  type Var = { originalName: string; read: () => tf.Variable };
  const cell = (layer as unknown as { cell: Record<string, unknown> }).cell as {
    units: number; useBias: boolean; dropout: number; recurrentDropout: number; kernel: Var; recurrentKernel: Var;
    bias: Var | null; activation: Act; recurrentActivation: Act;
    call: (inputs: tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor[];
  };
  const stored = planes.get(cell.recurrentKernel.originalName);
  if (!stored || stored.layout.transposed || stored.weight.batch !== 1) return;
  const u = cell.units;
  const full = cell.recurrentKernel.read();
  const [v1, v2] = tf.split(full, [2 * u, u], 1);
  const rk1 = tf.variable(v1, false);
  const rk2 = tf.variable(v2, false);
  tf.dispose([v1, v2]);
  owned.push(rk1, rk2);
  attachStoredPlanes(rk1.dataId, { batch: 1, k: stored.weight.k, n: 2 * u, transposed: false }, sliceChannels(stored.weight, 0, 2 * u));
  attachStoredPlanes(rk2.dataId, { batch: 1, k: stored.weight.k, n: u, transposed: false }, sliceChannels(stored.weight, 2 * u, 3 * u));
  attached.push(`${cell.recurrentKernel.originalName} (split [z r] | [h])`);
  const original = cell.call.bind(cell);
  const dot = (a: tf.Tensor, b: tf.Tensor) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: false, transposeB: false });
  cell.call = (inputs, kwargs) => {
    const training = kwargs?.training ?? false;
    if (training || (cell.dropout > 0 && cell.dropout < 1) || (cell.recurrentDropout > 0 && cell.recurrentDropout < 1) ||
      inputs.length !== 2 || inputs[0].rank !== 2) {
      return original(inputs, kwargs);
    }
    return tf.tidy(() => {
      const [x, hTMinus1] = inputs;
      let matrixX = dot(x, cell.kernel.read());
      if (cell.useBias && cell.bias) matrixX = tf.add(matrixX, tf.reshape(cell.bias.read(), [1, -1]));
      const matrixInner = dot(hTMinus1, rk1);
      const [xZ, xR, xH] = tf.split(matrixX, 3, 1);
      const [recurrentZ, recurrentR] = tf.split(matrixInner, 2, 1);
      const z = cell.recurrentActivation.apply(tf.add(xZ, recurrentZ));
      const r = cell.recurrentActivation.apply(tf.add(xR, recurrentR));
      const recurrentH = dot(tf.mul(r, hTMinus1), rk2);
      const hh = cell.activation.apply(tf.add(xH, recurrentH));
      const h = tf.add(tf.mul(z, hTMinus1), tf.mul(tf.add(1, tf.neg(z)), hh));
      return [h, h];
    });
  };
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
