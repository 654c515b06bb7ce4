/** The 'pbq-cpu' backend (CPU engine) through the public tfjs API. */
import * as tf from '@tensorflow/tfjs-core';
import * as pbq from '../src/index';
import type { PbqBackendCPU } from '../src/backend_cpu';
import { dequantizeActivation, dequantizeWeight, quantizeActivations, quantizeWeights } from '../src/quantize';
import { randomValues } from './helpers';

const backend = () => tf.backend() as PbqBackendCPU;

beforeAll(async () => {
  await tf.setBackend('pbq-cpu');
});

beforeEach(() => {
  pbq.resetConfig();
});

/** Reference: the dot products of the dequantized operands, [M,K]·[K,N]. */
function dequantizedMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, wBits: number, aBits: number) {
  const acts = quantizeActivations(a, { rows: m, k, rowStride: k, colStride: 1 }, aBits);
  const w = quantizeWeights(b, { batch: 1, k, n, transposed: false }, wBits);
  const out = new Float32Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += dequantizeActivation(acts, r, p) * dequantizeWeight(w, 0, p, c);
      out[r * n + c] = s;
    }
  }
  return out;
}

describe('registration and config', () => {
  it("registers pbq-cpu ('pbq' runs on wasm in Node) and mirrors the config in tf.env() flags", () => {
    expect(tf.getBackend()).toBe('pbq-cpu');
    expect(pbq.detectBaseKind()).toBe('wasm');
    expect(pbq.getConfig()).toEqual({ weightBits: 8, activationBits: 8, activationMatMul: 'quantize', accumulator: { type: 'exact' }, webglProduct: 'auto', webgpuProduct: 'auto', wasmThreads: 0 });
    pbq.configure({ weightBits: 3, activationBits: 12 });
    expect(tf.env().get('PBQ_WEIGHT_BITS')).toBe(3);
    expect(tf.env().get('PBQ_ACTIVATION_BITS')).toBe(12);
    tf.env().set('PBQ_WEIGHT_BITS', 5);
    expect(pbq.getConfig().weightBits).toBe(5);
  });

  it('rejects bad settings with an error naming the problem, leaving the config unchanged', () => {
    pbq.configure({ weightBits: 4 });
    expect(() => pbq.configure({ weightBits: 0 })).toThrow('pbq: weightBits must be an integer in 1..16, got 0');
    expect(() => pbq.configure({ weightBits: 2.5 })).toThrow(/weightBits must be an integer in 1..16, got 2.5/);
    expect(() => pbq.configure({ activationBits: 17 })).toThrow(/activationBits must be an integer in 1..16, got 17/);
    expect(() => pbq.configure({ activationBits: NaN })).toThrow(/activationBits .* got NaN/);
    expect(() => pbq.configure({ wieghtBits: 4 } as never)).toThrow(/unknown config key 'wieghtBits'/);
    expect(() => pbq.configure({ activationMatMul: 'maybe' } as never)).toThrow(/activationMatMul must be one of 'quantize', 'float'/);
    expect(() => pbq.configure({ wasmThreads: 17 })).toThrow('pbq: wasmThreads must be an integer in 0..16, got 17');
    expect(() => pbq.configure({ wasmThreads: -1 })).toThrow('pbq: wasmThreads must be an integer in 0..16, got -1');
    expect(pbq.getConfig().weightBits).toBe(4);
    expect(pbq.configure({ wasmThreads: 2 }).wasmThreads).toBe(2);
    expect(tf.env().get('PBQ_WASM_THREADS')).toBe(2);
  });

  it('a bad value set directly as a flag is reported by name at the next matmul', () => {
    tf.env().set('PBQ_WEIGHT_BITS', 40);
    expect(() => tf.matMul(tf.ones([2, 2]), tf.ones([2, 2]))).toThrow(/PBQ_WEIGHT_BITS must be an integer in 1..16, got 40/);
  });

  it('NaN and Inf weights (variables) give a clear error and leave no tensor behind', () => {
    const before = tf.memory().numTensors;
    const init = tf.tensor2d([1, NaN, 2, 3], [2, 2]);
    const w = tf.variable(init);
    const x = tf.ones([1, 2]);
    expect(() => tf.matMul(x, w)).toThrow(/weight value NaN at \[0, 0, 1\] is not finite/);
    const inf = tf.tensor2d([1, 2, Infinity, 3], [2, 2]);
    w.assign(inf);
    expect(() => tf.matMul(x, w)).toThrow(/weight value Infinity at \[0, 1, 0\] is not finite/);
    tf.dispose([w, x, init, inf]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a NaN in an operand that is not a weight propagates to its output channel, as in float matmul', () => {
    const y = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[1, NaN], [2, 3]])).dataSync();
    expect(Number.isNaN(y[1]) && Number.isNaN(y[3])).toBe(true);
    expect(y[0]).toBeCloseTo(5, 1);
    expect(y[2]).toBeCloseTo(11, 1);
  });
});

describe('bitlayer matmul through tf ops', () => {
  it('tf.matMul equals the dequantized product at several bit widths', () => {
    const [m, k, n] = [3, 45, 6];
    const a = randomValues(m * k, 1, 2);
    const b = randomValues(k * n, 2);
    for (const [w, act] of [[1, 8], [2, 4], [4, 8], [8, 16], [16, 16]]) {
      pbq.configure({ weightBits: w, activationBits: act });
      const y = tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])).dataSync());
      expect(Array.from(y)).toEqual(Array.from(dequantizedMatMul(a, b, m, k, n, w, act)));
    }
  });

  it('transposeA/transposeB give the same result as explicit transposes', () => {
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const a = tf.tensor2d(randomValues(4 * 33, 3), [4, 33]);
    const b = tf.tensor2d(randomValues(33 * 5, 4), [33, 5]);
    const ref = tf.matMul(a, b).dataSync();
    for (const [tA, tB] of [[true, false], [false, true], [true, true]]) {
      const aa = tA ? tf.transpose(a) : a;
      const bb = tB ? tf.transpose(b) : b;
      expect(Array.from(tf.matMul(aa, bb, tA, tB).dataSync())).toEqual(Array.from(ref));
    }
  });

  it('batch dimensions with broadcasting match per-matrix products', () => {
    pbq.configure({ weightBits: 6, activationBits: 8 });
    const a = tf.tensor4d(randomValues(2 * 1 * 3 * 10, 5), [2, 1, 3, 10]);
    const b = tf.tensor4d(randomValues(1 * 4 * 10 * 2, 6), [1, 4, 10, 2]);
    const y = tf.matMul(a, b);
    expect(y.shape).toEqual([2, 4, 3, 2]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 4; j++) {
        const ai = tf.reshape(tf.slice(a, [i, 0, 0, 0], [1, 1, 3, 10]), [3, 10]);
        const bj = tf.reshape(tf.slice(b, [0, j, 0, 0], [1, 1, 10, 2]), [10, 2]);
        const yij = tf.reshape(tf.slice(y, [i, j, 0, 0], [1, 1, 3, 2]), [3, 2]);
        expect(Array.from(yij.dataSync())).toEqual(Array.from(tf.matMul(ai, bj).dataSync()));
      }
    }
  });

  it('fused bias (broadcast) and every activation match the float epilogue of the quantized product', () => {
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const a = tf.tensor2d(randomValues(3 * 20, 7), [3, 20]);
    const b = tf.tensor2d(randomValues(20 * 4, 8), [20, 4]);
    const bias = tf.tensor1d([0.5, -1, 0, 2]);
    const alpha = tf.tensor1d([0.1, 0.2, 0.3, 0.4]);
    const z = tf.add(tf.matMul(a, b), bias);
    const refs: Record<string, tf.Tensor> = {
      linear: z, relu: tf.relu(z), relu6: tf.relu6(z), elu: tf.elu(z), sigmoid: tf.sigmoid(z),
      leakyrelu: tf.leakyRelu(z, 0.3), prelu: tf.prelu(z, alpha),
    };
    for (const [activation, ref] of Object.entries(refs)) {
      const y = tf.fused.matMul({
        a, b, bias, activation: activation as tf.fused.Activation, preluActivationWeights: alpha, leakyreluAlpha: 0.3,
      });
      const got = y.dataSync();
      const want = ref.dataSync();
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 6);
    }
  });

  it('K = 1, N = 1, M = 1 and empty tensors', () => {
    pbq.configure({ weightBits: 8, activationBits: 8 });
    expect(Array.from(tf.matMul(tf.tensor2d([[2], [-4]]), tf.tensor2d([[3, -1]])).dataSync()))
      .toEqual([2 * 3 * 255 / 256, -2 * 255 / 256, -4 * 3 * 255 / 256, 4 * 255 / 256]);
    expect(tf.matMul(tf.ones([1, 5]), tf.ones([5, 1])).dataSync()[0]).toBeCloseTo(5 * 255 / 256, 6);
    const empty = tf.matMul(tf.zeros([0, 3]), tf.ones([3, 2]));
    expect(empty.shape).toEqual([0, 2]);
    expect(tf.matMul(tf.zeros([2, 0]), tf.ones([0, 2])).dataSync()).toEqual(new Float32Array(4));
  });

  it('int32 matmul falls back to the exact base kernel', () => {
    const y = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6, 7, 8], [2, 2], 'int32'));
    expect(y.dtype).toBe('int32');
    expect(Array.from(y.dataSync())).toEqual([19, 22, 43, 50]);
  });

  it("activationMatMul 'float' runs activation×activation products in float32, weights still quantized", () => {
    pbq.configure({ weightBits: 2, activationMatMul: 'float' });
    const a = tf.tensor2d([[0.3, 0.7]]);
    const b = tf.tensor2d([[0.1], [0.9]]);
    expect(tf.matMul(a, b).dataSync()[0]).toBeCloseTo(0.66, 6); // exact float
    const v = tf.variable(b);
    expect(tf.matMul(a, v).dataSync()[0]).not.toBeCloseTo(0.66, 3); // quantized to 2 bits
    v.dispose();
  });
});

describe('weight cache', () => {
  it('changing weightBits 8 → 4 → 2 → 8 gives exactly the results of fresh runs', () => {
    const a = tf.tensor2d(randomValues(2 * 50, 9), [2, 50]);
    const data = randomValues(50 * 3, 10);
    const fresh = (bits: number) => {
      pbq.configure({ weightBits: bits });
      const w = tf.tensor2d(data, [50, 3]);
      const y = tf.matMul(a, w).dataSync();
      w.dispose();
      return Array.from(y);
    };
    const expected = { 8: fresh(8), 4: fresh(4), 2: fresh(2) };
    const w = tf.variable(tf.tensor2d(data, [50, 3]));
    for (const bits of [8, 4, 2, 8] as const) {
      pbq.configure({ weightBits: bits });
      expect(Array.from(tf.matMul(a, w).dataSync())).toEqual(expected[bits]);
    }
    w.dispose();
  });

  it('quantizes a weight once, re-quantizes after Variable.assign, frees everything on dispose', () => {
    pbq.configure({ weightBits: 4 });
    const cache = backend().weightCache;
    const baseline = { tensors: tf.memory().numTensors, cached: cache.size };
    const init = tf.tensor2d(randomValues(40 * 8, 11), [40, 8]);
    const w = tf.variable(init);
    init.dispose();
    const x = tf.tensor2d(randomValues(2 * 40, 12), [2, 40]);
    const first = tf.matMul(x, w);
    for (let i = 0; i < 50; i++) tf.tidy(() => { tf.matMul(x, w); });
    expect(cache.size).toBe(baseline.cached + 1);
    const neg = tf.neg(w);
    w.assign(neg);
    neg.dispose();
    const negated = tf.matMul(x, w);
    // mid-rise codes are symmetric: negating the weights negates the product exactly
    expect(Array.from(negated.dataSync())).toEqual(Array.from(first.dataSync(), (v) => -v));
    expect(cache.size).toBe(baseline.cached + 1); // the old dataId was freed with its planes
    tf.dispose([first, negated, x, w]);
    expect(cache.size).toBe(baseline.cached);
    expect(tf.memory().numTensors).toBe(baseline.tensors);
  });
});
