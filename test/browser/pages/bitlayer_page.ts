/**
 * Page of test/browser/bitlayer_matmul_gpu.test.ts: each call builds a seeded case, runs it on
 * pbq's WebGL products and on the CPU engine (pbq-cpu, in this page), and returns what differs
 * (nothing, when the test passes) with the facts the test asserts (lengths, which program ran).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { backend_util } from '@tensorflow/tfjs-core';
import * as pbq from '../../../src/index';
import type { PbqBackendWebGL } from '../../../src/backend_webgl';
import { quantizeWeights } from '../../../src/quantize';
import type { WeightCache } from '../../../src/weight_cache';
import { planMatMul } from '../../../kernels/shared/matmul_plan';
import { deviceProfile } from '../../../kernels/webgl/BatchMatMul_impl';
import { rowExponents } from '../../../kernels/webgl/product_operands';
import { rawResources } from '../../../kernels/webgl/raw_program';
import { productRunCounts } from '../../../kernels/webgl/select_product';
import { seededValues } from '../../../tools/bench/bench_data';
import { cpuAccumulatorPartials, cpuPartials, gpuPartials } from './partials';

/** Seeded values uniform in [-scale, scale) (|x| with `abs`), or explicit ones ('NaN', 'Infinity', '-Infinity' allowed). */
export type OperandSpec =
  | { shape: number[]; seed: number; scale: number; abs?: boolean }
  | { shape: number[]; values: Array<number | string> };

/** A matmul case: operands, fused epilogue, bit settings, and elements set to NaN afterwards. */
export interface CaseSpec {
  a: OperandSpec; b: OperandSpec; transposeA?: boolean; transposeB?: boolean;
  bias?: OperandSpec; prelu?: OperandSpec; activation?: backend_util.Activation; leakyreluAlpha?: number;
  weightBits: number; activationBits: number;
  accumulator?: pbq.AccumulatorConfig;
  nan?: Array<['a' | 'b', number]>;
}

/** Where two outputs differ: the count compared and the first differences (empty when equal). */
export interface Comparison { length: number; mismatches: string[] }

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

function valuesOf(o: OperandSpec): Float32Array {
  if ('values' in o) return Float32Array.from(o.values, Number);
  const v = seededValues(size(o.shape), o.seed, o.scale);
  return o.abs ? v.map(Math.abs) : v;
}

/** The case's operand values (NaN set where asked). */
function operands(c: CaseSpec) {
  const a = valuesOf(c.a);
  const b = valuesOf(c.b);
  for (const [which, index] of c.nan ?? []) (which === 'a' ? a : b)[index] = NaN;
  return { a, b, bias: c.bias && valuesOf(c.bias), prelu: c.prelu && valuesOf(c.prelu) };
}

function describe(i: number, gpu: number, cpu: number): string {
  return `[${i}] gpu ${gpu} cpu ${cpu}`;
}

/** Bit-for-bit equality (NaN equals NaN). */
function compareExact(gpu: ArrayLike<number>, cpu: ArrayLike<number>): Comparison {
  const mismatches: string[] = [];
  if (gpu.length !== cpu.length) mismatches.push(`length: gpu ${gpu.length} cpu ${cpu.length}`);
  for (let i = 0; i < Math.min(gpu.length, cpu.length) && mismatches.length < 5; i++) {
    if (!Object.is(gpu[i], cpu[i])) mismatches.push(describe(i, gpu[i], cpu[i]));
  }
  return { length: cpu.length, mismatches };
}

/** |gpu − cpu| ≤ tolerance · max |cpu| everywhere, NaN exactly where the CPU has NaN. */
function compareClose(gpu: ArrayLike<number>, cpu: ArrayLike<number>, tolerance: number): Comparison {
  const mismatches: string[] = [];
  if (gpu.length !== cpu.length) mismatches.push(`length: gpu ${gpu.length} cpu ${cpu.length}`);
  let scale = 1e-30;
  for (let i = 0; i < cpu.length; i++) if (!Number.isNaN(cpu[i])) scale = Math.max(scale, Math.abs(cpu[i]));
  for (let i = 0; i < Math.min(gpu.length, cpu.length) && mismatches.length < 5; i++) {
    const ok = Number.isNaN(cpu[i]) ? Number.isNaN(gpu[i]) : Math.abs(gpu[i] - cpu[i]) <= tolerance * scale;
    if (!ok) mismatches.push(describe(i, gpu[i], cpu[i]));
  }
  return { length: cpu.length, mismatches };
}

function nanIndices(values: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) out.push(i);
  return out;
}

function configureFor(c: CaseSpec, product: pbq.WebGLProductFlag = 'auto'): void {
  pbq.configure({
    weightBits: c.weightBits, activationBits: c.activationBits, accumulator: c.accumulator ?? { type: 'exact' }, webglProduct: product,
  });
}

/** tf.matMul (tf.fused.matMul with a bias or an activation) of the case on `backend`; `b` a variable with `stored` planes if given. */
async function runMatMul(c: CaseSpec, backend: string, stored?: { ranges: number[]; channelBits: number[] }) {
  await tf.setBackend(backend);
  const v = operands(c);
  const a = tf.tensor(v.a, c.a.shape, 'float32');
  let b = tf.tensor(v.b, c.b.shape, 'float32');
  if (stored) {
    const init = b;
    b = tf.variable(init);
    init.dispose();
    const layout = { batch: 1, k: c.b.shape[0], n: c.b.shape[1], transposed: false };
    (tf.backend() as unknown as { weightCache: WeightCache }).weightCache
      .seed(b.dataId, layout, quantizeWeights(v.b, layout, Math.max(...stored.channelBits), stored));
  }
  const bias = v.bias && tf.tensor(v.bias, c.bias!.shape, 'float32');
  const prelu = v.prelu && tf.tensor(v.prelu, c.prelu!.shape, 'float32');
  const fused = bias !== undefined || (c.activation ?? 'linear') !== 'linear';
  const y = !fused ? tf.matMul(a, b, c.transposeA, c.transposeB) : tf.fused.matMul({
    a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: c.transposeA, transposeB: c.transposeB,
    bias, activation: c.activation, preluActivationWeights: prelu, leakyreluAlpha: c.leakyreluAlpha,
  });
  const out = { values: await y.data() as Float32Array, shape: y.shape };
  tf.dispose([a, b, bias, prelu, y].filter((x): x is tf.Tensor => x !== undefined));
  return out;
}

/** The case on the CPU engine (the oracle): pbq-cpu in this page. */
async function cpuOutput(c: CaseSpec, stored?: { ranges: number[]; channelBits: number[] }) {
  configureFor(c);
  return runMatMul(c, 'pbq-cpu', stored);
}

/** The case on WebGL under webglProduct `product`, with the number of calls each program served. */
async function gpuOutput(c: CaseSpec, product: pbq.WebGLProductFlag, stored?: { ranges: number[]; channelBits: number[] }) {
  configureFor(c, product);
  const before = productRunCounts();
  try {
    const out = await runMatMul(c, 'pbq', stored);
    const after = productRunCounts();
    const runs = Object.fromEntries(Object.entries(after).map(([k, n]) => [k, n - before[k as keyof typeof before]]));
    return { ...out, runs };
  } finally {
    pbq.configure({ webglProduct: 'auto' });
  }
}

const api = {
  /** The GPU's partial sums of the case (product 'planes': the planes core; 'sampler') against the CPU engine's, bit for bit. */
  async partials(c: CaseSpec, product: 'planes' | 'sampler') {
    await tf.setBackend('pbq');
    configureFor(c, product);
    const v = operands(c);
    const a = tf.tensor(v.a, c.a.shape, 'float32');
    const b = tf.tensor(v.b, c.b.shape, 'float32');
    const tA = !!c.transposeA;
    const tB = !!c.transposeB;
    try {
      const gpu = gpuPartials(tf.backend() as PbqBackendWebGL, { a, b, transposeA: tA, transposeB: tB, activation: 'linear' }, pbq.getConfig());
      const cpu = c.accumulator && c.accumulator.type !== 'exact'
        ? cpuAccumulatorPartials(v.a, c.a.shape, v.b, c.b.shape, tA, tB, c.weightBits, c.activationBits, c.accumulator)
        : cpuPartials(v.a, c.a.shape, v.b, c.b.shape, tA, tB, c.weightBits, c.activationBits);
      return { program: gpu.program, from: gpu.from, ...compareExact(gpu.values, cpu) };
    } finally {
      tf.dispose([a, b]);
      pbq.configure({ webglProduct: 'auto' });
    }
  },

  /**
   * The case under each webglProduct flag value: which programs served it, its output against
   * the CPU engine (to `tolerance` · max |y|), and, with `exact`, against the first flag's bit for bit.
   */
  async outputs(c: CaseSpec, products: pbq.WebGLProductFlag[], tolerance: number, exact: boolean) {
    const cpu = await cpuOutput(c);
    const out: Record<string, { runs: Record<string, number>; shape: number[]; vsCpu: Comparison; vsFirst: Comparison | null; nan: number[] }> = {};
    let first: Float32Array | undefined;
    for (const product of products) {
      const gpu = await gpuOutput(c, product);
      first ??= gpu.values;
      out[product] = {
        runs: gpu.runs, shape: gpu.shape, vsCpu: compareClose(gpu.values, cpu.values, tolerance),
        vsFirst: exact ? compareExact(gpu.values, first) : null, nan: nanIndices(gpu.values),
      };
    }
    return { cpuShape: cpu.shape, cpuNaN: nanIndices(cpu.values), byProduct: out };
  },

  /** A case whose weight uses stored planes (chosen ranges, per-channel widths), GPU vs CPU engine. */
  async storedPlanes(c: CaseSpec, stored: { ranges: number[]; channelBits: number[] }, products: pbq.WebGLProductFlag[], tolerance: number) {
    const cpu = await cpuOutput(c, stored);
    const out: Record<string, Comparison> = {};
    for (const product of products) out[product] = compareClose((await gpuOutput(c, product, stored)).values, cpu.values, tolerance);
    return out;
  },

  /** accumulatorStats() after the case on the GPU and on the CPU engine, and the outputs compared. */
  async accumulatorRun(c: CaseSpec, tolerance: number) {
    pbq.resetAccumulatorStats();
    const gpu = await gpuOutput(c, 'auto');
    const gpuStats = pbq.accumulatorStats();
    pbq.resetAccumulatorStats();
    const cpu = await cpuOutput(c);
    const cpuStats = pbq.accumulatorStats();
    return { gpuStats, cpuStats, runs: gpu.runs, vsCpu: compareClose(gpu.values, cpu.values, tolerance) };
  },

  /** Row exponents E (NaN: non-finite row, -1000: zero row) from the GLSL pass, as strings. */
  async rowExponents(values: Array<number | string>, shape: number[]) {
    await tf.setBackend('pbq');
    const backend = tf.backend() as PbqBackendWebGL;
    const x = tf.tensor(Float32Array.from(values, Number), shape, 'float32');
    const k = shape[shape.length - 1];
    const temps: tf.TensorInfo[] = [];
    const { rowExp } = rowExponents(backend, x, planMatMul(shape, [k, 1], false, false), false, temps);
    const out = Array.from(backend.readSync(rowExp.dataId) as Float32Array, String);
    for (const info of temps) backend.disposeIntermediateTensorInfo(info);
    x.dispose();
    return out;
  },

  /** The device profile read from this page's renderer string. */
  async deviceProfile() {
    await tf.setBackend('pbq');
    return deviceProfile(tf.backend() as PbqBackendWebGL).name;
  },

  /** Many calls on one weight (every product and weight width), then disposal: memory must return to its baseline. */
  async memoryAfterManyCalls(calls: number) {
    await tf.setBackend('pbq');
    const backend = tf.backend() as PbqBackendWebGL;
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const before = tf.memory() as tf.MemoryInfo & { numBytesInGPU: number };
    const scratchBefore = rawResources(backend).scratchBytes;
    const init = tf.randomNormal([96, 40], 0, 1, 'float32', 5);
    const w = tf.variable(init);
    init.dispose();
    for (let i = 0; i < calls; i++) {
      tf.tidy(() => {
        const x = tf.randomNormal([3, 96], 0, 1, 'float32', i);
        pbq.configure({ weightBits: 1 + (i % 8), webglProduct: pbq.WEBGL_PRODUCTS[i % pbq.WEBGL_PRODUCTS.length] });
        return tf.relu(tf.matMul(x, w)).dataSync();
      });
    }
    pbq.configure({ webglProduct: 'auto' });
    const during = { cached: backend.weightCache.size, ...(tf.memory() as typeof before) };
    w.dispose();
    const after = tf.memory() as typeof before;
    // numBytesInGPU counts pbq's own textures too; the scratch textures are the backend's (a bounded cache)
    const weightBytes = (m: typeof before, scratch: number) => m.numBytesInGPU - scratch;
    return {
      before: { numTensors: before.numTensors, numBytesInGPU: weightBytes(before, scratchBefore) },
      during: { cached: during.cached, numTensors: during.numTensors, numBytesInGPU: weightBytes(during, rawResources(backend).scratchBytes) },
      after: { cached: backend.weightCache.size, numTensors: after.numTensors, numBytesInGPU: weightBytes(after, rawResources(backend).scratchBytes) },
    };
  },
};

Object.assign(window, api);
