/**
 * Issue 13, model.pbq: every structurally invalid file is a clear error naming the field and
 * the file, never NaN or a confusing failure later (5); the data section's CRC-32 catches
 * corruption; version 1 files (no checksum) still load; loaded models free their stored planes
 * when disposed (7).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../src/index';
import { convert } from '../src/converter/convert';
import { crc32 } from '../src/converter/crc32';
import { ConversionError } from '../src/converter/errors';
import { storedPlanesOf } from '../src/weight_cache';
import { mlp, saveModel, tmpDir, writeCalibration, randomRows } from './converter_helpers';

const work = tmpDir('pbq-rel-pbq-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A model.pbq split into its parts (magic and header length are rebuilt by `join`). */
interface Parts { header: Json; data: Uint8Array }

function split(bytes: Uint8Array): Parts {
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + len)).replace(/\0+$/, '');
  return { header: JSON.parse(text), data: bytes.slice(8 + len) };
}

/** Writes the parts back as the encoder does; `fixChecksum` recomputes the CRC of the data. */
function join({ header, data }: Parts, fixChecksum = true): Uint8Array {
  if (fixChecksum && header.checksum) header.checksum.crc32 = crc32(data);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const len = Math.ceil(json.length / 4) * 4;
  const out = new Uint8Array(8 + len + data.length);
  out.set(new TextEncoder().encode('PBQ1'), 0);
  new DataView(out.buffer).setUint32(4, len, true);
  out.set(json, 8);
  out.set(data, 8 + len);
  return out;
}

let dir: string;
let original: Uint8Array;
let x: tf.Tensor;
let reference: Float32Array;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const src = await saveModel(mlp(40, 3), path.join(work, 'src'));
  writeCalibration(src, randomRows(16, 40, 4));
  dir = path.join(work, 'w4');
  // Multipoint: per-channel plane counts (channelBits) are part of the file.
  await convert({ input: src, output: dir, weightBits: 4, multipoint: true, budget: 4.5 });
  original = new Uint8Array(fs.readFileSync(path.join(dir, 'model.pbq')));
  await tf.setBackend('pbq');
  pbq.configure({ weightBits: 16 });
  x = tf.tensor2d(randomRows(3, 40, 5));
  const m = await pbq.loadLayersModel(dir);
  reference = (m.predict(x) as tf.Tensor).dataSync() as Float32Array;
  m.dispose();
});

/** Loads `bytes` written as a file; the result or the error. */
async function load(bytes: Uint8Array, name = 'case'): Promise<{ error?: Error; y?: Float32Array; file: string }> {
  const folder = path.join(work, `${name}-${Math.random().toString(36).slice(2)}`);
  fs.mkdirSync(folder);
  const file = path.join(folder, 'model.pbq');
  fs.writeFileSync(file, bytes);
  const before = tf.memory().numTensors;
  try {
    const m = await pbq.loadLayersModel(folder);
    const y = tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync() as Float32Array);
    m.dispose();
    return { y, file };
  } catch (e) {
    expect(tf.memory().numTensors).toBe(before); // a failed load leaves nothing behind
    return { error: e as Error, file };
  }
}

const weightIndex = (h: Json, kind: string) => h.weights.findIndex((w: Json) => w.kind === kind && (kind !== 'planes' || w.channelBits));

/** [name, edit of the parts (header and data), expected message]. */
const corruptions: Array<[string, (p: Parts) => Uint8Array | void, RegExp]> = [
  ['header length off by one', () => {
    const b = original.slice();
    new DataView(b.buffer).setUint32(4, new DataView(b.buffer).getUint32(4, true) + 1, true);
    return b;
  }, /header length \d+ is not a multiple of 4/],
  ['header length 4 too long', () => {
    const b = original.slice();
    new DataView(b.buffer).setUint32(4, new DataView(b.buffer).getUint32(4, true) + 4, true);
    return b;
  }, /header length \d+ does not match the header|corrupt header JSON/],
  ['header length past the end', () => {
    const b = original.slice();
    new DataView(b.buffer).setUint32(4, 0xfffffff0, true);
    return b;
  }, /header length \d+ runs past the end of the file/],
  ['a NaN range', (p) => {
    const w = p.header.weights[weightIndex(p.header, 'planes')];
    new DataView(p.data.buffer).setFloat32(w.ranges.offset + 4, NaN, true);
  }, /ranges\[1\] is NaN, a range must be finite and >= 0/],
  ['an infinite range', (p) => {
    const w = p.header.weights[weightIndex(p.header, 'planes')];
    new DataView(p.data.buffer).setFloat32(w.ranges.offset, Infinity, true);
  }, /ranges\[0\] is Infinity/],
  ['a negative range', (p) => {
    const w = p.header.weights[weightIndex(p.header, 'planes')];
    new DataView(p.data.buffer).setFloat32(w.ranges.offset + 8, -0.5, true);
  }, /ranges\[2\] is -0\.5/],
  ['a channel with 0 planes', (p) => {
    const w = p.header.weights[weightIndex(p.header, 'planes')];
    p.data[w.channelBits.offset + 3] = 0;
  }, /channelBits\[3\] is 0, it must be in 1\.\.\d+/],
  ['a channel with more planes than stored', (p) => {
    const w = p.header.weights[weightIndex(p.header, 'planes')];
    p.data[w.channelBits.offset] = w.bits + 1;
  }, /channelBits\[0\] is \d+, it must be in 1\.\.\d+ \(the stored planes\)/],
  ['bits set past column k', (p) => {
    const w = p.header.weights[weightIndex(p.header, 'planes')];
    const last = w.planes.offset + (w.words - 1) * 4; // channel 0, plane 0, last word
    new DataView(p.data.buffer).setUint32(last, 0x80000000, true);
  }, /plane 0 of channel 0 has bits set past column k = \d+/],
  ['a NaN bias', (p) => {
    const w = p.header.weights[weightIndex(p.header, 'float')];
    new DataView(p.data.buffer).setFloat32(w.data.offset + 4, NaN, true);
  }, /weight '.*' holds NaN at index 1: weights must be finite/],
  ['a string number in the layout', (p) => { p.header.weights[0].layout.k = String(p.header.weights[0].layout.k); }, /weights\[0\] \('.*'\)\.layout\.k must be a positive integer, got '40' \(string\)/],
  ['a negative layout field', (p) => { p.header.weights[0].layout.n = -24; }, /layout\.n must be a positive integer, got -24 \(number\)/],
  ['a non-integer layout field', (p) => { p.header.weights[0].layout.batch = 1.5; }, /layout\.batch must be a positive integer, got 1\.5 \(number\)/],
  ['a layout that disagrees with the shape', (p) => {
    const l = p.header.weights[2].layout; // [40, 24]
    [l.k, l.n] = [l.n, l.k];
  }, /weights\[2\] \('.*'\)\.layout \{"batch":1,"k":24,"n":40,"transposed":false\} disagrees with its shape \[40, 24\]/],
  ['transposed not a boolean', (p) => { p.header.weights[0].layout.transposed = 'false'; }, /layout\.transposed must be true or false, got 'false' \(string\)/],
  ['bits 0', (p) => { p.header.weights[0].bits = 0; }, /\.bits must be an integer in 1\.\.16, got 0 \(number\)/],
  ['bits 17', (p) => { p.header.weights[0].bits = 17; }, /\.bits must be an integer in 1\.\.16, got 17/],
  ['bits as a string', (p) => { p.header.weights[0].bits = String(p.header.weights[0].bits); }, /\.bits must be an integer in 1\.\.16, got '\d+' \(string\)/],
  ['words wrong', (p) => { p.header.weights[0].words += 1; }, /\.words must be ceil\(k \/ 32\) = 2, got 3 \(number\)/],
  ['a string dimension in a shape', (p) => { p.header.weights[1].shape = ['40']; }, /weights\[1\] \('.*'\)\.shape must be an array of non-negative integers, got \["40"\] \(array\)/],
  ['a negative dimension', (p) => { p.header.weights[1].shape = [-40]; }, /\.shape must be an array of non-negative integers/],
  ['overlapping sections', (p) => { p.header.weights[0].ranges.offset = p.header.weights[0].planes.offset; }, /overlaps/],
  ['a section out of bounds', (p) => { p.header.weights[1].data.offset = p.data.length; }, /runs past the end of the data section/],
  ['a misaligned section', (p) => { p.header.weights[1].data.offset += 2; }, /offset \d+ is not 4-byte aligned/],
  ['a section of the wrong length', (p) => { p.header.weights[1].data.length -= 4; }, /\.data\.length is \d+ bytes, the weight needs \d+/],
  ['a string section offset', (p) => { p.header.weights[1].data.offset = String(p.header.weights[1].data.offset); }, /\.data\.offset must be a non-negative integer, got '\d+' \(string\)/],
  ['trailing bytes after the sections', (p) => join({ header: p.header, data: Uint8Array.from([...p.data, 0, 0, 0, 0]) }), /the data section holds \d+ bytes, its sections account for \d+/],
  ['a gap between sections', (p) => {
    // Move the last section 4 bytes on and grow the data: in bounds, but not where it belongs.
    const all = p.header.weights.flatMap((w: Json) => [w.data, w.planes, w.ranges, w.channelBits].filter(Boolean));
    const last = all.reduce((a: Json, b: Json) => (b.offset > a.offset ? b : a));
    last.offset += 4;
    return join({ header: p.header, data: Uint8Array.from([...p.data, 0, 0, 0, 0]) });
  }, /starts at \d+, expected \d+/],
  ['a duplicate weight name', (p) => { p.header.weights[1].name = p.header.weights[0].name; }, /the name appears twice/],
  ['an unknown kind', (p) => { p.header.weights[1].kind = 'half'; }, /\.kind must be 'float' or 'planes', got 'half' \(string\)/],
  ['an unknown dtype', (p) => { p.header.weights[1].dtype = 'float16'; }, /\.dtype must be 'float32' or 'int32', got 'float16' \(string\)/],
  ['a name that is not a string', (p) => { p.header.weights[1].name = 7; }, /weights\[1\]\.name must be a non-empty string, got 7 \(number\)/],
  ['weights not an array', (p) => { p.header.weights = {}; }, /weights must be an array, got \{\} \(object\)/],
  ['no topology', (p) => { delete p.header.modelTopology; }, /modelTopology must be a JSON object, got undefined/],
  ['a wrong format', (p) => { p.header.format = 'keras'; }, /format must be 'pbq-layers-model' or 'pbq-graph-model', got 'keras' \(string\)/],
  ['an unknown version', (p) => { p.header.version = 3; }, /version 3 \(number\) is not supported \(this pbq reads versions 1 and 2\)/],
  ['version 2 without a checksum', (p) => { delete p.header.checksum; }, /checksum\.crc32 must be a 32-bit unsigned integer, got undefined/],
  ['a flipped data byte (checksum left as it was)', (p) => {
    p.data[p.data.length >> 1] ^= 0x10;
    return join(p, false);
  }, /the data section's CRC-32 is \d+, the header says \d+: the file is corrupt/],
  ['a truncated file', () => original.subarray(0, original.length - 100), /CRC-32 .* the file is corrupt/],
  ['bad magic', () => Uint8Array.from([...new TextEncoder().encode('PBQ9'), ...original.subarray(4)]), /not a pbq model file \(bad magic\)/],
];

describe('item 5: corrupted model.pbq files are clear errors naming the field and the file', () => {
  it.each(corruptions)('%s', async (name, edit, message) => {
    const parts = split(original);
    const edited = edit(parts);
    const bytes = edited instanceof Uint8Array ? edited : join(parts);
    const { error, file, y } = await load(bytes, name.replace(/\W+/g, '-'));
    expect(y).toBeUndefined();
    expect(error).toBeInstanceOf(ConversionError);
    expect((error as Error).message.startsWith(`${file}: `)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('the unmodified file, and a version 1 file (no checksum) load with the same outputs', async () => {
    expect((await load(original)).y).toEqual(reference);
    const v1 = split(original);
    v1.header.version = 1;
    delete v1.header.checksum;
    const { y, error } = await load(join(v1));
    expect(error).toBeUndefined();
    expect(y).toEqual(reference);
    expect(Array.from(reference).every(Number.isFinite)).toBe(true);
  });
});

describe('item 7: a loaded model frees its stored planes when disposed', () => {
  v8.setFlagsFromString('--expose_gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const memory = () => {
    gc();
    gc();
    return { tensors: tf.memory().numTensors, arrayBuffers: process.memoryUsage().arrayBuffers };
  };

  let bytes: Uint8Array;
  let input: tf.Tensor;
  beforeAll(async () => {
    // 128-96-10 at W8: ~14 KB of planes per load. tfjs-layers keeps the last 100 models' graphs
    // (and so their weights' dataIds) in an LRU cache: before the fix 100 loads kept 1.4 MB.
    await tf.setBackend('cpu');
    const src = await saveModel(tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [128], units: 96, activation: 'relu' }),
        tfl.layers.dense({ units: 10, activation: 'softmax' }),
      ],
    }), path.join(work, 'leak-src'));
    const out = path.join(work, 'leak-w8');
    await convert({ input: src, output: out, weightBits: 8, range: 'minmax' });
    bytes = new Uint8Array(fs.readFileSync(path.join(out, 'model.pbq')));
    await tf.setBackend('pbq');
    input = tf.ones([1, 128]);
  });
  afterAll(() => input.dispose());

  it('dispose() detaches the stored planes of every weight', async () => {
    const m = await pbq.loadLayersModel(bytes);
    const kernels = m.weights.filter((w) => w.shape.length === 2).map((w) => {
      const v = w.read();
      return { dataId: v.dataId, layout: { batch: 1, k: v.shape[0], n: v.shape[1] as number, transposed: false } };
    });
    expect(kernels.map((k) => storedPlanesOf(k.dataId, k.layout) !== undefined)).toEqual([true, true]);
    m.dispose();
    expect(kernels.map((k) => storedPlanesOf(k.dataId, k.layout) !== undefined)).toEqual([false, false]);
  });

  it('1,000 load/predict/dispose cycles: tensors and array buffers flat', async () => {
    pbq.configure({ weightBits: 8 });
    const cycle = async () => {
      const m = await pbq.loadLayersModel(bytes);
      const y = m.predict(input) as tf.Tensor;
      await y.data();
      y.dispose();
      m.dispose();
    };
    for (let i = 0; i < 5; i++) await cycle(); // warm-up: the engine's scratch, tfjs-layers' first graphs
    const before = memory();
    for (let i = 0; i < 1000; i++) await cycle();
    const after = memory();
    // eslint-disable-next-line no-console
    console.log(`1,000 cycles: tensors ${before.tensors} -> ${after.tensors}, arrayBuffers ${(before.arrayBuffers / 1e6).toFixed(3)} -> ${(after.arrayBuffers / 1e6).toFixed(3)} MB`);
    expect(after.tensors).toBe(before.tensors);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(0.4e6);
  });
});
