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
import { MatMulPlan, planMatMul, weightLayout } from './matmul_plan';
import {
  ActivationCodesProgram, EpilogueProgram, FastShape, getFastKernelOptions, packSource, partialsSource, planeGroups,
  productSource, useCodesKernel, weightWords,
} from './bitlayer_fast_gpu';
import {
  activationRowTexels, codeFieldBits, codesPackSource, codesProductSource, CodesShape, codeTexels, codeWordCount,
  pairCodeTexels, pairsField, pairsPackSource, pairsProductSource, pairTexelsPerWord,
} from './bitlayer_codes_gpu';
import {
  allocateTensorTexture, floatTexture, FragmentGrid, fragmentGrid, maxTextureSize, placeRows, RawTexture, RowPlacement, runRaw,
  tensorTexture, uintTexture,
  Uniform,
} from './gl_raw';
import { nonFiniteWeights } from './matmul_dispatch';

export interface BitlayerWebGLBackend extends MathBackendWebGL {
  readonly weightCache: WeightCache;
  /** GPU tensors owned by cached weights (not tensors of the engine; see PbqBackendWebGL). */
  cacheOwnedDataIds: number;
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
function gpuTensor(backend: BitlayerWebGLBackend, entry: CachedWeight, key: string, make: () => TensorInfo): TensorInfo {
  let held = entry.derived.get(key) as (TensorInfo & { dispose(): void }) | undefined;
  if (held === undefined) {
    const info = make();
    backend.cacheOwnedDataIds++;
    held = Object.assign(info, {
      dispose: () => {
        backend.disposeIntermediateTensorInfo(info);
        backend.cacheOwnedDataIds--;
      },
    });
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

/** The cached quantized form of the B operand (quantized on first use, from a read-back). */
function cachedWeight(backend: BitlayerWebGLBackend, b: TensorInfo, plan: MatMulPlan, transposeB: boolean, config: PbqConfig): CachedWeight {
  return backend.weightCache.get(b.dataId, weightLayout(plan, transposeB), config.weightBits,
    () => backend.readSync(b.dataId) as Float32Array, nonFiniteWeights(b));
}

/**
 * A as [batch, M, K] (or [batch, K, M]) and its row exponents, the first pass of every
 * activation quantization; both are pushed on `temps` for the caller to free.
 */
function rowExponents(backend: BitlayerWebGLBackend, a: TensorInfo, plan: MatMulPlan, transposeA: boolean, temps: TensorInfo[]) {
  const a3 = reshape(backend, a, transposeA ? [plan.aBatch, plan.k, plan.m] : [plan.aBatch, plan.m, plan.k]);
  temps.push(a3);
  const rowExp = backend.compileAndRun(new RowExponentProgram(plan.aBatch, plan.m, plan.k, transposeA), [a3]);
  temps.push(rowExp);
  return { a3, rowExp };
}

/** Quantizes both operands on the GPU side and returns the product program's inputs. */
export function prepareOperands(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): QuantizedOperands {
  const { a, b, transposeA, transposeB } = args;
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const entry = cachedWeight(backend, b, plan, transposeB, config);
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
  const { a3, rowExp } = rowExponents(backend, a, plan, transposeA, temps);
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


/**
 * Which program computes exact products: 'fast' (RGBA32UI planes, bit-sliced carry-save core,
 * bitlayer_fast_gpu.ts) or 'legacy' (16-bit float texels, SWAR popcounts, tfjs samplers). The
 * legacy program also serves narrow accumulators and the shapes the fast one cannot place.
 */
let exactKernel: 'fast' | 'legacy' = 'fast';

/** Products run per program since load (tests check which program served a case). */
const productRuns = { codes: 0, pairs: 0, planes: 0, legacy: 0, narrow: 0 };
export function productRunCounts(): Readonly<typeof productRuns> {
  return { ...productRuns };
}
export function setExactKernel(kind: 'fast' | 'legacy'): void {
  exactKernel = kind;
}

/** Weight planes of a cached weight in the fast layout (bitlayer_fast_gpu.ts, weightWords). */
interface FastWeight {
  w: RawTexture;
  meta: RawTexture;
  wPlace: RowPlacement;
  mPlace: RowPlacement;
  /** GPU bytes of the planes and the per-channel meta texels. */
  bytes: number;
  dispose(): void;
}

function fastWeight(backend: BitlayerWebGLBackend, entry: CachedWeight, maxSize: number): FastWeight | undefined {
  const held = entry.derived.get('fast') as FastWeight | undefined;
  if (held) return held;
  const w = entry.weight;
  const groups = Math.ceil(w.n / 4);
  const wPlace = placeRows(w.words, w.batch * groups * w.bits, maxSize);
  const mPlace = placeRows(w.bits + 1, w.batch * groups, maxSize);
  if (!wPlace || !mPlace) return undefined;
  const data = weightWords(w.planes, w.batch, w.n, w.bits, w.words,
    (c) => (w.channelBits ? w.channelBits[c] : w.bits), wPlace, mPlace);
  const wt = uintTexture(backend.gpgpu, wPlace.width, wPlace.height, data.w);
  const meta = uintTexture(backend.gpgpu, mPlace.width, mPlace.height, data.meta);
  const fw: FastWeight = {
    w: wt, meta, wPlace, mPlace, bytes: wt.bytes + meta.bytes,
    dispose: () => { wt.dispose(); meta.dispose(); },
  };
  entry.derived.set('fast', fw);
  return fw;
}

/** A cached weight's codes at t planes (bitlayer_codes_gpu.ts, codeTexels). */
interface CodesWeight {
  w: RawTexture;
  place: RowPlacement;
  bytes: number;
  dispose(): void;
}

function codesWeight(
  backend: BitlayerWebGLBackend, entry: CachedWeight, t: number, pairs: boolean, field: number, maxSize: number,
): CodesWeight | undefined {
  const key = `${pairs ? 'pairs' : 'codes'}:${t}`;
  const held = entry.derived.get(key) as CodesWeight | undefined;
  if (held) return held;
  const w = entry.weight;
  const words = codeWordCount(w.k, field);
  // pairs: one more texel per row, Q = Σ_k q_k of the 4 channels
  const place = field === 0 ? undefined : placeRows(words + (pairs ? 1 : 0), w.batch * Math.ceil(w.n / 4), maxSize);
  if (!place) return undefined;
  const data = pairs ? pairCodeTexels(w, t, field, place) : codeTexels(w, t, field, place);
  const wt = uintTexture(backend.gpgpu, place.width, place.height, data);
  const cw: CodesWeight = { w: wt, place, bytes: wt.bytes, dispose: () => wt.dispose() };
  entry.derived.set(key, cw);
  return cw;
}

/** Which codes program serves t planes at A bits and K (pair products where they fit), and its code field. */
function codesLayout(t: number, activationBits: number, k: number): { pairs: boolean; field: number } {
  const pairField = getFastKernelOptions().pairs ? pairsField(t, activationBits, k) : 0;
  return pairField ? { pairs: true, field: pairField } : { pairs: false, field: codeFieldBits(t) };
}

/**
 * GPU bytes of a k×n weight (one matrix) for an exact run at t planes and A activation bits, in
 * the layout of the program that serves it (useCodesKernel): pair codes (+ one Q texel per
 * 4 channels), codes, or planes (+ one meta texel per 4 channels and plane, +1); plus the
 * float32 channel scales. Ignores texture-line padding.
 */
export function exactWeightBytes(k: number, n: number, t: number, activationBits: number): number {
  const groups = Math.ceil(n / 4);
  const scales = 4 * n;
  if (exactKernel === 'fast' && useCodesKernel(t, activationBits, k)) {
    const { pairs, field } = codesLayout(t, activationBits, k);
    return groups * (codeWordCount(k, field) + (pairs ? 1 : 0)) * 16 + scales;
  }
  return groups * Math.ceil(k / 32) * t * 16 + groups * (t + 1) * 16 + scales;
}

/** GPU bytes that pbq holds for a weight's planes (fast layout, legacy layout, scales). */
export function weightGpuBytes(backend: BitlayerWebGLBackend, entry: CachedWeight): number {
  let bytes = 0;
  for (const [key, d] of entry.derived) {
    if (key === 'fast' || key.startsWith('codes:') || key.startsWith('pairs:')) bytes += (d as FastWeight | CodesWeight).bytes;
    else {
      const info = d as unknown as TensorInfo;
      const texShape = backend.texData.get(info.dataId)?.texShape;
      if (texShape) bytes += texShape[0] * texShape[1] * 4;
    }
  }
  return bytes;
}

/** Scratch textures for activations, per backend, kind and size, reused across calls (GL orders
 * the writes after earlier reads). */
const scratchTextures = new WeakMap<object, Map<string, RawTexture>>();
function scratchTexture(backend: BitlayerWebGLBackend, kind: 'uint' | 'float', width: number, height: number): RawTexture {
  let byKey = scratchTextures.get(backend);
  if (!byKey) {
    byKey = new Map();
    scratchTextures.set(backend, byKey);
  }
  const key = `${kind}:${width}x${height}`;
  let tex = byKey.get(key);
  if (!tex) {
    tex = kind === 'uint' ? uintTexture(backend.gpgpu, width, height, null) : floatTexture(backend.gpgpu, width, height, null);
    byKey.set(key, tex);
  }
  return tex;
}

interface FastOperands {
  plan: MatMulPlan;
  shape: FastShape;
  rowExp: TensorInfo;
  scales: TensorInfo;
  textures: Array<{ name: string; texture: WebGLTexture }>;
  uniforms: Uniform[];
  temps: TensorInfo[];
}

/** Raw-pass batch index: a constant, the identity, or a uniform table. */
function rawIndexExpr(index: Int32Array, count: number, name: string, uniforms: Uniform[]): string {
  if (count === 1) return '0';
  if (index.every((v, i) => v === i)) return 'ob';
  const table = new Int32Array(Math.ceil(index.length / 4) * 4);
  table.set(index);
  uniforms.push({ name, type: 'ivec4', value: table });
  return `${name}[ob / 4][ob % 4]`;
}

const MAX_INDEX_TABLE = 128; // ivec4 uniforms per table (WebGL 2 guarantees 224 vec4 in total)

/** What every raw-pass product starts from: the plan, the cached weight, the texture limit. */
function rawSetup(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig) {
  const plan = planMatMul(args.a.shape, args.b.shape, args.transposeA, args.transposeB);
  if (Math.ceil(plan.outBatch / 4) > MAX_INDEX_TABLE) return undefined;
  const entry = cachedWeight(backend, args.b, plan, args.transposeB, config);
  return { plan, maxSize: maxTextureSize(backend.gpgpu), entry, w: entry.weight };
}

/** Quantizes A on the GPU into the fast plane layout; undefined when the fast kernel can't serve. */
function prepareFast(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): FastOperands | undefined {
  const setup = rawSetup(backend, args, config);
  if (!setup) return undefined;
  const { plan, maxSize, entry, w } = setup;
  const { a, transposeA } = args;
  const A = config.activationBits;
  const groups = Math.ceil(plan.n / 4);
  const aRows = plan.aBatch * plan.m;
  const aPlace = placeRows(w.words + 1, aRows * planeGroups(A), maxSize);
  const grid = fragmentGrid(plan.outBatch * plan.m * groups, maxSize);
  if (!aPlace || !grid) return undefined;
  const fw = fastWeight(backend, entry, maxSize);
  if (!fw) return undefined;
  const t = Math.min(w.bits, config.weightBits);
  const scales = gpuTensor(backend, entry, `scales:${t}`, () =>
    backend.makeTensorInfo([w.batch * w.n], 'float32', channelScales(w, t)));

  const temps: TensorInfo[] = [];
  const { a3, rowExp } = rowExponents(backend, a, plan, transposeA, temps);
  const codes = backend.compileAndRun(new ActivationCodesProgram(plan.aBatch, plan.m, plan.k, transposeA, A), [a3, rowExp]);
  temps.push(codes);
  const codesTex = tensorTexture(backend, codes);
  const at = scratchTexture(backend, 'uint', aPlace.width, aPlace.height);
  runRaw(backend, packSource(aRows, plan.k, w.words, A, codesTex.texShape[1], aPlace),
    [{ name: 'Codes', texture: codesTex.texture }], at);

  const uniforms: Uniform[] = [];
  const shape: FastShape = {
    outBatch: plan.outBatch, m: plan.m, k: plan.k, n: plan.n, words: w.words, groups,
    storedBits: w.bits, weightBits: t, activationBits: A,
    aIndex: rawIndexExpr(plan.aIndex, plan.aBatch, 'aIdx', uniforms),
    bIndex: rawIndexExpr(plan.bIndex, plan.bBatch, 'bIdx', uniforms),
    perChannelPlanes: w.channelBits !== undefined, aPlace, wPlace: fw.wPlace, mPlace: fw.mPlace, grid,
  };
  const textures = [
    { name: 'Wt', texture: fw.w.texture }, { name: 'Wm', texture: fw.meta.texture }, { name: 'At', texture: at.texture },
  ];
  return { plan, shape, rowExp, scales, textures, uniforms, temps };
}

/** The packed tfjs tensor d [2·height, 2·width] a raw product pass writes on its grid (pushed on temps). */
function productTarget(backend: BitlayerWebGLBackend, grid: FragmentGrid, temps: TensorInfo[]) {
  const d = allocateTensorTexture(backend, [2 * grid.height, 2 * grid.width], true);
  temps.push(d.info);
  // texShape is the even logical shape; the texture holds 2×2 blocks: grid.height × grid.width texels
  if (d.texShape[0] !== 2 * grid.height || d.texShape[1] !== 2 * grid.width) {
    throw new Error(`pbq: unexpected packed texture shape ${d.texShape} for [${2 * grid.height}, ${2 * grid.width}]`);
  }
  return { ...d, target: { texture: d.texture, width: grid.width, height: grid.height } };
}

/** y from the product d: scales, row steps, bias and activation (EpilogueProgram). */
function runEpilogue(
  backend: BitlayerWebGLBackend, args: MatMulArgs, plan: MatMulPlan, activationBits: number, grid: FragmentGrid,
  d: TensorInfo, rowExp: TensorInfo, scales: TensorInfo, temps: TensorInfo[],
): TensorInfo {
  const aIdx = batchIndexExpr(plan.aIndex, plan.aBatch, 'AIndex');
  const bIdx = batchIndexExpr(plan.bIndex, plan.bBatch, 'BIndex');
  const inputs = [d, rowExp, scales];
  for (const table of [aIdx.table, bIdx.table]) {
    if (table) {
      const info = backend.makeTensorInfo([table.length], 'float32', Float32Array.from(table));
      temps.push(info);
      inputs.push(info);
    }
  }
  if (args.bias) inputs.push(args.bias);
  if (args.activation === 'prelu') {
    if (!args.preluActivationWeights) throw new Error('pbq: prelu activation needs preluActivationWeights');
    inputs.push(args.preluActivationWeights);
  }
  const program = new EpilogueProgram(
    { outBatch: plan.outBatch, m: plan.m, n: plan.n, activationBits, aIndex: aIdx.expr, bIndex: bIdx.expr, gridWidth: grid.width },
    { hasBias: args.bias !== undefined, activation: args.activation ?? 'linear', leakyreluAlpha: args.leakyreluAlpha ?? 0.2 });
  const out = backend.compileAndRun(program, inputs, 'float32');
  return { dataId: out.dataId, shape: plan.outShape, dtype: out.dtype };
}

function fastMatMul(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): TensorInfo | undefined {
  const ops = prepareFast(backend, args, config);
  if (!ops) return undefined;
  const { plan, shape } = ops;
  try {
    const d = productTarget(backend, shape.grid, ops.temps);
    runRaw(backend, productSource(shape), ops.textures, d.target, ops.uniforms);
    productRuns.planes++;
    return runEpilogue(backend, args, plan, shape.activationBits, shape.grid, d.info, ops.rowExp, ops.scales, ops.temps);
  } finally {
    for (const temp of ops.temps) backend.disposeIntermediateTensorInfo(temp);
  }
}

/** The exact product with packed codes (bitlayer_codes_gpu.ts); undefined when it can't serve. */
function codesMatMul(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): TensorInfo | undefined {
  const setup = rawSetup(backend, args, config);
  if (!setup) return undefined;
  const { plan, maxSize, entry, w } = setup;
  const { a, transposeA } = args;
  const t = Math.min(w.bits, config.weightBits);
  const A = config.activationBits;
  if (!useCodesKernel(t, A, plan.k)) return undefined;
  const groups = Math.ceil(plan.n / 4);
  const rows = plan.outBatch * plan.m;
  const { pairs, field } = codesLayout(t, A, plan.k);
  const words = codeWordCount(plan.k, field);
  const aPlace = placeRows(pairs ? words * pairTexelsPerWord(field) + 1 : activationRowTexels(plan.k, field), plan.aBatch * plan.m, maxSize);
  const grid = fragmentGrid(rows * groups, maxSize);
  if (!aPlace || !grid) return undefined;
  const cw = codesWeight(backend, entry, t, pairs, field, maxSize);
  if (!cw) return undefined;
  const scales = gpuTensor(backend, entry, `scales:${t}`, () =>
    backend.makeTensorInfo([w.batch * w.n], 'float32', channelScales(w, t)));
  const temps: TensorInfo[] = [];
  try {
    const { a3, rowExp } = rowExponents(backend, a, plan, transposeA, temps);
    const codes = backend.compileAndRun(new ActivationCodesProgram(plan.aBatch, plan.m, plan.k, transposeA, A), [a3, rowExp]);
    temps.push(codes);
    const codesTex = tensorTexture(backend, codes);
    const aRows = plan.aBatch * plan.m;
    const at = scratchTexture(backend, pairs ? 'uint' : 'float', aPlace.width, aPlace.height);
    runRaw(backend, pairs ? pairsPackSource(aRows, plan.k, field, A, codesTex.texShape[1], aPlace)
      : codesPackSource(aRows, plan.k, codesTex.texShape[1], aPlace), [{ name: 'Codes', texture: codesTex.texture }], at);
    const uniforms: Uniform[] = [];
    const shape: CodesShape = {
      outBatch: plan.outBatch, m: plan.m, k: plan.k, n: plan.n, storedBits: w.bits, weightBits: t, activationBits: A,
      aIndex: rawIndexExpr(plan.aIndex, plan.aBatch, 'aIdx', uniforms),
      bIndex: rawIndexExpr(plan.bIndex, plan.bBatch, 'bIdx', uniforms),
      perChannelPlanes: w.channelBits !== undefined,
      field, codeWords: words, groups, aPlace, wPlace: cw.place, grid,
    };
    const d = productTarget(backend, grid, temps);
    runRaw(backend, pairs ? pairsProductSource(shape) : codesProductSource(shape), [{ name: 'Wc', texture: cw.w.texture }, { name: 'Ac', texture: at.texture }],
      d.target, uniforms);
    productRuns[pairs ? 'pairs' : 'codes']++;
    return runEpilogue(backend, args, plan, A, grid, d.info, rowExp, scales, temps);
  } finally {
    for (const temp of temps) backend.disposeIntermediateTensorInfo(temp);
  }
}

function fastPartials(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): TensorInfo | undefined {
  const ops = prepareFast(backend, args, config);
  if (!ops) return undefined;
  try {
    const { plan, shape } = ops;
    const t = Math.min(shape.weightBits, shape.storedBits);
    const out = allocateTensorTexture(backend, [plan.outBatch, plan.m, plan.n, t + 1], false);
    runRaw(backend, partialsSource(shape, out.texShape[1]), ops.textures,
      { texture: out.texture, width: out.texShape[1], height: out.texShape[0] }, ops.uniforms);
    return out.info;
  } finally {
    for (const temp of ops.temps) backend.disposeIntermediateTensorInfo(temp);
  }
}

export function bitlayerMatMulWebGL(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): TensorInfo {
  if (config.accumulator.type === 'exact' && exactKernel === 'fast') {
    const out = codesMatMul(backend, args, config) ?? fastMatMul(backend, args, config);
    if (out) return out;
  }
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
    productRuns[acc.type === 'exact' ? 'legacy' : 'narrow']++;
    if (acc.type !== 'exact') recordGpuAccumulatorEvents(backend, ops, acc);
    // The program writes an unpacked [outBatch, M, N] texture: relabelling its shape is free.
    return { dataId: out.dataId, shape: ops.plan.outShape, dtype: out.dtype };
  } finally {
    for (const temp of ops.temps) backend.disposeIntermediateTensorInfo(temp);
  }
}

/** Row exponents E of an A operand (NaN: non-finite row, -1000: zero row), for tests. */
export function rowExponentsWebGL(backend: BitlayerWebGLBackend, a: TensorInfo, plan: MatMulPlan, transposeA: boolean): TensorInfo {
  const temps: TensorInfo[] = [];
  const { rowExp } = rowExponents(backend, a, plan, transposeA, temps);
  for (const t of temps) if (t !== rowExp) backend.disposeIntermediateTensorInfo(t);
  return rowExp;
}

/**
 * The integer partial sums [outBatch, M, N, t+1] (S_0..S_{t-1}, then T) computed by the shader,
 * for bit-exact comparison with the CPU engine. Values are exact while |S| < 2^24.
 */
export function bitlayerPartialSumsWebGL(backend: BitlayerWebGLBackend, args: MatMulArgs, config: PbqConfig): TensorInfo {
  if (config.accumulator.type === 'exact' && exactKernel === 'fast') {
    const out = fastPartials(backend, args, config);
    if (out) return out;
  }
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
