/**
 * The 'pbq-wasm' backend through the public tfjs API: every quantized matmul equals pbq-cpu's
 * bit for bit (the WebAssembly engine computes the TypeScript engine's integers, the epilogue
 * is the shared one), and what is the base's own: fallbacks to tfjs-backend-wasm's kernels,
 * the weight cache and its packings, no leaks, the stock 'wasm' backend alongside, 'pbq' = wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as pbq from '../src/index';
import type { PbqBackendWasm } from '../src/backend_wasm';
import { contextOf } from '../kernels/wasm/context';
import { randomValues } from './helpers';

interface Operand { values: Float32Array; shape: number[] }
interface Case {
  a: Operand;
  b: Operand;
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: Operand;
  activation?: tf.fused.Activation;
  prelu?: Operand;
  leakyreluAlpha?: number;
  /** B as a tf.variable (a model weight) rather than a plain tensor. */
  variable?: boolean;
}

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const operand = (shape: number[], seed: number, scale = 1): Operand => ({ values: randomValues(size(shape), seed, scale), shape });

/** The case's output on `backend`, at the current config. */
async function output(backend: string, c: Case): Promise<Float32Array> {
  await tf.setBackend(backend);
  const t = (o?: Operand) => o && tf.tensor(o.values, o.shape);
  const init = t(c.b) as tf.Tensor;
  const b = c.variable ? tf.variable(init) : init;
  if (c.variable) init.dispose(); // the variable keeps the data
  const fused = c.bias !== undefined || (c.activation ?? 'linear') !== 'linear';
  const y = tf.tidy(() => !fused ? tf.matMul(t(c.a) as tf.Tensor, b, c.transposeA, c.transposeB) : tf.fused.matMul({
    a: t(c.a) as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: c.transposeA, transposeB: c.transposeB,
    bias: t(c.bias), activation: c.activation, preluActivationWeights: t(c.prelu), leakyreluAlpha: c.leakyreluAlpha,
  }));
  const values = y.dataSync() as Float32Array;
  tf.dispose([y, b]);
  return values;
}

/** Outputs of pbq-cpu and pbq-wasm (as arrays, so that a difference prints its index). */
async function both(c: Case): Promise<[number[], number[]]> {
  return [Array.from(await output('pbq-cpu', c)), Array.from(await output('pbq-wasm', c))];
}

beforeAll(async () => {
  expect(await tf.setBackend('pbq-wasm')).toBe(true);
});

beforeEach(() => pbq.resetConfig());

describe('pbq-wasm equals pbq-cpu bit for bit', () => {
  it('every weight width 1..16 at activations 4, 8, 16, batch 1 and 5 rows, K not a multiple of 32', async () => {
    for (let w = 1; w <= 16; w++) {
      for (const act of [4, 8, 16]) {
        pbq.configure({ weightBits: w, activationBits: act });
        for (const m of [1, 5]) {
          const [cpu, wasm] = await both({ a: operand([m, 45], w * 10 + act), b: operand([45, 7], w, 0.3), variable: true });
          expect({ w, act, m, wasm }).toEqual({ w, act, m, wasm: cpu });
        }
      }
    }
  });

  it('transposeA/transposeB and broadcast batch dimensions', async () => {
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const cases: Case[] = [
      { a: operand([33, 4], 1), b: operand([33, 5], 2), transposeA: true },
      { a: operand([4, 33], 3), b: operand([5, 33], 4), transposeB: true },
      { a: operand([33, 4], 5), b: operand([5, 33], 6), transposeA: true, transposeB: true },
      { a: operand([2, 1, 3, 10], 7), b: operand([1, 4, 10, 2], 8) },
      { a: operand([3, 2, 10], 9), b: operand([10, 6], 10) },
      { a: operand([2, 10, 3], 11), b: operand([2, 6, 10], 12), transposeA: true, transposeB: true },
    ];
    for (const c of cases) {
      const [cpu, wasm] = await both(c);
      expect(wasm).toEqual(cpu);
    }
  });

  it('bias (broadcast) and every fused activation', async () => {
    pbq.configure({ weightBits: 6, activationBits: 8 });
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const) {
      const [cpu, wasm] = await both({
        a: operand([3, 20], 13), b: operand([20, 4], 14), bias: operand([4], 15), activation,
        prelu: operand([4], 16, 0.5), leakyreluAlpha: 0.3,
      });
      expect({ activation, wasm }).toEqual({ activation, wasm: cpu });
    }
    const [cpu, wasm] = await both({ a: operand([2, 3, 20], 17), b: operand([20, 4], 18), bias: operand([3, 1], 19), activation: 'relu' });
    expect(wasm).toEqual(cpu);
  });

  it('K = 1, N = 1, M = 1, and NaN in an operand that is not a weight', async () => {
    for (const [m, k, n] of [[2, 1, 3], [1, 5, 1], [1, 1, 1]]) {
      const [cpu, wasm] = await both({ a: operand([m, k], m + k), b: operand([k, n], n) });
      expect(wasm).toEqual(cpu);
    }
    const b = { values: Float32Array.from([1, NaN, 2, 3]), shape: [2, 2] };
    const [cpu, wasm] = await both({ a: operand([2, 2], 20), b });
    expect(wasm).toEqual(cpu);
    expect(Number.isNaN(wasm[1]) && Number.isNaN(wasm[3]) && !Number.isNaN(wasm[0])).toBe(true);
  });

  it('simulated narrow accumulators (the TypeScript engine serves them)', async () => {
    for (const accumulator of [
      { type: 'int', bits: 12, overflow: 'wrap' }, { type: 'int', bits: 14, overflow: 'saturate' },
      { type: 'float', mantissa: 4, exponent: 4, chunk: 8, rounding: 'floor' },
    ] as const) {
      pbq.configure({ weightBits: 4, activationBits: 8, accumulator });
      const [cpu, wasm] = await both({ a: operand([3, 300], 21, 3), b: operand([300, 5], 22) });
      expect(wasm).toEqual(cpu);
    }
  });
});

describe('pbq-wasm on worker threads (wasmThreads)', () => {
  it('a large product shared by 1, 2 or 3 threads equals pbq-cpu bit for bit, fused epilogue included', async () => {
    const c: Case = {
      a: operand([24, 520], 41), b: operand([520, 403], 42, 0.2), bias: operand([403], 43), activation: 'relu', variable: true,
    }; // 24 · 520 · 403 multiply-adds: above THREAD_MIN_WORK; 403 channels: an uneven split
    pbq.configure({ weightBits: 4 });
    const cpu = Array.from(await output('pbq-cpu', c));
    const engine = contextOf(tf.findBackend('pbq-wasm') as PbqBackendWasm).engine;
    const served: number[] = [];
    for (const wasmThreads of [1, 2, 3]) {
      pbq.configure({ wasmThreads });
      expect({ wasmThreads, wasm: Array.from(await output('pbq-wasm', c)) }).toEqual({ wasmThreads, wasm: cpu });
      served.push(engine.lastThreads);
      expect(pbq.wasmThreadCount()).toBe(wasmThreads);
    }
    expect(served).toEqual([1, 2, 3]);
    expect(pbq.wasmThreadCount('no-such-backend')).toBe(0);
  });

  it("'auto' (0, the default) runs Node's cores, at most 4", async () => {
    const c: Case = { a: operand([24, 520], 44), b: operand([520, 403], 45, 0.2), variable: true };
    await output('pbq-wasm', c);
    const engine = contextOf(tf.findBackend('pbq-wasm') as PbqBackendWasm).engine;
    expect(engine.lastThreads).toBe(Math.min(4, require('os').availableParallelism()));
  });
});

describe('pbq-wasm on its base', () => {
  it("'float' policy and empty outputs run tfjs-backend-wasm's own kernels, K = 0 pbq's", async () => {
    await tf.setBackend('pbq-wasm');
    pbq.configure({ weightBits: 2, activationMatMul: 'float' });
    const a = operand([3, 7], 23);
    const b = operand([7, 2], 24);
    const y = tf.tidy(() => tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape)).dataSync());
    await tf.setBackend('wasm');
    const stock = tf.tidy(() => tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape)).dataSync());
    expect(Array.from(y)).toEqual(Array.from(stock));
    await tf.setBackend('pbq-wasm');
    tf.tidy(() => {
      expect(tf.matMul(tf.zeros([0, 3]), tf.ones([3, 2])).shape).toEqual([0, 2]);
      // K = 0: tfjs-backend-wasm's kernel leaves the output uninitialized; pbq-wasm gives act(0 + bias)
      expect(Array.from(tf.matMul(tf.zeros([2, 0]), tf.ones([0, 2])).dataSync())).toEqual([0, 0, 0, 0]);
      expect(Array.from(tf.fused.matMul({ a: tf.zeros([2, 0]), b: tf.ones([0, 2]), bias: tf.tensor1d([1, -2]), activation: 'relu' })
        .dataSync())).toEqual([1, 0, 1, 0]);
    });
  });

  it('stock wasm and pbq-wasm alternate in one process, each with its own module', async () => {
    pbq.configure({ weightBits: 8, activationBits: 8 });
    const a = operand([2, 40], 25);
    const b = operand([40, 3], 26);
    const float = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => Array.from(
        tf.fused.matMul({ a: tf.tensor2d(a.values, [2, 40]), b: tf.tensor2d(b.values, [40, 3]), activation: 'relu' }).dataSync()));
    };
    const c: Case = { a, b, activation: 'relu', bias: { values: new Float32Array(3), shape: [3] } };
    const reference = await float('cpu');
    const quantized = Array.from(await output('pbq-cpu', c));
    for (let round = 0; round < 3; round++) {
      const stock = await float('wasm');
      for (let i = 0; i < stock.length; i++) expect(stock[i]).toBeCloseTo(reference[i], 4);
      expect(Array.from(await output('pbq-wasm', c))).toEqual(quantized);
    }
    const pbqModule = (tf.findBackend('pbq-wasm') as PbqBackendWasm).wasm;
    expect(pbqModule).not.toBe((tf.findBackend('wasm') as PbqBackendWasm).wasm);
  });

  it('NaN and Inf weights (variables) give a clear error and leave no tensor behind', async () => {
    await tf.setBackend('pbq-wasm');
    const before = tf.memory().numTensors;
    const init = tf.tensor2d([1, NaN, 2, 3], [2, 2]);
    const w = tf.variable(init);
    const x = tf.ones([1, 2]);
    expect(() => tf.matMul(x, w)).toThrow(/weight value NaN at \[0, 0, 1\] is not finite/);
    tf.dispose([w, x, init]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('operands are read and outputs written in the module memory (no copies)', async () => {
    await tf.setBackend('pbq-wasm');
    expect(contextOf(tf.backend() as PbqBackendWasm).inPlace).toBe(true);
  });
});

describe('pbq-wasm weight cache', () => {
  it('one packing per weight and width; 8 → 4 → 2 → 8 equals fresh runs; freed with the weight', async () => {
    await tf.setBackend('pbq-wasm');
    const backend = tf.backend() as PbqBackendWasm;
    const { engine } = contextOf(backend);
    const x = tf.tensor2d(randomValues(2 * 50, 27), [2, 50]);
    const data = randomValues(50 * 3, 28);
    const fresh = (bits: number, values = data) => {
      pbq.configure({ weightBits: bits });
      const w = tf.tensor2d(values, [50, 3]);
      const y = Array.from(tf.matMul(x, w).dataSync());
      w.dispose();
      return y;
    };
    const expected: Record<number, number[]> = { 8: fresh(8), 4: fresh(4), 2: fresh(2) };
    const negated = data.map((v) => -v);
    const expectedNegated = fresh(8, negated);
    const baseline = { cached: backend.weightCache.size, tensors: tf.memory().numTensors };
    const init = tf.tensor2d(data, [50, 3]);
    const w = tf.variable(init);
    init.dispose();
    let packs = 0;
    const packWeight = engine.packWeight.bind(engine);
    engine.packWeight = (q, bits) => {
      packs++;
      return packWeight(q, bits);
    };
    try {
      for (const bits of [8, 4, 2, 8, 4]) {
        pbq.configure({ weightBits: bits });
        for (let i = 0; i < 3; i++) expect(Array.from(tf.tidy(() => tf.matMul(x, w).dataSync()))).toEqual(expected[bits]);
      }
    } finally {
      engine.packWeight = packWeight;
    }
    expect(packs).toBe(3); // widths 8, 4, 2 once each
    expect(backend.weightCache.size).toBe(baseline.cached + 1);
    const value = tf.tensor2d(negated, [50, 3]);
    w.assign(value); // a new dataId: quantized and packed again
    value.dispose();
    pbq.configure({ weightBits: 8 });
    expect(Array.from(tf.tidy(() => tf.matMul(x, w).dataSync()))).toEqual(expectedNegated);
    w.dispose();
    expect(backend.weightCache.size).toBe(baseline.cached);
    x.dispose();
    expect(tf.memory().numTensors).toBe(baseline.tensors - 1);
    expect(backend.weightCache.size).toBe(0); // and nothing left from the earlier tests
  });
});

describe("'pbq' in Node", () => {
  it('runs on the wasm base', async () => {
    expect(pbq.detectBaseKind()).toBe('wasm');
    expect(pbq.availableBases()).toEqual(['wasm', 'cpu']); // webgl and webgpu: browsers only
    await tf.setBackend('pbq');
    expect(tf.backend().constructor.name).toBe('PbqBackendWasm');
    const [cpu] = await both({ a: operand([2, 9], 29), b: operand([9, 2], 30) });
    expect(Array.from(await output('pbq', { a: operand([2, 9], 29), b: operand([9, 2], 30) }))).toEqual(cpu);
    pbq.configure({ wasmThreads: 3 });
    await output('pbq', { a: operand([24, 520], 31), b: operand([520, 403], 32, 0.2), variable: true }); // takes the setting
    expect([pbq.wasmThreadCount('pbq'), pbq.wasmThreadCount('pbq-cpu')]).toEqual([3, 0]);
  });
});
