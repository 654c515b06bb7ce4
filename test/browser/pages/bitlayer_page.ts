/**
 * Page code of the GLSL bitlayer tests: runs pbq on WebGL 2 and returns plain arrays to Jest,
 * which compares them with the CPU engine in Node.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as pbq from '../../../src/index';
import type { PbqBackendWebGL } from '../../../src/backend_webgl';
import type { backend_util } from '@tensorflow/tfjs-core';
import { planMatMul } from '../../../kernels/shared/matmul_plan';
import { rowExponents } from '../../../kernels/webgl/product_operands';
import { productRunCounts } from '../../../kernels/webgl/select_product';
import { partialSumsWebGL } from './partials_gpu';
import { quantizeWeights } from '../../../src/quantize';
import { decodeFloats, encodeFloats, EncodedFloats } from './float_codec';

/** A tensor crossing the page boundary (values encoded with float_codec). */
export interface Operand { values: EncodedFloats; shape: number[] }
export interface MatMulCase {
  a: Operand; b: Operand; transposeA?: boolean; transposeB?: boolean;
  bias?: Operand; prelu?: Operand; activation?: backend_util.Activation; leakyreluAlpha?: number;
  weightBits: number; activationBits: number;
  accumulator?: pbq.AccumulatorConfig;
}

async function ready(): Promise<PbqBackendWebGL> {
  await tf.setBackend('pbq');
  return tf.backend() as PbqBackendWebGL;
}

function tensors(c: MatMulCase) {
  return {
    a: tf.tensor(decodeFloats(c.a.values), c.a.shape, 'float32'),
    b: tf.tensor(decodeFloats(c.b.values), c.b.shape, 'float32'),
    bias: c.bias && tf.tensor(decodeFloats(c.bias.values), c.bias.shape, 'float32'),
    prelu: c.prelu && tf.tensor(decodeFloats(c.prelu.values), c.prelu.shape, 'float32'),
  };
}

const api = {
  async info() {
    const backend = await ready();
    return { backend: tf.getBackend(), base: pbq.detectBaseKind(), isPbqWebGL: backend.constructor.name === 'PbqBackendWebGL' };
  },

  /** The shader's partial sums [outBatch, M, N, t+1] for one case. */
  async partials(c: MatMulCase) {
    const backend = await ready();
    pbq.configure({ weightBits: c.weightBits, activationBits: c.activationBits, accumulator: c.accumulator ?? { type: 'exact' } });
    const t = tensors(c);
    const info = partialSumsWebGL(backend,
      { a: t.a, b: t.b, transposeA: !!c.transposeA, transposeB: !!c.transposeB, activation: 'linear' }, pbq.getConfig());
    const values = encodeFloats(backend.readSync(info.dataId) as Float32Array);
    const shape = info.shape;
    backend.disposeIntermediateTensorInfo(info);
    tf.dispose([t.a, t.b]);
    return { values, shape };
  },

  /** Row exponents E (NaN: non-finite row, -1000: zero row) from the GLSL pass. */
  async rowExponents(a: Operand) {
    const backend = await ready();
    const x = tf.tensor(decodeFloats(a.values), a.shape, 'float32');
    const k = a.shape[a.shape.length - 1];
    const temps: tf.TensorInfo[] = [];
    const { rowExp } = rowExponents(backend, x, planMatMul(a.shape, [k, 1], false, false), false, temps);
    const values = encodeFloats(backend.readSync(rowExp.dataId) as Float32Array);
    for (const info of temps) backend.disposeIntermediateTensorInfo(info);
    x.dispose();
    return values;
  },

  /** tf.matMul (or tf.fused.matMul with a bias or an activation) under pbq. */
  async matmul(c: MatMulCase) {
    await ready();
    pbq.configure({ weightBits: c.weightBits, activationBits: c.activationBits, accumulator: c.accumulator ?? { type: 'exact' } });
    const t = tensors(c);
    const fused = c.bias !== undefined || (c.activation ?? 'linear') !== 'linear';
    const y = !fused ? tf.matMul(t.a, t.b, c.transposeA, c.transposeB) : tf.fused.matMul({
      a: t.a as tf.Tensor2D, b: t.b as tf.Tensor2D, transposeA: c.transposeA, transposeB: c.transposeB,
      bias: t.bias, activation: c.activation, preluActivationWeights: t.prelu, leakyreluAlpha: c.leakyreluAlpha,
    });
    const out = { values: encodeFloats(await y.data()), shape: y.shape };
    tf.dispose([t.a, t.b, t.bias, t.prelu, y].filter((x): x is tf.Tensor => x !== undefined));
    return out;
  },

  /**
   * One case through every WebGL product (the webglProduct flag), with the number of calls each
   * program served.
   */
  async matmulAllProducts(c: MatMulCase) {
    const out: Record<string, { values: EncodedFloats; shape: number[]; runs: Record<string, number> }> = {};
    for (const product of pbq.WEBGL_PRODUCTS) {
      pbq.configure({ webglProduct: product });
      try {
        const before = productRunCounts();
        const r = await api.matmul(c);
        const after = productRunCounts();
        const runs = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
        out[product] = { ...r, runs };
      } finally {
        pbq.configure({ webglProduct: 'auto' });
      }
    }
    return out;
  },

  /** The device profile's name and renderer string of this page's WebGL context. */
  async deviceProfile() {
    const backend = await ready();
    const { deviceProfile } = await import('../../../kernels/webgl/BatchMatMul_impl');
    return deviceProfile(backend).name;
  },

  /** accumulatorStats() after running a case (reset first). */
  async statsAfter(c: MatMulCase) {
    pbq.resetAccumulatorStats();
    await api.matmul(c);
    return pbq.accumulatorStats();
  },

  /** A matmul whose weight uses stored planes (chosen ranges, per-channel bit widths). */
  async matmulSeeded(c: MatMulCase, stored: { ranges: number[]; channelBits: number[] }) {
    const backend = await ready();
    pbq.configure({ weightBits: c.weightBits, activationBits: c.activationBits, accumulator: c.accumulator ?? { type: 'exact' } });
    const values = decodeFloats(c.b.values);
    const a = tf.tensor(decodeFloats(c.a.values), c.a.shape, 'float32');
    const init = tf.tensor(values, c.b.shape, 'float32');
    const b = tf.variable(init);
    init.dispose();
    const layout = { batch: 1, k: c.b.shape[0], n: c.b.shape[1], transposed: false };
    backend.weightCache.seed(b.dataId, layout, quantizeWeights(values, layout, Math.max(...stored.channelBits), stored));
    const y = tf.matMul(a, b);
    const out = { values: encodeFloats(await y.data()), shape: y.shape };
    tf.dispose([a, b, y]);
    return out;
  },

  /** Many calls on one weight, then disposal: memory must return to its baseline. */
  async memoryAfterManyCalls(calls: number) {
    const backend = await ready();
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const before = tf.memory() as tf.MemoryInfo & { numBytesInGPU: number };
    const init = tf.randomNormal([96, 40], 0, 1, 'float32', 5);
    const w = tf.variable(init);
    init.dispose();
    for (let i = 0; i < calls; i++) {
      tf.tidy(() => {
        const x = tf.randomNormal([3, 96], 0, 1, 'float32', i);
        pbq.configure({ weightBits: 1 + (i % 8) });
        return tf.relu(tf.matMul(x, w)).dataSync();
      });
    }
    const during = { cached: backend.weightCache.size, ...(tf.memory() as typeof before) };
    w.dispose();
    const after = tf.memory() as typeof before;
    return {
      before: { numTensors: before.numTensors, numBytesInGPU: before.numBytesInGPU },
      during: { cached: during.cached, numTensors: during.numTensors, numBytesInGPU: during.numBytesInGPU },
      after: { cached: backend.weightCache.size, numTensors: after.numTensors, numBytesInGPU: after.numBytesInGPU },
    };
  },
};

Object.assign(window, { pbqTest: api });
for (const [name, fn] of Object.entries(api)) (window as unknown as Record<string, unknown>)[name] = fn;
