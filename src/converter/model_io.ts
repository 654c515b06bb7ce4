/**
 * Strict reader of a saved tfjs LayersModel (model.json + weight shards) for the converter:
 * every problem with the files is a ConversionError with a one-line message.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ConversionError } from './errors';
import { resolveInsideFolder } from '../io/safe_path';

export interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

export interface ModelFiles {
  /** Path of model.json. */
  jsonPath: string;
  /** Parsed model.json (the whole object). */
  json: Record<string, unknown>;
  modelTopology: Record<string, unknown>;
  /** Weights in manifest order. */
  weights: WeightEntry[];
  /** Bytes of all shards. */
  shardBytes: number;
}

const MAX_ELEMENTS = 1 << 28;

/** model.json of a folder or the given file. */
export function modelJsonPath(input: string): string {
  let p = input.startsWith('file://') ? input.slice('file://'.length) : input;
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) p = path.join(p, 'model.json');
  return p;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ConversionError(`weight '${name}' has an invalid shape ${JSON.stringify(shape)}`);
  }
  const size = shape.reduce((a: number, b: number) => a * b, 1);
  if (size > MAX_ELEMENTS) throw new ConversionError(`weight '${name}' is too large (${size} elements)`);
  return shape as number[];
}

/** True for a tfjs GraphModel's model.json (format 'graph-model', or a GraphDef topology). */
export function isGraphModelJson(json: Record<string, unknown>): boolean {
  return json.format === 'graph-model' || (isObject(json.modelTopology) && 'node' in json.modelTopology);
}

/** Reads a LayersModel (or, with `graphModels`, also a GraphModel) folder strictly. */
export function readModelFiles(input: string, options: { graphModels?: boolean } = {}): ModelFiles {
  const jsonPath = modelJsonPath(input);
  if (!fs.existsSync(jsonPath)) throw new ConversionError(`model.json not found: ${jsonPath}`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new ConversionError(`corrupt JSON in ${jsonPath}: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw new ConversionError(`${jsonPath} is not a JSON object`);
  if (!options.graphModels && isGraphModelJson(json)) {
    throw new ConversionError(`${jsonPath} is a tfjs GraphModel; pbq convert reads LayersModels only ` +
      `(save the Keras/tfjs model as a LayersModel, e.g. tensorflowjs_converter --output_format tfjs_layers_model)`);
  }
  if (!isObject(json.modelTopology)) throw new ConversionError(`${jsonPath} has no modelTopology (not a tfjs LayersModel)`);
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new ConversionError(`${jsonPath}: weightsManifest is not an array`);
  const dir = path.dirname(jsonPath);
  const weights: WeightEntry[] = [];
  const seen = new Set<string>();
  let shardBytes = 0;
  for (const [gi, group] of manifest.entries()) {
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new ConversionError(`${jsonPath}: weightsManifest[${gi}] needs 'paths' and 'weights' arrays`);
    }
    // Shards must be files inside the model's folder (src/io/safe_path.ts).
    const shardFiles = group.paths.map((p: unknown) => {
      try {
        return resolveInsideFolder(dir, p, 'weight shard', jsonPath);
      } catch (e) {
        throw new ConversionError((e as Error).message);
      }
    });
    let offset = 0;
    const entries: Array<{ name: string; shape: number[]; dtype: 'float32' | 'int32'; offset: number }> = [];
    for (const w of group.weights) {
      if (!isObject(w) || typeof w.name !== 'string') throw new ConversionError(`${jsonPath}: weightsManifest[${gi}] has an entry without a name`);
      const name = w.name;
      if (seen.has(name)) throw new ConversionError(`weight '${name}' appears twice in the manifest`);
      seen.add(name);
      if (w.quantization !== undefined) {
        throw new ConversionError(`weight '${name}' is stored quantized by tfjs (${JSON.stringify(w.quantization)}); convert from the float32 model`);
      }
      if (w.dtype !== 'float32' && w.dtype !== 'int32') {
        throw new ConversionError(`weight '${name}' has unsupported dtype ${JSON.stringify(w.dtype)} (float32 or int32 expected)`);
      }
      const shape = checkShape(name, w.shape);
      entries.push({ name, shape, dtype: w.dtype, offset });
      offset += shape.reduce((a, b) => a * b, 1) * 4;
    }
    // Sizes before reading: a shard of the wrong size is never read (it may be huge).
    const fileBytes = shardFiles.reduce((sum: number, f: string) => sum + fs.statSync(f).size, 0);
    if (offset !== fileBytes) {
      throw new ConversionError(`weight shard size mismatch for [${group.paths.join(', ')}]: the manifest implies ` +
        `${offset} bytes, the files hold ${fileBytes} bytes`);
    }
    const data = Buffer.concat(shardFiles.map((f: string) => fs.readFileSync(f)));
    if (data.byteLength !== offset) throw new ConversionError(`weight shards of [${group.paths.join(', ')}] changed while being read`);
    shardBytes += data.byteLength;
    const aligned = new Uint8Array(data.byteLength);
    aligned.set(data);
    for (const e of entries) {
      const size = e.shape.reduce((a, b) => a * b, 1);
      const values = e.dtype === 'float32'
        ? new Float32Array(aligned.buffer, e.offset, size).slice()
        : new Int32Array(aligned.buffer, e.offset, size).slice();
      weights.push({ name: e.name, shape: e.shape, dtype: e.dtype, values });
    }
  }
  return { jsonPath, json, modelTopology: json.modelTopology, weights, shardBytes };
}
