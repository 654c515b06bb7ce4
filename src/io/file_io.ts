/**
 * `file://` IOHandler for Node, without @tensorflow/tfjs-node.
 *
 *   tf.loadLayersModel('file:///abs/or/rel/path/model.json')   (a directory means dir/model.json)
 *   model.save('file:///some/dir')   -> dir/model.json + dir/weights.bin
 *
 * Loading validates the files and throws errors that name the problem: missing model.json,
 * corrupt (unparsable) model.json, model.json without modelTopology, a missing weight
 * shard (named), and shard bytes that differ from what the weights manifest implies, a manifest
 * entry without a valid name, shape or dtype. Shard paths must stay inside the model's folder
 * (src/io/safe_path.ts): no '..', no absolute paths, no symbolic links that leave it.
 * Only active in Node (`registerFileRouters()` is a no-op elsewhere).
 */
import * as tf from '@tensorflow/tfjs-core';
import { resolveInsideFolder } from './safe_path';
import { describeValue } from '../describe';

type IOHandler = tf.io.IOHandler;
type ModelArtifacts = tf.io.ModelArtifacts;
type ModelJSON = tf.io.ModelJSON;
type WeightsManifestConfig = tf.io.WeightsManifestConfig;
type WeightsManifestEntry = tf.io.WeightsManifestEntry;

export const FILE_SCHEME = 'file://';
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

const BYTES_PER: Record<string, number> = {float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8};

export function isNode(): boolean {
  return typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
}

// Node modules, required lazily so that bundling for the browser does not pull them in.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function nodeFs(): any { return eval('require')('fs'); }
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function nodePath(): any { return eval('require')('path'); }

function stripScheme(p: string): string {
  return p.startsWith(FILE_SCHEME) ? p.slice(FILE_SCHEME.length) : p;
}

/** Bytes a manifest entry occupies in its shard. */
export function entryByteLength(e: WeightsManifestEntry): number {
  const size = e.shape.reduce((a, b) => a * b, 1);
  const q = e.quantization;
  if (q) {
    if (q.dtype === 'float16') return size * 2;
    return size * (BYTES_PER[q.dtype] ?? 1);
  }
  if (e.dtype === 'string') throw new Error(`file IOHandler: string weight '${e.name}' is not supported`);
  const b = BYTES_PER[e.dtype];
  if (b === undefined) throw new Error(`file IOHandler: unknown dtype '${e.dtype}' for weight '${e.name}'`);
  return size * b;
}

const DTYPES = ['float32', 'int32', 'bool', 'complex64'];
const QUANTIZED_DTYPES = ['uint8', 'uint16', 'float16'];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** What is wrong with one manifest entry, or null. */
function entryProblem(w: unknown): string | null {
  if (!isObject(w)) return `must be an object, got ${describeValue(w)}`;
  if (typeof w.name !== 'string' || w.name.length === 0) return `name must be a non-empty string, got ${describeValue(w.name)}`;
  const shape = w.shape;
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    return `'${w.name}': shape must be an array of non-negative integers, got ${describeValue(shape)}`;
  }
  if (w.dtype === 'string') return `'${w.name}': string weights are not supported`;
  if (typeof w.dtype !== 'string' || !DTYPES.includes(w.dtype)) {
    return `'${w.name}': dtype must be one of ${DTYPES.join(', ')}, got ${describeValue(w.dtype)}`;
  }
  if (w.quantization !== undefined) {
    const q = w.quantization;
    if (!isObject(q) || typeof q.dtype !== 'string' || !QUANTIZED_DTYPES.includes(q.dtype)) {
      return `'${w.name}': quantization.dtype must be one of ${QUANTIZED_DTYPES.join(', ')}, got ${describeValue(isObject(q) ? q.dtype : q)}`;
    }
  }
  return null;
}

/** What is wrong with a weights manifest (structure, names, shapes, dtypes), or null. */
export function checkManifest(manifest: unknown): string | null {
  if (manifest === undefined || manifest === null) return null;
  if (!Array.isArray(manifest)) return `weightsManifest must be an array, got ${describeValue(manifest)}`;
  for (const [gi, group] of manifest.entries()) {
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      return `weightsManifest[${gi}] needs 'paths' and 'weights' arrays`;
    }
    for (const [wi, w] of group.weights.entries()) {
      const problem = entryProblem(w);
      if (problem !== null) return `weightsManifest[${gi}].weights[${wi}] ${problem}`;
    }
  }
  return null;
}

function toArrayBuffer(buf: Uint8Array): ArrayBuffer {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

function joinWeightData(d: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(d) ? tf.io.concatenateArrayBuffers(d) : d;
}

export class FileHandler implements IOHandler {
  readonly path: string;
  constructor(path: string) {
    if (!isNode()) throw new Error('file IOHandler: file:// paths are only supported in Node.js');
    this.path = stripScheme(path);
  }

  /** Path of model.json for loading: the given file, or <dir>/model.json for a directory. */
  private modelJsonPath(): string {
    const fs = nodeFs(), path = nodePath();
    if (fs.existsSync(this.path) && fs.statSync(this.path).isDirectory()) return path.join(this.path, MODEL_JSON);
    return this.path;
  }

  async load(): Promise<ModelArtifacts> {
    const fs = nodeFs(), path = nodePath();
    const jsonPath = this.modelJsonPath();
    if (!fs.existsSync(jsonPath)) {
      throw new Error(`file IOHandler: model.json not found: ${jsonPath}`);
    }
    const text = fs.readFileSync(jsonPath, 'utf8');
    let modelJSON: ModelJSON;
    try {
      modelJSON = JSON.parse(text);
    } catch (e) {
      throw new Error(`file IOHandler: corrupt model JSON in ${jsonPath}: ${(e as Error).message}`);
    }
    if (modelJSON == null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null ||
      typeof modelJSON.modelTopology !== 'object') {
      throw new Error(`file IOHandler: ${jsonPath} has no modelTopology (not a tfjs model.json)`);
    }
    const manifestError = checkManifest(modelJSON.weightsManifest);
    if (manifestError !== null) throw new Error(`file IOHandler: ${jsonPath}: ${manifestError}`);
    const dir = path.dirname(jsonPath);
    return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest: WeightsManifestConfig) => {
      const specs: WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of manifest) {
        const expected = group.weights.reduce((s, w) => s + entryByteLength(w), 0);
        // Every shard must be a file inside the model's folder (no '..', absolute paths or links out).
        const files = group.paths.map((p) => {
          try {
            return resolveInsideFolder(dir, p, 'weight shard', jsonPath);
          } catch (e) {
            throw new Error(`file IOHandler: ${(e as Error).message}`);
          }
        });
        // Sizes first: a shard of the wrong size is never read (it may be huge).
        const actual = files.reduce((s, f) => s + fs.statSync(f).size, 0);
        if (actual !== expected) {
          throw new Error(`file IOHandler: weight shard size mismatch for [${group.paths.join(', ')}]: ` +
            `manifest implies ${expected} bytes, files hold ${actual} bytes`);
        }
        specs.push(...group.weights);
        for (const f of files) buffers.push(toArrayBuffer(fs.readFileSync(f)));
      }
      return [specs, tf.io.concatenateArrayBuffers(buffers)];
    });
  }

  async save(artifacts: ModelArtifacts): Promise<tf.io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error('file IOHandler: saving binary (ArrayBuffer) model topology is not supported');
    }
    const fs = nodeFs(), path = nodePath();
    const dir = this.path.endsWith('.json') ? path.dirname(this.path) : this.path;
    const jsonName = this.path.endsWith('.json') ? path.basename(this.path) : MODEL_JSON;
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
      throw new Error(`file IOHandler: save path exists and is not a directory: ${dir}`);
    }
    fs.mkdirSync(dir, {recursive: true});
    const modelJSON: ModelJSON = {modelTopology: artifacts.modelTopology} as ModelJSON;
    const a = artifacts as unknown as Record<string, unknown>;
    for (const k of ['format', 'generatedBy', 'convertedBy', 'signature', 'userDefinedMetadata',
      'modelInitializer', 'initializerSignature', 'trainingConfig']) {
      if (a[k] != null) (modelJSON as unknown as Record<string, unknown>)[k] = a[k];
    }
    if (artifacts.weightSpecs != null && artifacts.weightData != null) {
      const data = joinWeightData(artifacts.weightData);
      fs.writeFileSync(path.join(dir, WEIGHTS_BIN), Buffer.from(data));
      modelJSON.weightsManifest = [{paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs}];
    } else {
      modelJSON.weightsManifest = [];
    }
    fs.writeFileSync(path.join(dir, jsonName), JSON.stringify(modelJSON));
    return {modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts)};
  }
}

/** An IOHandler for a `file://` (or plain) path. */
export function fileHandler(path: string): IOHandler {
  return new FileHandler(path);
}

let registered = false;

/** Registers the file:// load and save routers once (Node only; no-op elsewhere). */
export function registerFileRouters(): void {
  if (registered || !isNode()) return;
  registered = true;
  const router = (url: string | string[]) => {
    if (typeof url === 'string' && url.startsWith(FILE_SCHEME)) return fileHandler(url);
    return null;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  tf.io.registerLoadRouter(router as any);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  tf.io.registerSaveRouter(router as any);
}
