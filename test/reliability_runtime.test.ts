/**
 * Issue 13, run time: the converter does not switch the backend under other tasks (4), the CPU
 * engine's scratch memory is bounded whatever K (8), configuration errors name the key and the
 * value with its type and a rejected call changes nothing (11), the NaN policy is the caller's
 * (12); and the "also prove" list: weight updates, backend switches, interleaved predicts of
 * two models, withConfig.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../src/index';
import { registerFileRouters } from '../src/io/file_io';
import { convert } from '../src/converter/convert';
import {
  bitlayerMatMul, buildByteTables, decodeCodes, engineScratchBytes, TABLE_BLOCK_WORDS, wordPartials,
} from '../src/engine';
import { accumulate, dotProductBound } from '../src/accumulator';
import { channelPlanes, quantizeActivations, quantizeWeights } from '../src/quantize';
import { AccumulatorConfig, FLAGS } from '../src/config';
import { mlp, rnnLm, saveModel, tmpDir, writeCalibration, randomRows, randomIds } from './converter_helpers';
import { randomValues } from './helpers';

registerFileRouters();

const work = tmpDir('pbq-rel-run-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

beforeAll(async () => {
  await tf.setBackend('pbq');
});
beforeEach(() => {
  pbq.resetConfig();
});

const tick = () => new Promise<void>((r) => setImmediate(r));

function outputs(model: tfl.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

describe('item 4: convert() leaves the global backend alone for other async tasks', () => {
  it('pbq predicts running alongside a conversion stay quantized (all of them)', async () => {
    await tf.setBackend('cpu');
    const dir = await saveModel(mlp(48, 7), path.join(work, 'conc'));
    writeCalibration(dir, randomRows(640, 48, 8)); // 20 calibration batches: the converter yields often
    await tf.setBackend('pbq');
    pbq.configure({ weightBits: 2 });
    const model = await tfl.loadLayersModel(`file://${dir}/model.json`);
    const x = tf.tensor2d(randomRows(4, 48, 9));
    const quantized = outputs(model, x);
    await tf.setBackend('cpu');
    const float = outputs(model, x);
    await tf.setBackend('pbq');
    expect(quantized).not.toEqual(float); // W2 differs from float: a run on 'cpu' would show

    let done = false;
    const conversion = convert({ input: dir, output: path.join(work, 'conc-out'), weightBits: 4, biasCorrection: true })
      .finally(() => { done = true; });
    const seen: Array<{ backend: string; same: boolean }> = [];
    while (!done) {
      await tick();
      seen.push({ backend: tf.getBackend(), same: tf.util.arraysEqual(outputs(model, x), quantized) });
    }
    await conversion;
    expect(seen.length).toBeGreaterThanOrEqual(10);
    expect(seen.filter((s) => s.backend !== 'pbq' || !s.same)).toEqual([]);
    expect(tf.getBackend()).toBe('pbq');
    model.dispose();
    x.dispose();
  });
});

describe('item 8: the CPU engine\'s scratch memory does not grow with K', () => {
  /** Runs `f` while recording the length of every Float64Array / Int32Array it allocates. */
  function largestAllocation(f: () => void): number {
    const g = globalThis as unknown as Record<string, unknown>;
    const saved = { Float64Array: g.Float64Array, Int32Array: g.Int32Array };
    let largest = 0;
    for (const name of Object.keys(saved) as Array<keyof typeof saved>) {
      g[name] = new Proxy(saved[name] as object, {
        construct(target, args) {
          if (typeof args[0] === 'number') largest = Math.max(largest, args[0]);
          return Reflect.construct(target as new (...a: unknown[]) => object, args);
        },
      });
    }
    try {
      f();
    } finally {
      Object.assign(g, saved);
    }
    return largest;
  }

  const cases: Array<[string, number, number, number, AccumulatorConfig]> = [
    ['exact', 1 << 18, 8, 8, { type: 'exact' }],
    ['int accumulator', 1 << 16, 2, 2, { type: 'int', bits: 14, overflow: 'wrap' }],
    ['float accumulator, chunks across blocks', 1 << 16, 2, 2, { type: 'float', mantissa: 7, exponent: 4, chunk: 48, rounding: 'nearest' }],
  ];
  it.each(cases)('%s at K = %i: scratch bounded, results equal the popcount reference', (_what, K, wBits, aBits, accumulator) => {
    const N = 3;
    const acts = quantizeActivations(randomValues(K, 5), { rows: 1, k: K, rowStride: K, colStride: 1 }, aBits);
    const weights = quantizeWeights(randomValues(K * N, 6), { batch: 1, k: K, n: N, transposed: false }, wBits);
    const out = new Float32Array(N);
    const pair = { rowStart: 0, rows: 1, wBatch: 0, outOffset: 0 };
    const largest = largestAllocation(() => bitlayerMatMul(acts, weights, wBits, pair, out, 'tables', accumulator));
    // Output-sized arrays only: nothing near K (the byte tables alone took 32·K float64 before).
    expect(largest).toBeLessThanOrEqual(Math.max(TABLE_BLOCK_WORDS, N));
    expect(engineScratchBytes()).toBe(TABLE_BLOCK_WORDS * 1024 * 8 + TABLE_BLOCK_WORDS * 32 * 4);
    if (accumulator.type === 'exact') {
      const ref = new Float32Array(N);
      bitlayerMatMul(acts, weights, wBits, pair, ref, 'popcount');
      expect(Array.from(out)).toEqual(Array.from(ref));
    } else {
      // The block-wise register must add the same words in the same order as a single pass.
      const single = new Float32Array(N);
      bitlayerMatMulFullK(acts, weights, wBits, single, accumulator);
      expect(Array.from(out)).toEqual(Array.from(single));
    }
  });
});

/** Narrow-accumulator reference: every word partial of the whole row at once, then `accumulate`. */
function bitlayerMatMulFullK(
  a: ReturnType<typeof quantizeActivations>, w: ReturnType<typeof quantizeWeights>, weightBits: number, out: Float32Array,
  acc: Exclude<AccumulatorConfig, { type: 'exact' }>,
): void {
  const codes = decodeCodes(a);
  const lut = new Float64Array(w.words * 1024);
  buildByteTables(a, 0, codes, lut);
  const wordSums = new Float64Array(w.words);
  for (let k = 0; k < a.k; k++) wordSums[k >>> 5] += codes[k];
  const partials = new Float64Array(w.words);
  for (let n = 0; n < w.n; n++) {
    const t = channelPlanes(w, n, weightBits);
    wordPartials(w, n, t, lut, wordSums, partials);
    const { value } = accumulate(acc, partials, dotProductBound(a.k, t, a.bits), new Int32Array(2));
    out[n] = a.steps[0] * w.ranges[n] * 2 ** -t * value;
  }
}

describe('item 11: configuration errors name the key, show the value with its type, change nothing', () => {
  const flagValues = () => Object.values(FLAGS).map((f) => tf.env().get(f));

  const invalid: Array<[unknown, RegExp]> = [
    [{ weightBits: '8' }, /weightBits must be an integer in 1\.\.16, got '8' \(string\)/],
    [{ weightBits: 8.5 }, /weightBits .* got 8\.5 \(number\)/],
    [{ weightBits: 0 }, /weightBits .* got 0 \(number\)/],
    [{ weightBits: 17 }, /weightBits .* got 17 \(number\)/],
    [{ weightBits: NaN }, /weightBits .* got NaN \(number\)/],
    [{ weightBits: null }, /weightBits .* got null/],
    [{ weightBits: undefined }, /weightBits .* got undefined/],
    [{ weightBits: true }, /weightBits .* got true \(boolean\)/],
    [{ weightBits: [4] }, /weightBits .* got \[4\] \(array\)/],
    [{ weightBits: 4n }, /weightBits .* got 4 \(bigint\)/],
    [{ activationBits: '4' }, /activationBits .* got '4' \(string\)/],
    [{ activationBits: -1 }, /activationBits .* got -1 \(number\)/],
    [{ activationBits: Infinity }, /activationBits .* got Infinity \(number\)/],
    [{ activationMatMul: 'Float' }, /activationMatMul must be one of 'quantize', 'float', got 'Float' \(string\)/],
    [{ activationMatMul: 1 }, /activationMatMul .* got 1 \(number\)/],
    [{ accumulator: 'exact' }, /accumulator must be an object like \{type: 'exact'\}, got 'exact' \(string\)/],
    [{ accumulator: null }, /accumulator must be an object .* got null/],
    [{ accumulator: { type: 'posit' } }, /accumulator\.type .* got 'posit' \(string\)/],
    [{ accumulator: { type: 'int' } }, /accumulator\.bits .* got undefined/],
    [{ accumulator: { type: 'int', bits: '16' } }, /accumulator\.bits .* got '16' \(string\)/],
    [{ accumulator: { type: 'int', bits: 16, overflow: 'clamp' } }, /accumulator\.overflow .* got 'clamp' \(string\)/],
    [{ accumulator: { type: 'exact', bits: 3 } }, /unknown accumulator key 'bits'/],
    [{ accumulator: { type: 'float', mantissa: 7 } }, /accumulator\.exponent .* got undefined/],
    [{ accumulator: { type: 'float', mantissa: 7, exponent: 4, chunk: 0 } }, /accumulator\.chunk .* got 0 \(number\)/],
    [{ accumulator: { type: 'float', mantissa: 7, exponent: 4, rounding: 'up' } }, /accumulator\.rounding .* got 'up' \(string\)/],
    [{ wieghtBits: 4 }, /unknown config key 'wieghtBits'/],
    [{ weightBits: 4, activationBits: 0 }, /activationBits .* got 0 \(number\)/], // all or nothing
    [null, /configure\(\) takes a plain object .* got null/],
    [[], /configure\(\) takes a plain object .* got \[\] \(array\)/],
    ['weightBits', /configure\(\) takes a plain object .* got 'weightBits' \(string\)/],
    [4, /configure\(\) takes a plain object .* got 4 \(number\)/],
    [new Map([['weightBits', 4]]), /configure\(\) takes a plain object/],
  ];

  it.each(invalid)('configure(%p) is rejected and changes nothing', (partial, message) => {
    pbq.configure({ weightBits: 5, activationBits: 6, accumulator: { type: 'int', bits: 24, overflow: 'saturate' } });
    const before = pbq.getConfig();
    const flags = flagValues();
    expect(() => pbq.configure(partial as never)).toThrow(message);
    expect(() => pbq.configure(partial as never)).toThrow(/^pbq: /);
    expect(pbq.getConfig()).toEqual(before);
    expect(flagValues()).toEqual(flags);
  });

  it('a bad flag set through tf.env() is reported by name and type; configure() does not write over it silently', () => {
    const x = tf.ones([1, 4]);
    const w = tf.ones([4, 2]);
    tf.env().set(FLAGS.weightBits, '4');
    expect(() => tf.matMul(x, w)).toThrow(/PBQ_WEIGHT_BITS must be an integer in 1\.\.16, got '4' \(string\)/);
    // A call that leaves the bad flag in force is rejected whole: activationBits is not written.
    expect(() => pbq.configure({ activationBits: 4 })).toThrow(/PBQ_WEIGHT_BITS .* got '4' \(string\)/);
    expect(tf.env().get(FLAGS.activationBits)).toBe(8);
    // A call that replaces it is fine.
    expect(pbq.configure({ weightBits: 4, activationBits: 4 })).toEqual(expect.objectContaining({ weightBits: 4, activationBits: 4 }));
    tf.dispose([x, w]);
  });

  it.each([
    'int:1e1:wrap:junk', 'int:1e1', 'exact:junk', 'int:0x10', 'int: 16', 'int:16:', 'int:16:wrap:', 'int:-16', 'INT:16',
    'float:7', 'float:7:4:16:floor:x', 'float:7:4:1.5', 'float:+7:4', '', 'int:16:clamp', 'float:7:4::floor',
  ])('PBQ_ACCUMULATOR %p is rejected at the next matmul, showing the value', (flag) => {
    const x = tf.ones([1, 4]);
    const w = tf.ones([4, 2]);
    tf.env().set(FLAGS.accumulator, flag);
    expect(() => tf.matMul(x, w)).toThrow(`PBQ_ACCUMULATOR must look like 'exact', 'int:BITS[:wrap|saturate]' or 'float:MANTISSA:EXPONENT[:CHUNK[:floor|nearest]]', got '${flag}' (string)`);
    tf.dispose([x, w]);
  });

  it('PBQ_ACCUMULATOR: the valid forms parse; out-of-range numbers name the field', () => {
    const parsed = (flag: string) => {
      tf.env().set(FLAGS.accumulator, flag);
      return pbq.getConfig().accumulator;
    };
    expect(parsed('exact')).toEqual({ type: 'exact' });
    expect(parsed('int:16')).toEqual({ type: 'int', bits: 16, overflow: 'wrap' });
    expect(parsed('int:16:saturate')).toEqual({ type: 'int', bits: 16, overflow: 'saturate' });
    expect(parsed('float:7:4')).toEqual({ type: 'float', mantissa: 7, exponent: 4, chunk: 1, rounding: 'floor' });
    expect(parsed('float:7:4:16:nearest')).toEqual({ type: 'float', mantissa: 7, exponent: 4, chunk: 16, rounding: 'nearest' });
    expect(() => parsed('int:40:wrap')).toThrow(/got 'int:40:wrap' \(string\): accumulator\.bits must be an integer in 2\.\.32, got 40 \(number\)/);
  });
});

describe('item 12: the NaN policy is that of the call, not of an earlier cached use', () => {
  it('data used first as a plain operand (NaN out), then as a Variable: the weight error naming the element', () => {
    const x = tf.ones([1, 2]);
    const data = tf.tensor2d([[1, NaN], [2, 3]]);
    const plain = tf.matMul(x, data).dataSync();
    expect(Number.isNaN(plain[1])).toBe(true);
    expect(plain[0]).toBeCloseTo(3, 1);
    const v = tf.variable(data);
    expect(v.dataId).toBe(data.dataId); // same data: the cache entry is shared
    expect(() => tf.matMul(x, v)).toThrow(/weight value NaN at \[0, 0, 1\] is not finite/);
    // Once no Variable holds the data, it is a plain operand again: NaN in the affected channel.
    v.dispose();
    expect(Number.isNaN(tf.matMul(x, data).dataSync()[1])).toBe(true);
    tf.dispose([x, data]);
  });
});

describe('weight updates: results are always those of the weights in force', () => {
  let dir: string;
  let xs: tf.Tensor;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = await saveModel(mlp(48, 11), path.join(work, 'upd'));
    await tf.setBackend('pbq');
    xs = tf.tensor2d(randomRows(3, 48, 12));
  });
  afterAll(() => xs.dispose());

  /** pbq's result for a fresh model holding copies of `weights` (new data: quantized from scratch). */
  async function freshResult(weights: tf.Tensor[]): Promise<Float32Array> {
    const m = await tfl.loadLayersModel(`file://${dir}/model.json`);
    const copies = weights.map((w) => tf.tensor(w.dataSync(), w.shape));
    m.setWeights(copies);
    const y = outputs(m, xs);
    m.dispose();
    tf.dispose(copies);
    return y;
  }

  const scaled = (model: tfl.LayersModel, f: number) => model.getWeights().map((w) => tf.mul(w, f));

  it('Variable.assign, setWeights, a second model of the same shapes, and backend switches', async () => {
    pbq.configure({ weightBits: 3 });
    const a = await tfl.loadLayersModel(`file://${dir}/model.json`);
    const b = await tfl.loadLayersModel(`file://${dir}/model.json`);
    const w1 = scaled(a, 1.5);
    const w2 = scaled(a, -0.7);
    b.setWeights(w2);
    const r0 = outputs(a, xs);
    const r1 = await freshResult(w1);
    const r2 = await freshResult(w2);
    expect(r1).not.toEqual(r0);

    // Variable.assign on the first kernel only.
    const kernelVar = (a.layers[0].weights[0] as unknown as { read: () => tf.Variable }).read();
    const newKernel = tf.mul(kernelVar, 1.5);
    kernelVar.assign(newKernel);
    const rAssign = await freshResult(a.getWeights());
    expect(outputs(a, xs)).toEqual(rAssign);
    expect(outputs(b, xs)).toEqual(r2); // the other model of the same shapes is unaffected

    a.setWeights(w1);
    for (let round = 0; round < 4; round++) {
      expect(outputs(a, xs)).toEqual(r1);
      expect(outputs(b, xs)).toEqual(r2);
      await tf.setBackend('cpu');
      const cpuA = outputs(a, xs);
      await tf.setBackend('pbq');
      expect(cpuA).not.toEqual(r1); // float on cpu, quantized on pbq
    }
    // Changing the weights while on cpu: back on pbq the new weights are the ones in force.
    await tf.setBackend('cpu');
    a.setWeights(w2);
    await tf.setBackend('pbq');
    expect(outputs(a, xs)).toEqual(r2);
    tf.dispose([...w1, ...w2, newKernel]);
    a.dispose();
    b.dispose();
  });

  it('a converted model keeps its stored planes across backend switches and drops them on setWeights', async () => {
    const out = path.join(work, 'upd-pbq');
    await convert({ input: dir, output: out, weightBits: 4, range: 'weight-mse' });
    pbq.configure({ weightBits: 4 });
    const loaded = await pbq.loadLayersModel(out);
    const stored = outputs(loaded, xs);
    // weight-mse ranges differ from max-abs: run-time quantization of the same (dequantized) values differs.
    expect(await freshResult(loaded.getWeights())).not.toEqual(stored);
    for (let round = 0; round < 3; round++) {
      await tf.setBackend('cpu');
      outputs(loaded, xs); // moves the weights' data to cpu and back below
      await tf.setBackend('pbq');
      expect(outputs(loaded, xs)).toEqual(stored);
    }
    const w = scaled(loaded, 0.5);
    loaded.setWeights(w);
    expect(outputs(loaded, xs)).toEqual(await freshResult(w));
    tf.dispose(w);
    loaded.dispose();
  });
});

describe('concurrency: interleaved async predicts of two models give the results of each alone', () => {
  it('an MLP (run-time quantization) and an LSTM LM (stored planes), 40 interleaved predicts', async () => {
    await tf.setBackend('cpu');
    const mlpDir = await saveModel(mlp(48, 21), path.join(work, 'two-mlp'));
    const lmDir = await saveModel(rnnLm('lstm', 20, 22), path.join(work, 'two-lm'));
    writeCalibration(lmDir, randomIds(8, 12, 20, 23));
    await tf.setBackend('pbq');
    await convert({ input: lmDir, output: path.join(work, 'two-lm-w4'), weightBits: 4 });
    pbq.configure({ weightBits: 4 });
    const a = await tfl.loadLayersModel(`file://${mlpDir}/model.json`);
    const b = await pbq.loadLayersModel(path.join(work, 'two-lm-w4'));
    const xa = tf.tensor2d(randomRows(2, 48, 24));
    const xb = tf.tensor2d(randomIds(2, 12, 20, 25));
    const alone = [outputs(a, xa), outputs(b, xb)];
    const task = async (model: tfl.LayersModel, x: tf.Tensor, i: number) => {
      const got: Float32Array[] = [];
      for (let r = 0; r < 20; r++) {
        await tick();
        const y = model.predict(x) as tf.Tensor;
        got.push((await y.data()) as Float32Array); // the other task runs while this one awaits
        y.dispose();
      }
      return got.map((g) => tf.util.arraysEqual(g, alone[i]));
    };
    const before = tf.memory().numTensors;
    const [ra, rb] = await Promise.all([task(a, xa, 0), task(b, xb, 1)]);
    expect(ra.concat(rb)).toEqual(new Array(40).fill(true));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xa, xb]);
    a.dispose();
    b.dispose();
  });
});

describe('withConfig: settings for one synchronous call', () => {
  it('gives the results of configure(), restores the settings after (also after a throw), refuses async functions', async () => {
    const x = tf.tensor2d(randomRows(2, 16, 31));
    const w = tf.variable(tf.tensor2d(randomValues(16 * 4, 32), [16, 4]));
    pbq.configure({ weightBits: 3 });
    const w3 = tf.matMul(x, w).dataSync();
    pbq.configure({ weightBits: 8 });
    const w8 = tf.matMul(x, w).dataSync();
    expect(w3).not.toEqual(w8);
    expect(pbq.withConfig({ weightBits: 3 }, () => tf.matMul(x, w).dataSync())).toEqual(w3);
    expect(pbq.getConfig().weightBits).toBe(8);
    // Nested, and restored after a throw.
    expect(pbq.withConfig({ weightBits: 3 }, () => pbq.withConfig({ activationBits: 4 }, () => pbq.getConfig()))).toEqual(
      expect.objectContaining({ weightBits: 3, activationBits: 4 }));
    expect(() => pbq.withConfig({ weightBits: 2 }, () => { throw new Error('boom'); })).toThrow('boom');
    expect(pbq.getConfig()).toEqual(expect.objectContaining({ weightBits: 8, activationBits: 8 }));
    // Bad settings are rejected before fn runs.
    let ran = false;
    expect(() => pbq.withConfig({ weightBits: 0 }, () => { ran = true; })).toThrow(/weightBits .* got 0 \(number\)/);
    expect(ran).toBe(false);
    expect(() => pbq.withConfig({ weightBits: 3 }, async () => 1)).toThrow(/runs a synchronous fn; it returned a promise/);
    expect(pbq.getConfig().weightBits).toBe(8);
    tf.dispose([x, w]);
  });
});
