/**
 * `pbq.loadGraphModel(dirOrPath)`: loads a GraphModel written by `pbq convert` from its
 * model.pbq alone, with tfjs-converter (an optional peer dependency). The graph's constants
 * hold the dequantized values and the stored planes are attached to the matmul weights, so pbq
 * multiplies with them (bit-identical to run-time quantization with `--range minmax`). As for
 * LayersModels, the model runs at the planes it was converted for unless the user chose a
 * smaller weightBits (planes_in_force.ts).
 *
 * The constants are not tf.Variables: under `activationMatMul: 'float'` pbq runs their
 * matmuls in float (see the README, "What runs quantized").
 */
import type * as tfconv from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import { attachStoredPlanes, detachStoredPlanes } from '../weight_cache';
import { ConversionError, oneLine } from './errors';
import { tfjsConverter } from './tfjs_converter';
import { pbqWeightValues, readPbqBytes, weightArtifacts } from './load';
import { decodePbq, PbqHeader, PBQ_FILE } from './pbq_format';
import { planesInForce, PlanesInForce } from './planes_in_force';

export interface LoadedPbqGraphModel {
  model: tfconv.GraphModel;
  header: PbqHeader;
  /** Names of the constants whose stored planes are attached. */
  planeWeights: string[];
  /** Stored planes (average, widest channel) and the weightBits the model runs with. */
  planes: PlanesInForce;
}

/** Loads a converted GraphModel from a folder, its model.json/model.pbq path, a URL, or the file's bytes. */
export async function loadPbqGraphModel(source: string | Uint8Array): Promise<LoadedPbqGraphModel> {
  const { bytes, file } = typeof source === 'string' ? await readPbqBytes(source) : { bytes: source, file: PBQ_FILE };
  const decoded = decodePbq(bytes, file);
  const { header, planes } = decoded;
  if (header.format !== 'pbq-graph-model') throw new ConversionError(`${file} holds a LayersModel: load it with pbq.loadLayersModel`);
  const { weightSpecs, weightData } = weightArtifacts(header, pbqWeightValues(decoded));
  const { format: _format, ...extras } = header.modelJsonExtras;
  let model: tfconv.GraphModel;
  try {
    model = await tfjsConverter().loadGraphModel({
      load: async () => ({
        ...extras, format: 'graph-model', modelTopology: header.modelTopology as object, weightSpecs, weightData,
      }),
    });
  } catch (e) {
    if (e instanceof ConversionError) throw e;
    throw new ConversionError(`${file}: cannot build the GraphModel: ${oneLine(e)}`);
  }
  const attached: string[] = [];
  const dataIds: tf.DataId[] = [];
  for (const [name, p] of planes) {
    const t = model.weights[name]?.[0];
    if (t === undefined) {
      for (const id of dataIds) detachStoredPlanes(id);
      model.dispose();
      throw new ConversionError(`${file}: stored planes for '${name}', which is not a constant of the graph`);
    }
    attachStoredPlanes(t.dataId, p.layout, p.weight);
    dataIds.push(t.dataId);
    attached.push(name);
  }
  // The stored planes go with the model (issue 13 item 7: keyed by dataId, they would outlive it).
  const dispose = model.dispose.bind(model);
  model.dispose = () => {
    dispose();
    for (const id of dataIds) detachStoredPlanes(id);
  };
  return { model, header, planeWeights: attached, planes: planesInForce([...planes.values()].map((p) => p.weight)) };
}

/** Loads a converted GraphModel (see loadPbqGraphModel) and returns the GraphModel. */
export async function loadGraphModel(source: string | Uint8Array): Promise<tfconv.GraphModel> {
  return (await loadPbqGraphModel(source)).model;
}
