/**
 * Fuzzing of pbq's three readers of model folders with corrupted copies of small models:
 *
 *   loader     tf.loadLayersModel('file://…') through pbq's file router (model.json + shards)
 *   pbq        pbq.loadLayersModel(folder) (model.pbq)
 *   converter  `pbq convert` through the CLI entry, in-process (model.json, shards, calibration)
 *
 * Each case must end in a clear error or a correct load — never a crash (an error that is not an
 * Error, a TypeError from inside pbq), a hang (each case has a time limit), a partial output (a
 * failed load leaves no tensors; a failed conversion no output or temporary folder), a file read
 * outside the model folder (every path trick must be refused; a decoy file outside the folder
 * holds recognizable bytes), or anything written outside the output folder. A "correct load" is
 * checked against an independent reading of the files: the loader's weights equal the shards'
 * bytes; model.pbq's outputs are finite and, where the mutation cannot change the model, equal
 * the unmutated file's.
 *
 * Used by test/reliability_fuzz.test.ts (about 1,000 cases) and `npm run soak` (more).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../../src/index';
import { convert } from '../../src/converter/convert';
import { crc32 } from '../../src/converter/crc32';
import { mlp, rnnLm, saveModel, writeCalibration, randomRows, randomIds, runCli, rng } from '../converter_helpers';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
type Target = 'loader' | 'pbq' | 'converter';

export interface FuzzOptions {
  /** Folder for the cases (created; emptied of cases as they finish). */
  work: string;
  cases: Record<Target, number>;
  seed?: number;
  /** Time limit of one case (a hang fails the run). */
  caseTimeoutMs?: number;
}

export interface FuzzResult {
  cases: number;
  /** "target/mutation -> outcome": count. */
  outcomes: Record<string, number>;
  /** Problems found (empty when every case ended well), one line each. */
  problems: string[];
  seconds: number;
  slowestCaseMs: number;
}

/** Value that marks the decoy file outside the model folder: a load that shows it escaped. */
const DECOY = 12345.678;

const WEIRD: Json[] = [0, -1, 1, 3.5, 1e9, -1e9, 2 ** 32, 'x', '', '784', null, true, [], {}, [1, 2], 'float16', 'int8', 'string', 'bool', NaN];

/** All [container, key] pairs of a JSON value. */
function slots(v: Json, out: Array<[Json, string | number]> = []): Array<[Json, string | number]> {
  if (Array.isArray(v)) v.forEach((e, i) => { out.push([v, i]); slots(e, out); });
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) { out.push([v, k]); slots(v[k], out); }
  return out;
}

/** Every file under `dir` with its size and CRC (to prove nothing changed or appeared). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(path.relative(dir, p), String(crc32(fs.readFileSync(p))));
      else out.set(path.relative(dir, p), 'link');
    }
  };
  walk(dir);
  return out;
}

function sameSnapshot(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

interface Bases {
  mlp: string;
  lstm: string;
  mlpPbq: string;
  lstmPbq: string;
  decoyDir: string;
  x: Record<'mlp' | 'lstm', tf.Tensor>;
  /** Outputs of the unmutated model.pbq files under pbq. */
  reference: Record<'mlp' | 'lstm', Float32Array>;
}

async function makeBases(work: string): Promise<Bases> {
  await tf.setBackend('cpu');
  const mlpDir = await saveModel(mlp(16, 5), path.join(work, 'base-mlp'));
  writeCalibration(mlpDir, randomRows(16, 16, 3));
  const lstmDir = await saveModel(rnnLm('lstm', 12, 6), path.join(work, 'base-lstm'));
  writeCalibration(lstmDir, randomIds(8, 8, 12, 4));
  const mlpPbq = path.join(work, 'base-mlp-w4');
  const lstmPbq = path.join(work, 'base-lstm-w4');
  await convert({ input: mlpDir, output: mlpPbq, weightBits: 4, multipoint: true, budget: 4.5 });
  await convert({ input: lstmDir, output: lstmPbq, weightBits: 4 });
  // The decoy: as many bytes as each base's shard, all DECOY, outside every model folder.
  const decoyDir = path.join(work, 'decoy');
  fs.mkdirSync(decoyDir);
  for (const [name, dir] of [['mlp.bin', mlpDir], ['lstm.bin', lstmDir]]) {
    const n = fs.statSync(path.join(dir, 'weights.bin')).size / 4;
    fs.writeFileSync(path.join(decoyDir, name), Buffer.from(new Float32Array(n).fill(DECOY).buffer));
  }
  await tf.setBackend('pbq');
  pbq.configure({ weightBits: 16 });
  const x = { mlp: tf.tensor2d(randomRows(2, 16, 7)), lstm: tf.tensor2d(randomIds(2, 8, 12, 8)) };
  const reference = {} as Bases['reference'];
  for (const k of ['mlp', 'lstm'] as const) {
    const m = await pbq.loadLayersModel(k === 'mlp' ? mlpPbq : lstmPbq);
    reference[k] = tf.tidy(() => (m.predict(x[k]) as tf.Tensor).dataSync() as Float32Array);
    m.dispose();
  }
  return { mlp: mlpDir, lstm: lstmDir, mlpPbq, lstmPbq, decoyDir, x, reference };
}

/**
 * A mutation of a model folder: `refusedBy` the readers that must refuse it (a path out of the
 * folder), `topology` when it may change the model's definition, `neutral` when it cannot
 * change what the model computes.
 */
interface Mutation { name: string; refusedBy?: Target[]; topology?: boolean; neutral?: boolean }

/** Mutates a saved model's model.json / shard / calibration (loader and converter cases). */
function mutateLayersFolder(dir: string, base: 'mlp' | 'lstm', decoyDir: string, r: () => number): Mutation {
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  const jsonPath = path.join(dir, 'model.json');
  const shard = path.join(dir, 'weights.bin');
  const editJson = (f: (j: Json) => void) => {
    const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
    f(j);
    fs.writeFileSync(jsonPath, JSON.stringify(j));
  };
  const setPaths = (paths: unknown[]) => editJson((j) => { j.weightsManifest[0].paths = paths; });
  const decoy = path.join(decoyDir, `${base}.bin`);
  const rel = path.relative(dir, decoy);
  switch (Math.floor(r() * 14)) {
    case 0: fs.truncateSync(shard, Math.floor(r() * fs.statSync(shard).size)); return { name: 'truncate shard' };
    case 1: fs.appendFileSync(shard, Buffer.alloc(1 + Math.floor(r() * 64), 7)); return { name: 'extend shard' };
    case 2: {
      const b = fs.readFileSync(jsonPath);
      for (let i = 1 + Math.floor(r() * 4); i > 0; i--) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      fs.writeFileSync(jsonPath, b);
      return { name: 'flip json bytes', topology: true };
    }
    case 3:
      editJson((j) => {
        const [c, k] = pick(slots(j));
        if (Array.isArray(c)) c.splice(k as number, 1);
        else delete c[k];
      });
      return { name: 'delete key', topology: true };
    case 4: editJson((j) => { pick(j.weightsManifest[0].weights as Json[]).dtype = pick(WEIRD); }); return { name: 'dtype' };
    case 5:
      editJson((j) => {
        const w = pick(j.weightsManifest[0].weights as Json[]);
        const i = Math.floor(r() * w.shape.length);
        w.shape[i] = pick([w.shape[i] + 1, w.shape[i] - 1, -3, 0, 'a', String(w.shape[i]), null, 1e12, 2.5]);
      });
      return { name: 'shape' };
    case 6: editJson((j) => { const [c, k] = pick(slots(j)); c[k] = pick(WEIRD); }); return { name: 'replace value', topology: true };
    case 7: fs.rmSync(r() < 0.5 ? shard : jsonPath); return { name: 'delete file' };
    case 8: {
      const b = fs.readFileSync(shard);
      for (let i = 0; i < 16; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      fs.writeFileSync(shard, b);
      return { name: 'shard bytes' };
    }
    case 9: {
      const p = path.join(dir, 'calibration.json');
      const b = fs.readFileSync(p);
      if (r() < 0.5) {
        fs.writeFileSync(p, b.subarray(0, Math.floor(r() * b.length)));
        return { name: 'calibration' };
      }
      fs.writeFileSync(p, JSON.stringify({ imagesFile: pick([rel, decoy, `sub/../${rel}`]), n: 2 }));
      return { name: 'calibration path trick', refusedBy: ['converter'] };
    }
    case 10: { // a path that leaves the folder, or is not a plain file inside it
      const tricks: Array<() => unknown> = [
        () => rel, () => decoy, () => `file://${decoy}`, () => rel.split('/').join('\\'), () => `./sub/../${rel}`,
        () => { fs.symlinkSync(decoy, path.join(dir, 'link.bin')); return 'link.bin'; },
        () => { fs.symlinkSync(decoyDir, path.join(dir, 'sub')); return `sub/${base}.bin`; },
        () => { fs.symlinkSync(path.join(decoyDir, 'missing.bin'), path.join(dir, 'dangling.bin')); return 'dangling.bin'; },
        () => { fs.mkdirSync(path.join(dir, 'adir')); return 'adir'; },
        () => '', () => null, () => 5, () => 'weights.bin\0.txt', () => '.', () => 'WEIGHTS.BIN',
      ];
      setPaths([pick(tricks)()]);
      return { name: 'path trick', refusedBy: ['loader', 'converter'] };
    }
    case 11: { // a valid split into two shards (and a symlink inside the folder): must load correctly
      const b = fs.readFileSync(shard);
      const cut = 4 * Math.floor((r() * b.length) / 4);
      fs.writeFileSync(path.join(dir, 'a.bin'), b.subarray(0, cut));
      fs.mkdirSync(path.join(dir, 'parts'));
      fs.writeFileSync(path.join(dir, 'parts', 'b.bin'), b.subarray(cut));
      fs.symlinkSync(path.join(dir, 'parts', 'b.bin'), path.join(dir, 'b-link.bin'));
      fs.rmSync(shard);
      setPaths(['a.bin', r() < 0.5 ? 'parts/b.bin' : 'b-link.bin']);
      return { name: 'two shards', neutral: true };
    }
    case 12:
      editJson((j) => {
        const g = j.weightsManifest[0];
        const what = Math.floor(r() * 4);
        if (what === 0) g.paths = 'weights.bin';
        else if (what === 1) g.weights = {};
        else if (what === 2) j.weightsManifest.push({ paths: [], weights: [] });
        else j.weightsManifest = 'x';
      });
      return { name: 'manifest structure' };
    default:
      editJson((j) => {
        const layers = j.modelTopology.config.layers as Json[];
        pick(layers).class_name = pick(['Dense', 'LSTM', 'GRU', 'SimpleRNN', 'Embedding', 'Conv2D', 'Nope', 'Flatten']);
      });
      return { name: 'layer class', topology: true };
  }
}

/** model.pbq split into header and data, and joined back (optionally with the CRC recomputed). */
function splitPbq(b: Uint8Array): { header: Json; data: Uint8Array } {
  const len = new DataView(b.buffer, b.byteOffset).getUint32(4, true);
  return { header: JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + len)).replace(/\0+$/, '')), data: b.slice(8 + len) };
}

function joinPbq(header: Json, data: Uint8Array, fixChecksum: boolean): Uint8Array {
  if (fixChecksum && header?.checksum && typeof header.checksum === 'object') header.checksum.crc32 = crc32(data);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const len = Math.ceil(json.length / 4) * 4;
  const out = new Uint8Array(8 + len + data.length);
  out.set(new TextEncoder().encode('PBQ1'));
  new DataView(out.buffer).setUint32(4, len, true);
  out.set(json, 8);
  out.set(data, 8 + len);
  return out;
}

/** Mutates model.pbq in `dir`. */
function mutatePbqFile(dir: string, r: () => number): Mutation {
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  const file = path.join(dir, 'model.pbq');
  const bytes = new Uint8Array(fs.readFileSync(file));
  const write = (b: Uint8Array) => fs.writeFileSync(file, b);
  const { header, data } = splitPbq(bytes);
  const headerLen = bytes.length - data.length - 8;
  switch (Math.floor(r() * 11)) {
    case 0: {
      for (let i = 1 + Math.floor(r() * 4); i > 0; i--) bytes[Math.floor(r() * bytes.length)] ^= 1 << Math.floor(r() * 8);
      write(bytes);
      return { name: 'flip bits anywhere', topology: true };
    }
    case 1: {
      bytes[8 + headerLen + Math.floor(r() * data.length)] ^= 1 << Math.floor(r() * 8);
      write(bytes);
      return { name: 'flip a data bit' };
    }
    case 2: write(bytes.subarray(0, Math.floor(r() * bytes.length))); return { name: 'truncate' };
    case 3: write(Uint8Array.from([...bytes, ...Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256))])); return { name: 'extend' };
    case 4: {
      new DataView(bytes.buffer).setUint32(4, headerLen + pick([-8, -4, -1, 1, 2, 3, 4, 8, 1e6]), true);
      write(bytes);
      return { name: 'header length' };
    }
    case 5: { // any header value replaced (outside the topology: pbq's own fields)
      const topology = header.modelTopology;
      delete header.modelTopology;
      const [c, k] = pick(slots(header));
      c[k] = pick(WEIRD);
      header.modelTopology = topology;
      write(joinPbq(header, data, true));
      return { name: 'replace header value' };
    }
    case 6: { // a number in a weight spec nudged, or turned into a string
      const numbers = slots(header.weights).filter(([c, k]) => typeof c[k] === 'number');
      const [c, k] = pick(numbers);
      c[k] = pick([c[k] + 1, c[k] - 1, c[k] + 4, c[k] * 2, -c[k], String(c[k]), c[k] + 0.5]);
      write(joinPbq(header, data, true));
      return { name: 'nudge a weight field' };
    }
    case 7: { // two weights' sections swapped
      const a = pick(header.weights as Json[]);
      const b = pick(header.weights as Json[]);
      const ka = a.kind === 'planes' ? pick(['planes', 'ranges']) : 'data';
      const kb = b.kind === 'planes' ? pick(['planes', 'ranges']) : 'data';
      [a[ka], b[kb]] = [b[kb], a[ka]];
      write(joinPbq(header, data, true));
      return { name: 'swap sections', neutral: a === b && ka === kb };
    }
    case 8: // a valid version 1 file
      header.version = 1;
      delete header.checksum;
      write(joinPbq(header, data, false));
      return { name: 'version 1', neutral: true };
    case 9: { // a data bit flipped with the checksum recomputed (a crafted file): valid planes change the model
      data[Math.floor(r() * data.length)] ^= 1 << Math.floor(r() * 8);
      write(joinPbq(header, data, true));
      return { name: 'crafted data' };
    }
    default: { // a topology value replaced
      const [c, k] = pick(slots(header.modelTopology));
      c[k] = pick(WEIRD);
      write(joinPbq(header, data, true));
      return { name: 'topology value', topology: true };
    }
  }
}

const REPO = path.resolve(__dirname, '..', '..');
const PBQ_CODE = [path.join(REPO, 'src') + path.sep, path.join(REPO, 'kernels') + path.sep];

/** An error is "clear" when it is an Error with a message, not a bug of pbq's own code. */
function unclearError(e: unknown): string | null {
  // Errors made by Node (fs) come from another realm than jest's: test the tag, not instanceof.
  if (!(e instanceof Error) && Object.prototype.toString.call(e) !== '[object Error]') return `threw a non-Error ${String(e)}`;
  if (!(e as Error).message || (e as Error).message.trim().length === 0) return 'threw an Error without a message';
  const top = ((e as Error).stack ?? '').split('\n').find((l) => /^\s+at /.test(l)) ?? '';
  const inPbq = PBQ_CODE.some((dir) => top.includes(dir));
  const name = (e as Error).name;
  if ((name === 'TypeError' || name === 'RangeError') && inPbq) return `${name} inside pbq: ${(e as Error).message}`;
  return null;
}

/** Bytes of the float32/int32 weights of a saved model, read independently of pbq (by name). */
function shardWeights(dir: string): Map<string, Uint8Array> {
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const out = new Map<string, Uint8Array>();
  for (const g of j.weightsManifest) {
    const b = Buffer.concat(g.paths.map((p: string) => fs.readFileSync(path.join(dir, p))));
    let at = 0;
    for (const w of g.weights) {
      if (w.quantization || !['float32', 'int32'].includes(w.dtype)) return out; // offsets unknown past it
      const bytes = 4 * w.shape.reduce((a: number, c: number) => a * c, 1);
      out.set(w.name, new Uint8Array(b.subarray(at, at + bytes)));
      at += bytes;
    }
  }
  return out;
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`HANG: ${what} took over ${ms} ms`)), ms); }),
  ]);
}

const PATH_REFUSAL = /'\.\.' segment|absolute path|symbolic link|not a regular file|not found|non-empty string|NUL|names the folder itself/;

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const t0 = Date.now();
  const { work } = options;
  fs.mkdirSync(work, { recursive: true });
  const r = rng(options.seed ?? 20240613);
  const limit = options.caseTimeoutMs ?? 30000;
  const bases = await makeBases(work);
  const outcomes: Record<string, number> = {};
  const problems: string[] = [];
  let slowest = 0;
  let index = 0;
  const count = (k: string) => { outcomes[k] = (outcomes[k] ?? 0) + 1; };
  const initialTop = new Set(fs.readdirSync(work));
  const decoyBefore = snapshot(bases.decoyDir);

  const runCase = async (target: Target, body: (dir: string, out: string, baseName: 'mlp' | 'lstm') => Promise<string>) => {
    const i = index++;
    const baseName = i % 4 === 3 ? 'lstm' : 'mlp';
    const dir = path.join(work, `case-${i}`);
    const out = path.join(work, `out-${i}`);
    const start = Date.now();
    try {
      const outcome = await withTimeout(body(dir, out, baseName), limit, `${target} case ${i}`);
      count(`${target}/${outcome}`);
    } catch (e) {
      problems.push(`${target} case ${i}: ${(e as Error).message}`);
    }
    slowest = Math.max(slowest, Date.now() - start);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
    const extra = fs.readdirSync(work).filter((f) => !initialTop.has(f));
    if (extra.length > 0) {
      problems.push(`${target} case ${i}: left ${extra.join(', ')} in the work folder`);
      for (const f of extra) fs.rmSync(path.join(work, f), { recursive: true, force: true });
    }
  };

  // Loader: tf.loadLayersModel('file://…') under pbq.
  await tf.setBackend('pbq');
  for (let c = 0; c < options.cases.loader; c++) {
    await runCase('loader', async (dir, _out, baseName) => {
      fs.cpSync(bases[baseName], dir, { recursive: true });
      const m = mutateLayersFolder(dir, baseName, bases.decoyDir, r);
      const tensors = tf.memory().numTensors;
      const variablesBefore = new Set(Object.keys(tf.engine().state.registeredVariables));
      let model: tfl.LayersModel;
      try {
        model = await tfl.loadLayersModel(`file://${dir}/model.json`);
      } catch (e) {
        const bad = unclearError(e);
        if (bad) throw new Error(`${m.name}: ${bad}`);
        if (m.refusedBy?.includes('loader') && !PATH_REFUSAL.test((e as Error).message)) {
          throw new Error(`${m.name}: refused for another reason: ${(e as Error).message}`);
        }
        const left = tf.memory().numTensors - tensors;
        if (left !== 0) {
          // Stock tfjs-layers (4.22) keeps the variables (and initializer tensors) it built when
          // a topology does not fit its weights: after pbq's file handler returned, outside it
          // (pbq.loadLayersModel disposes them). Tolerated for topology mutations only; the
          // variables are freed.
          if (!m.topology) throw new Error(`${m.name}: a failed load left ${left} tensors`);
          Object.values(tf.engine().state.registeredVariables).filter((v) => !variablesBefore.has(v.name)).forEach((v) => v.dispose());
          return `${m.name} -> error (tfjs-layers leaked)`;
        }
        return `${m.name} -> error`;
      }
      try {
        if (m.refusedBy?.includes('loader')) throw new Error(`${m.name}: loaded (a path out of the folder was followed)`);
        const want = shardWeights(dir);
        for (const w of model.weights) {
          const got = w.read().dataSync();
          if (Array.from(got).includes(DECOY)) throw new Error(`${m.name}: weights hold the decoy's bytes`);
          const expected = want.get(w.originalName);
          if (expected !== undefined && !tf.util.arraysEqual(bytesOf(got), expected)) throw new Error(`${m.name}: weight ${w.originalName} differs from the shard`);
        }
        try {
          tf.tidy(() => (model.predict(bases.x[baseName]) as tf.Tensor).dataSync());
        } catch (e) {
          const bad = unclearError(e);
          if (bad) throw new Error(`${m.name}: predict: ${bad}`);
        }
        return `${m.name} -> loaded`;
      } finally {
        model.dispose();
      }
    });
  }

  // pbq.loadLayersModel: corrupted model.pbq.
  for (let c = 0; c < options.cases.pbq; c++) {
    await runCase('pbq', async (dir, _out, baseName) => {
      fs.cpSync(baseName === 'mlp' ? bases.mlpPbq : bases.lstmPbq, dir, { recursive: true });
      const m = mutatePbqFile(dir, r);
      const tensors = tf.memory().numTensors;
      let model: tfl.LayersModel;
      try {
        model = await pbq.loadLayersModel(dir);
      } catch (e) {
        const bad = unclearError(e);
        if (bad) throw new Error(`${m.name}: ${bad}`);
        if (!(e as Error).message.startsWith(path.join(dir, 'model.pbq'))) throw new Error(`${m.name}: the error does not name the file: ${(e as Error).message}`);
        if (tf.memory().numTensors !== tensors) throw new Error(`${m.name}: a failed load left ${tf.memory().numTensors - tensors} tensors`);
        return `${m.name} -> error`;
      }
      try {
        let y: Float32Array;
        try {
          y = tf.tidy(() => (model.predict(bases.x[baseName]) as tf.Tensor).dataSync() as Float32Array);
        } catch (e) {
          const bad = unclearError(e);
          if (bad || !m.topology) throw new Error(`${m.name}: loaded, then predict failed: ${(e as Error).message}`);
          return `${m.name} -> loaded, predict refused`;
        }
        if (!m.topology && !Array.from(y).every(Number.isFinite)) throw new Error(`${m.name}: loaded with non-finite outputs`);
        if (m.neutral && !tf.util.arraysEqual(y, bases.reference[baseName])) throw new Error(`${m.name}: outputs differ from the original file's`);
        return `${m.name} -> loaded${tf.util.arraysEqual(y, bases.reference[baseName]) ? ' (same outputs)' : ''}`;
      } finally {
        model.dispose();
      }
    });
  }

  // Converter: the CLI in-process.
  for (let c = 0; c < options.cases.converter; c++) {
    await runCase('converter', async (dir, out, baseName) => {
      fs.cpSync(bases[baseName], dir, { recursive: true });
      const m = mutateLayersFolder(dir, baseName, bases.decoyDir, r);
      const input = snapshot(dir);
      const args = ['convert', dir, out, '--weight-bits', String(1 + Math.floor(r() * 8))];
      if (r() < 0.3) args.push('--bias-correction');
      if (r() < 0.15) args.push('--multipoint', '--budget', '8.5');
      const res = await runCli(args);
      if (!sameSnapshot(input, snapshot(dir))) throw new Error(`${m.name}: the input folder changed`);
      if (res.code !== 0 && res.code !== 2) throw new Error(`${m.name}: exit ${res.code}: ${res.stderr}`);
      if (/\n\s+at /.test(res.stderr)) throw new Error(`${m.name}: stack trace on stderr`);
      const temporary = fs.readdirSync(work).filter((f) => f.includes('pbq-tmp'));
      if (temporary.length > 0) throw new Error(`${m.name}: temporary folders left: ${temporary.join(', ')}`);
      if (res.code === 2) {
        if (res.stderr.trim().split('\n').length !== 1) throw new Error(`${m.name}: more than one line on stderr: ${res.stderr}`);
        if (fs.existsSync(out)) throw new Error(`${m.name}: failed, but wrote ${out}`);
        if (m.refusedBy?.includes('converter') && !PATH_REFUSAL.test(res.stderr)) throw new Error(`${m.name}: refused for another reason: ${res.stderr}`);
        return `${m.name} -> exit 2`;
      }
      if (m.refusedBy?.includes('converter')) throw new Error(`${m.name}: converted (a path out of the folder was followed)`);
      const files = fs.readdirSync(out).sort();
      if (files.join(',') !== 'model.json,model.pbq,pbq-report.json,weights.bin') throw new Error(`${m.name}: output holds ${files.join(', ')}`);
      if (c % 4 === 0) {
        const loaded = await pbq.loadLayersModel(out); // every fourth output must load back
        loaded.dispose();
      }
      return `${m.name} -> exit 0`;
    });
  }

  if (!sameSnapshot(decoyBefore, snapshot(bases.decoyDir))) problems.push('the decoy folder outside the models changed');
  tf.dispose([bases.x.mlp, bases.x.lstm]);
  const cases = options.cases.loader + options.cases.pbq + options.cases.converter;
  return { cases, outcomes, problems, seconds: (Date.now() - t0) / 1000, slowestCaseMs: slowest };
}

/** The outcomes as lines "target/mutation -> outcome: count", sorted. */
export function formatOutcomes(outcomes: Record<string, number>): string {
  return Object.entries(outcomes).sort().map(([k, v]) => `  ${k}: ${v}`).join('\n');
}
