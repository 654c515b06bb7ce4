/**
 * Page code of the WebGPU tests: runs pbq on 'pbq-webgpu' and, as the oracle, the CPU engine
 * (src/engine.ts) in the same page on the same float32 operands, so integers are compared where
 * they are made. Results cross to Jest as plain arrays (floats encoded, webgpu_case.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as webgpu from '@tensorflow/tfjs-backend-webgpu';
import * as pbq from '../../../src/index';
import type { PbqBackendWebGPU } from '../../../src/backend_webgpu';
import { combinePartialSums, partialSums } from '../../../src/engine';
import { channelPlanes, quantizeWeights } from '../../../src/quantize';
import { quantizeAOperand } from '../../../kernels/cpu/BatchMatMul_impl';
import { planMatMul } from '../../../kernels/shared/matmul_plan';
import { productFor } from '../../../kernels/webgpu/BatchMatMul_impl';
import { paddedChannels } from '../../../kernels/webgpu/gpu_weight';
import { deviceProfile, runProduct, setupMatMul } from '../../../kernels/webgpu/product_operands';
import { productRunCounts } from '../../../kernels/webgpu/select_product';
import { lstmModel, TOKENS } from '../../lstm_fixture';
import { FUSED_LSTM_FLAG } from '../../../src/layers';
import { decodeFloats, encodeFloats } from './webgpu_case';
import type { MatMulCase, Operand } from './webgpu_case';

const BACKEND = 'pbq-webgpu';
pbq.useWebGPU(webgpu);

async function ready(): Promise<PbqBackendWebGPU> {
  if (tf.getBackend() !== BACKEND && !(await tf.setBackend(BACKEND))) throw new Error(`tf.setBackend('${BACKEND}') failed`);
  return tf.backend() as PbqBackendWebGPU;
}

function tensorOf(o: Operand): tf.Tensor {
  return tf.tensor(decodeFloats(o.values), o.shape, 'float32');
}

function configureCase(c: MatMulCase, product: pbq.WebGPUProductFlag = 'auto') {
  pbq.configure({ weightBits: c.weightBits, activationBits: c.activationBits, accumulator: c.accumulator ?? { type: 'exact' }, webgpuProduct: product });
}

/** The CPU engine's d [outBatch, M, N] of a case (weights quantized as the cache does). */
function engineIntegers(c: MatMulCase, stored?: { ranges: number[]; channelBits: number[] }): number[] {
  const tA = !!c.transposeA;
  const tB = !!c.transposeB;
  const plan = planMatMul(c.a.shape, c.b.shape, tA, tB);
  const acts = quantizeAOperand(new Float32Array(decodeFloats(c.a.values)), plan, tA, c.activationBits);
  const layout = { batch: plan.bBatch, k: plan.k, n: plan.n, transposed: tB };
  const values = new Float32Array(decodeFloats(c.b.values));
  const w = stored ? quantizeWeights(values, layout, Math.max(...stored.channelBits), stored)
    : quantizeWeights(values, layout, c.weightBits, { nonFinite: 'nan' });
  const out: number[] = [];
  for (let ob = 0; ob < plan.outBatch; ob++) {
    for (let m = 0; m < plan.m; m++) {
      const row = plan.aIndex[ob] * plan.m + m;
      for (let n = 0; n < plan.n; n++) {
        const t = channelPlanes(w, plan.bIndex[ob] * plan.n + n, c.weightBits);
        out.push(combinePartialSums(partialSums(acts, row, w, plan.bIndex[ob], n, t), acts.codeSums[row]));
      }
    }
  }
  return out;
}

/**
 * The GPU product's d [outBatch, M, N], rebuilt exactly from its i32 parts (product_parts.ts):
 * d = (Σ_g 2^shift_g Σ_split P) / 2^δ_n + c_T·T, in float64 (exact: |d| < 2^53 here).
 */
async function gpuIntegers(backend: PbqBackendWebGPU, a: tf.Tensor, b: tf.Tensor, c: MatMulCase) {
  const args = { a, b, transposeA: !!c.transposeA, transposeB: !!c.transposeB, activation: 'linear' as const };
  const config = pbq.getConfig();
  const s = setupMatMul(backend, args, config);
  const kind = productFor(s, config);
  if (kind === 'cpu') return { kind, d: [] as number[] };
  const temps: tf.TensorInfo[] = [];
  try {
    const r = runProduct(backend, args, s, kind, temps);
    const parts = await backend.read(r.parts.dataId) as Int32Array;
    const rows = await backend.read(r.activations.dataId) as Int32Array;
    const { plan } = s;
    const np = paddedChannels(plan.n);
    const S = r.tile.splits;
    const d: number[] = [];
    for (let ob = 0; ob < plan.outBatch; ob++) {
      for (let m = 0; m < plan.m; m++) {
        const codeSum = rows[(plan.aIndex[ob] * plan.m + m) * r.layout.rowLength + 1];
        for (let n = 0; n < plan.n; n++) {
          const channel = plan.bIndex[ob] * plan.n + n;
          const delta = s.t - s.gpu.channelPlanes(channel, s.t);
          let sum = 0;
          r.integerParts.shifts.forEach((shift, g) => {
            let p = 0;
            for (let sp = 0; sp < S; sp++) p += parts[(((g * S + sp) * plan.outBatch + ob) * plan.m + m) * np + n];
            sum += p * 2 ** shift;
          });
          d.push(sum / 2 ** (r.kind === 'planes' ? delta : 0) + r.integerParts.codeSumFactor * codeSum);
        }
      }
    }
    return { kind, d, parts: r.integerParts, tile: r.tile };
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

const api = {
  async info() {
    const backend = await ready();
    return { backend: tf.getBackend(), profile: deviceProfile(backend).name, adapter: backend.adapter, isSecureContext };
  },

  /**
   * d of one case from the GPU product `product` and from the CPU engine; `served` is the product
   * that ran (another when the named one cannot serve).
   */
  async integers(c: MatMulCase, product: pbq.WebGPUProductFlag) {
    const backend = await ready();
    configureCase(c, product);
    const a = tensorOf(c.a);
    const b = tensorOf(c.b);
    try {
      const gpu = await gpuIntegers(backend, a, b, c);
      return { served: gpu.kind, gpu: gpu.d, cpu: engineIntegers(c), parts: gpu.parts, tile: gpu.tile };
    } finally {
      tf.dispose([a, b]);
      pbq.configure({ webgpuProduct: 'auto' });
    }
  },

  /**
   * The same with B the output of a GPU op (its values only in a GPU buffer: quantized on the
   * GPU, gpu_weight.ts DeviceQuantizedWeight), and tf.matMul's output for it.
   */
  async integersGpuResident(c: MatMulCase, product: pbq.WebGPUProductFlag) {
    const backend = await ready();
    configureCase(c, product);
    const cpuForward = tf.env().getBool('WEBGPU_CPU_FORWARD');
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const a = tensorOf(c.a);
    const b = tensorOf(c.b);
    // any GPU op uploads its inputs and drops their host copy: b's values (bit for bit) are then only on the GPU
    tf.add(b, 0).dispose();
    try {
      const resident = backend.gpuResident(b.dataId);
      const gpu = await gpuIntegers(backend, a, b, c);
      const y = tf.matMul(a, b, c.transposeA, c.transposeB);
      const values = encodeFloats(await y.data());
      y.dispose();
      return { resident, onDevice: backend.deviceWeights.size, served: gpu.kind, gpu: gpu.d, cpu: engineIntegers(c), values };
    } finally {
      tf.dispose([a, b]);
      tf.env().set('WEBGPU_CPU_FORWARD', cpuForward);
      pbq.configure({ webgpuProduct: 'auto' });
    }
  },

  /** tf.matMul (or tf.fused.matMul with a bias or an activation) under pbq-webgpu, with the products that ran. */
  async matmul(c: MatMulCase, product: pbq.WebGPUProductFlag = 'auto') {
    await ready();
    configureCase(c, product);
    const t = { a: tensorOf(c.a), b: tensorOf(c.b), bias: c.bias && tensorOf(c.bias), prelu: c.prelu && tensorOf(c.prelu) };
    const fused = c.bias !== undefined || (c.activation ?? 'linear') !== 'linear';
    const before = productRunCounts();
    try {
      const y = !fused ? tf.matMul(t.a, t.b, c.transposeA, c.transposeB) : tf.fused.matMul({
        a: t.a as tf.Tensor2D, b: t.b as tf.Tensor2D, transposeA: c.transposeA, transposeB: c.transposeB,
        bias: t.bias, activation: c.activation, preluActivationWeights: t.prelu, leakyreluAlpha: c.leakyreluAlpha,
      });
      const values = encodeFloats(await y.data());
      const after = productRunCounts();
      y.dispose();
      const runs = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
      return { values, shape: y.shape, runs };
    } finally {
      tf.dispose([t.a, t.b, t.bias, t.prelu].filter((x): x is tf.Tensor => x !== undefined));
      pbq.configure({ webgpuProduct: 'auto' });
    }
  },

  /** A matmul whose weight (a variable) uses stored planes (chosen ranges, per-channel bit widths): GPU d, engine d, and y. */
  async seeded(c: MatMulCase, stored: { ranges: number[]; channelBits: number[] }, product: pbq.WebGPUProductFlag) {
    const backend = await ready();
    configureCase(c, product);
    const values = decodeFloats(c.b.values);
    const a = tensorOf(c.a);
    const init = tensorOf(c.b);
    const b = tf.variable(init);
    init.dispose();
    const layout = { batch: 1, k: c.b.shape[0], n: c.b.shape[1], transposed: false };
    backend.weightCache.seed(b.dataId, layout, quantizeWeights(values, layout, Math.max(...stored.channelBits), stored));
    try {
      const gpu = await gpuIntegers(backend, a, b, c);
      const y = tf.matMul(a, b);
      const out = encodeFloats(await y.data());
      y.dispose();
      return { served: gpu.kind, gpu: gpu.d, cpu: engineIntegers(c, stored), values: out };
    } finally {
      tf.dispose([a, b]);
      pbq.configure({ webgpuProduct: 'auto' });
    }
  },

  /** accumulatorStats() after a case (reset first), with its output. */
  async statsAfter(c: MatMulCase) {
    pbq.resetAccumulatorStats();
    const out = await api.matmul(c);
    return { stats: pbq.accumulatorStats(), out };
  },

  /** Shape and runs of a matmul with an empty operand (served by the stock webgpu kernel). */
  async empty(aShape: number[], bShape: number[]) {
    await ready();
    const before = productRunCounts();
    const y = tf.matMul(tf.zeros(aShape), tf.zeros(bShape));
    const values = Array.from(await y.data());
    const after = productRunCounts();
    const out = { shape: y.shape, values, pbqRuns: after.planes + after.dot4 + after.cpu - before.planes - before.dot4 - before.cpu };
    y.dispose();
    return out;
  },

  /** Many calls on one weight at changing widths and products, then disposal: memory must return to its baseline. */
  async memoryAfterManyCalls(calls: number) {
    const backend = await ready();
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const memory = () => tf.memory() as tf.MemoryInfo & { numBytesInGPU: number };
    const snapshot = () => ({ cached: backend.weightCache.size + backend.deviceWeights.size, numTensors: memory().numTensors, numBytesInGPU: memory().numBytesInGPU, dataIds: backend.numDataIds() });
    // warm-up: tfjs's own uniform and staging buffers are pooled, not freed
    const before = snapshot();
    const init = tf.randomNormal([96, 40], 0, 1, 'float32', 5);
    const w = tf.variable(init);
    init.dispose();
    // a second B operand whose values exist only on the GPU (quantized there)
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const onGpu = tf.mul(w, 2);
    for (let i = 0; i < calls; i++) {
      pbq.configure({ weightBits: 1 + (i % 8), webgpuProduct: i % 2 ? 'planes' : 'dot4' });
      const y = tf.tidy(() => tf.relu(tf.matMul(tf.randomNormal([3, 96], 0, 1, 'float32', i), i % 3 ? w : onGpu)));
      await y.data();
      y.dispose();
    }
    tf.env().set('WEBGPU_CPU_FORWARD', true);
    const during = snapshot();
    w.dispose();
    onGpu.dispose();
    const flush = tf.zeros([1]);
    await flush.data(); // a submit: the GPU frees buffers queued for disposal then
    flush.dispose();
    const after = snapshot();
    pbq.configure({ webgpuProduct: 'auto' });
    return { before, during, after };
  },

  /** Fused and composed LSTM outputs under pbq-webgpu, which kernels ran, and tensors before/after. */
  async lstm(recurrentActivation: 'hardSigmoid' | 'sigmoid', weightBits: number, seed: number) {
    await ready();
    pbq.configure({ weightBits, activationBits: 8, accumulator: { type: 'exact' } });
    const model = lstmModel(recurrentActivation, seed);
    const tokens = tf.tensor2d(TOKENS);
    const run = async (fused: boolean) => {
      tf.env().set(FUSED_LSTM_FLAG, fused);
      let out: number[] = [];
      const profile = await tf.profile(async () => {
        const y = model.predict(tokens) as tf.Tensor;
        out = Array.from(await y.data());
        y.dispose();
      });
      return { out, usedKernel: profile.kernelNames.includes('PbqLSTMStep') };
    };
    try {
      const fused = await run(true);
      const composed = await run(false);
      const before = tf.memory().numTensors;
      await run(true);
      const after = tf.memory().numTensors;
      return { fused, composed, before, after };
    } finally {
      tf.env().set(FUSED_LSTM_FLAG, true);
      model.dispose();
      tokens.dispose();
    }
  },
};

Object.assign(window, api);
