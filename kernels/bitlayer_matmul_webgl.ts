/**
 * BatchMatMul / _FusedMatMul on WebGL 2 with bitlayer shaders (bitlayer_matmul_gpu.ts).
 * Weights are quantized once per dataId on the CPU (src/quantize.ts) and their planes uploaded
 * once; activations are quantized on the GPU in two passes; the product runs in one pass with
 * the fused bias and activation.
 */
import { getKernel, TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { PbqConfig } from '../src/config';
import { channelPlanes, QuantizedWeight } from '../src/quantize';
import { CachedWeight, WeightCache } from '../src/weight_cache';
import { MatMulArgs } from './bitlayer_matmul_cpu';
import {
  ActivationPlanesProgram, BitlayerMatMulProgram, BitlayerMatMulShape, NarrowAccumulatorMatMulProgram,
  RowExponentProgram, TEXEL_BITS,
} from './bitlayer_matmul_gpu';
import { checkSimulable, recordAccumulatorEvents } from '../src/accumulator';
import { MatMulPlan, planMatMul } from './matmul_plan';
import { nonFiniteWeights } from './matmul_dispatch';

export interface BitlayerWebGLBackend extends MathBackendWebGL {
  readonly weightCache: WeightCache;
}

/** Weight planes as float32 texels of 16 bits: [batch·N·bits, 2·words]. */
export function weightTexels(w: QuantizedWeight): Float32Array {
  const texels = new Float32Array(w.planes.length * 2);
  for (let i = 0; i < w.planes.length; i++) {
    texels[2 * i] = w.planes[i] & 0xffff;
    texels[2 * i + 1] = w.planes[i] >>> TEXEL_BITS;
  }
  return texels;
}

/** Per-channel scale m_n · 2^-t_n, the factor between d and y (without the row step). */
export function channelScales(w: QuantizedWeight, weightBits: number): Float32Array {
  return w.ranges.map((m, c) => m * 2 ** -channelPlanes(w, c, weightBits));
}

/** Per-channel plane counts t_n (only for weights whose channels differ). */
export function channelPlaneCounts(w: QuantizedWeight, weightBits: number): Float32Array {
  return Float32Array.from(w.ranges, (_, c) => channelPlanes(w, c, weightBits));
}

/** A GPU tensor owned by a cached weight, freed with it. */
function gpuTensor(backend: MathBackendWebGL, entry: CachedWeight, key: string, make: () => TensorInfo): TensorInfo {
  let held = entry.derived.get(key) as (TensorInfo & { dispose(): void }) | undefined;
  if (held === undefined) {
    const info = make();
    held = Object.assign(info, { dispose: () => backend.disposeIntermediateTensorInfo(info) });
    entry.derived.set(key, held);
  }
  return held;
}

/** Reshapes through the base kernel (a packed texture cannot just be relabelled). */
function reshape(backend: MathBackendWebGL, x: TensorInfo, shape: number[]): TensorInfo {
  const kernel = getKernel('Reshape', 'webgl');
  if (!kernel) throw new Error('pbq: the webgl Reshape kernel is not registered');
  return kernel.kernelFunc({ inputs: { x }, backend, attrs: { shape } }) as TensorInfo;
}

/** GLSL expression of the matrix index of output batch `ob` in an operand of `count` matrices. */
function batchIndexExpr(index: Int32Array, count: number, name: string): { expr: string; table?: Int32Array } {
  if (count === 1) return { expr: '0' };
  if (index.every((v, i) => v === i)) return { expr: 'ob' };
  return { expr: `int(get${name}(ob))`, table: index };
}

export interface QuantizedOperands {
  plan: MatMulPlan;
  shape: BitlayerMatMulShape;
  inputs: TensorInfo[];
  /** Intermediate tensors to free after the product. */
  temps: TensorInfo[];
}

/** Quantizes both operands on the GPU side and returns the product program's inputs. */
export function prepareOperands(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): QuantizedOperands {
  const { a, b, transposeA, transposeB } = args;
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const entry = backend.weightCache.get(b.dataId, { batch: plan.bBatch, k: plan.k, n: plan.n, transposed: transposeB },
    config.weightBits, () => backend.readSync(b.dataId) as Float32Array, nonFiniteWeights(b));
  const w = entry.weight;
  const t = Math.min(w.bits, config.weightBits);
  const texels = 2 * w.words;
  const wPlanes = gpuTensor(backend, entry, 'planes', () =>
    backend.makeTensorInfo([w.batch * w.n * w.bits, texels], 'float32', weightTexels(w)));
  const scales = gpuTensor(backend, entry, `scales:${t}`, () =>
    backend.makeTensorInfo([w.batch * w.n], 'float32', channelScales(w, t)));
  const planeCounts = w.channelBits && gpuTensor(backend, entry, `planes:${t}`, () =>
    backend.makeTensorInfo([w.batch * w.n], 'float32', channelPlaneCounts(w, t)));

  const temps: TensorInfo[] = [];
  const a3 = reshape(backend, a, transposeA ? [plan.aBatch, plan.k, plan.m] : [plan.aBatch, plan.m, plan.k]);
  temps.push(a3);
  const rowExp = backend.compileAndRun(new RowExponentProgram(plan.aBatch, plan.m, plan.k, transposeA), [a3]);
  temps.push(rowExp);
  const aPlanes = backend.compileAndRun(
    new ActivationPlanesProgram(plan.aBatch, plan.m, plan.k, transposeA, config.activationBits), [a3, rowExp]);
  temps.push(aPlanes);

  const aIdx = batchIndexExpr(plan.aIndex, plan.aBatch, 'AIndex');
  const bIdx = batchIndexExpr(plan.bIndex, plan.bBatch, 'BIndex');
  const inputs = [wPlanes, aPlanes, rowExp, scales];
  if (planeCounts) inputs.push(planeCounts);
  for (const table of [aIdx.table, bIdx.table]) {
    if (table) {
      const info = backend.makeTensorInfo([table.length], 'float32', Float32Array.from(table));
      temps.push(info);
      inputs.push(info);
    }
  }
  if (config.accumulator.type !== 'exact') {
    for (let c = 0; c < w.batch * w.n; c++) checkSimulable(plan.k, channelPlanes(w, c, t), config.activationBits);
  }
  const shape: BitlayerMatMulShape = {
    outBatch: plan.outBatch, m: plan.m, k: plan.k, n: plan.n, storedBits: w.bits, weightBits: t,
    activationBits: config.activationBits, aIndex: aIdx.expr, bIndex: bIdx.expr,
    perChannelPlanes: w.channelBits !== undefined,
  };
  return { plan, shape, inputs, temps };
}

type NarrowConfig = Exclude<PbqConfig['accumulator'], { type: 'exact' }>;

/**
 * Counts the narrow accumulator's events of a GPU run into accumulatorStats(): one more pass
 * writing [register, overflows, underflows] per output, read back and summed. This read-back
 * synchronises with the GPU: simulation mode is for analysis, not speed.
 */
function recordGpuAccumulatorEvents(backend: BitlayerWebGLBackend, ops: QuantizedOperands, acc: NarrowConfig): void {
  const info = backend.compileAndRun(new NarrowAccumulatorMatMulProgram(ops.shape, acc, 'partials'), ops.inputs, 'float32');
  const values = backend.readSync(info.dataId) as Float32Array;
  backend.disposeIntermediateTensorInfo(info);
  let overflows = 0;
  let underflows = 0;
  for (let i = 0; i < values.length; i += 3) {
    overflows += values[i + 1];
    underflows += values[i + 2];
  }
  const outputs = values.length / 3;
  const words = Math.ceil(ops.plan.k / 32);
  const perOutput = acc.type === 'float' ? words + Math.ceil(words / acc.chunk) : words;
  recordAccumulatorEvents(outputs * perOutput, overflows, underflows);
}

export function bitlayerMatMulWebGL(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): TensorInfo {
  const ops = prepareOperands(backend, args, config);
  try {
    const inputs = [...ops.inputs];
    if (args.bias) inputs.push(args.bias);
    if (args.activation === 'prelu') {
      if (!args.preluActivationWeights) throw new Error('pbq: prelu activation needs preluActivationWeights');
      inputs.push(args.preluActivationWeights);
    }
    const epilogue = {
      hasBias: args.bias !== undefined,
      activation: args.activation ?? 'linear',
      leakyreluAlpha: args.leakyreluAlpha ?? 0.2,
    };
    const acc = config.accumulator;
    const program = acc.type === 'exact'
      ? new BitlayerMatMulProgram(ops.shape, 'output', epilogue)
      : new NarrowAccumulatorMatMulProgram(ops.shape, acc, 'output', epilogue);
    const out = backend.compileAndRun(program, inputs, 'float32');
    if (acc.type !== 'exact') recordGpuAccumulatorEvents(backend, ops, acc);
    // The program writes an unpacked [outBatch, M, N] texture: relabelling its shape is free.
    return { dataId: out.dataId, shape: ops.plan.outShape, dtype: out.dtype };
  } finally {
    for (const temp of ops.temps) backend.disposeIntermediateTensorInfo(temp);
  }
}

/**
 * The integer partial sums [outBatch, M, N, t+1] (S_0..S_{t-1}, then T) computed by the shader,
 * for bit-exact comparison with the CPU engine. Values are exact while |S| < 2^24.
 */
export function rowExponentsWebGL(backend: BitlayerWebGLBackend, a: TensorInfo, plan: MatMulPlan, transposeA: boolean): TensorInfo {
  const a3 = reshape(backend, a, transposeA ? [plan.aBatch, plan.k, plan.m] : [plan.aBatch, plan.m, plan.k]);
  try {
    return backend.compileAndRun(new RowExponentProgram(plan.aBatch, plan.m, plan.k, transposeA), [a3]);
  } finally {
    backend.disposeIntermediateTensorInfo(a3);
  }
}

export function bitlayerPartialSumsWebGL(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): TensorInfo {
  const ops = prepareOperands(backend, args, config);
  try {
    const acc = config.accumulator;
    const program = acc.type === 'exact' ? new BitlayerMatMulProgram(ops.shape, 'partials')
      : new NarrowAccumulatorMatMulProgram(ops.shape, acc, 'partials');
    return backend.compileAndRun(program, ops.inputs, 'float32');
  } finally {
    for (const temp of ops.temps) backend.disposeIntermediateTensorInfo(temp);
  }
}
