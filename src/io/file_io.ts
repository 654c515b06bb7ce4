/**
 * `file://` IOHandler for Node, without @tensorflow/tfjs-node.
 *
 *   tf.loadLayersModel('file:///abs/or/rel/path/model.json')   (a directory means dir/model.json)
 *   model.save('file:///some/dir')   -> dir/model.json + dir/weights.bin
 *
 * Loading validates the files and throws errors that name the problem: missing model.json,
 * corrupt (unparsable) model.json, model.json without modelTopology, a missing weight
 * shard (named), and shard bytes that differ from what the weights manifest implies.
 * Only active in Node (`registerFileRouters()` is a no-op elsewhere).
 */
import * as tf from '@tensorflow/tfjs-core';

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
    if (modelJSON == null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null) {
      throw new Error(`file IOHandler: ${jsonPath} has no modelTopology (not a tfjs model.json)`);
    }
    const dir = path.dirname(jsonPath);
    return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest: WeightsManifestConfig) => {
      const specs: WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of manifest) {
        const expected = group.weights.reduce((s, w) => s + entryByteLength(w), 0);
        const parts: Uint8Array[] = [];
        for (const p of group.paths) {
          const shard = path.join(dir, p);
          if (!fs.existsSync(shard)) {
            throw new Error(`file IOHandler: weight shard not found: ${p} (expected at ${shard}, referenced by ${jsonPath})`);
          }
          parts.push(fs.readFileSync(shard));
        }
        const actual = parts.reduce((s, b) => s + b.byteLength, 0);
        if (actual !== expected) {
          throw new Error(`file IOHandler: weight shard size mismatch for [${group.paths.join(', ')}]: ` +
            `manifest implies ${expected} bytes, files hold ${actual} bytes`);
        }
        specs.push(...group.weights);
        for (const b of parts) buffers.push(toArrayBuffer(b));
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
