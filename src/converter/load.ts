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
import { dequantizeWeight } from '../quantize';
import { attachStoredPlanes } from '../weight_cache';
import { routeDenseThroughVariable, splitGruRecurrentKernel } from '../layers/load_patches';
import { ConversionError, oneLine } from './errors';
import { decodePbq, PbqHeader, PBQ_FILE } from './pbq_format';

export interface LoadedPbqModel {
  model: tfl.LayersModel;
  header: PbqHeader;
  /** Names of the weights whose stored planes are attached. */
  planeWeights: string[];
}

async function readBytes(source: string): Promise<Uint8Array> {
  if (/^https?:\/\//.test(source)) {
    const url = source.endsWith('.pbq') ? source : `${source.replace(/\/model\.json$/, '').replace(/\/$/, '')}/${PBQ_FILE}`;
    const res = await fetch(url);
    if (!res.ok) throw new ConversionError(`cannot fetch ${url}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const req = eval('require') as (m: string) => any;
  const fs = req('fs');
  const path = req('path');
  let p = source.startsWith('file://') ? source.slice('file://'.length) : source;
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, PBQ_FILE);
  else if (p.endsWith('.json')) p = path.join(path.dirname(p), PBQ_FILE);
  if (!fs.existsSync(p)) throw new ConversionError(`pbq model file not found: ${p}`);
  const buf: Buffer = fs.readFileSync(p);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Loads a converted model from a folder, its model.json/model.pbq path, a URL, or the file's bytes. */
export async function loadPbqModel(source: string | Uint8Array): Promise<LoadedPbqModel> {
  const bytes = typeof source === 'string' ? await readBytes(source) : source;
  const { header, floats, planes } = decodePbq(bytes);
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
  let model: tfl.LayersModel;
  try {
    model = await tfl.loadLayersModel({
      load: async () => ({
        ...header.modelJsonExtras,
        modelTopology: header.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs,
        weightData: tf.io.concatenateArrayBuffers(buffers),
      }),
    });
  } catch (e) {
    throw new ConversionError(`model.pbq: cannot build the model: ${oneLine(e)}`);
  }
  for (const layer of model.layers) routeDenseThroughVariable(layer);
  const attached: string[] = [];
  const owned: tf.Variable[] = [];
  for (const layer of model.layers) splitGruRecurrentKernel(layer, planes, attached, owned);
  if (owned.length > 0) disposeWithModel(model, owned);
  for (const v of model.weights) {
    const p = planes.get(v.originalName);
    if (!p) continue;
    const variable = v.read();
    attachStoredPlanes(variable.dataId, p.layout, p.weight);
    attached.push(v.originalName);
  }
  return { model, header, planeWeights: attached };
}

/** Frees `owned` (variables the loader made, not the model's weights) when the model is disposed. */
function disposeWithModel(model: tfl.LayersModel, owned: tf.Variable[]): void {
  const dispose = model.dispose.bind(model);
  model.dispose = () => {
    const result = dispose();
    if (result.refCountAfterDispose === 0) tf.dispose(owned);
    return result;
  };
}

/** Loads a converted model (see loadPbqModel) and returns the LayersModel. */
export async function loadLayersModel(source: string | Uint8Array): Promise<tfl.LayersModel> {
  return (await loadPbqModel(source)).model;
}
