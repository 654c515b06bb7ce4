/**
 * The operand steps every WebGL product shares, written once: the plan and the cached weight,
 * the row exponents and activation codes of A, the pack into a scratch texture, the product's
 * target and the epilogue. Temporary tensors are pushed on `temps` for the caller to free.
 */
import { getKernel, TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGL } from '../../src/backend_webgl';
import type { PbqConfig } from '../../src/config';
import type { QuantizedWeight } from '../../src/quantize';
import type { CachedWeight } from '../../src/weight_cache';
import { MatMulArgs, preluWeights } from '../shared/matmul_args';
import { MatMulPlan, planMatMul, weightLayout } from '../shared/matmul_plan';
import { nonFiniteWeights } from '../shared/matmul_route';
import { ActivationCodesProgram, CodesSource } from './activation_codes_gpu';
import { EpilogueProgram } from './epilogue_gpu';
import { runShapeFree, ShapeFreeProgram } from './glsl_common';
import { WebGLWeight, webglWeight } from './gpu_weight';
import {
  BatchIndexMode, batchIndexMode, batchIndexTable, channelGroups, fitsIndexTable, FragmentGrid, fragmentGrid, placeRows, RowPlacement,
} from './raw_layout';
import { maxTextureSize, RawPass, rawResources, RawUniformValues, runRaw, tensorTexture } from './raw_program';
import { aView, directlyFetchable, RowExponentProgram } from './row_exponent_gpu';

/** What every product starts from. */
export interface MatMulSetup {
  plan: MatMulPlan;
  entry: CachedWeight;
  weight: QuantizedWeight;
  gpu: WebGLWeight;
  /** Planes used: min(stored planes, weightBits). */
  t: number;
  activationBits: number;
  maxSize: number;
}

export function setupMatMul(backend: PbqBackendWebGL, args: MatMulArgs, config: PbqConfig): MatMulSetup {
  const plan = planMatMul(args.a.shape, args.b.shape, args.transposeA, args.transposeB);
  const entry = backend.weightCache.get(args.b.dataId, weightLayout(plan, args.transposeB), config.weightBits,
    () => backend.readSync(args.b.dataId) as Float32Array, nonFiniteWeights(args.b));
  return {
    plan, entry, weight: entry.weight, gpu: webglWeight(backend, entry),
    t: Math.min(entry.weight.bits, config.weightBits), activationBits: config.activationBits,
    maxSize: maxTextureSize(backend.gpgpu),
  };
}

/** Reshapes through the base kernel (a packed texture cannot just be relabelled). */
function reshape(backend: PbqBackendWebGL, x: TensorInfo, shape: number[]): TensorInfo {
  const kernel = getKernel('Reshape', 'webgl');
  if (!kernel) throw new Error('pbq: the webgl Reshape kernel is not registered');
  return kernel.kernelFunc({ inputs: { x }, backend, attrs: { shape } }) as TensorInfo;
}

/** A as the 2D view aView (row_exponent_gpu.ts) and its row exponents E. */
export function rowExponents(backend: PbqBackendWebGL, a: TensorInfo, plan: MatMulPlan, transposeA: boolean, temps: TensorInfo[]) {
  const a2 = reshape(backend, a, aView(plan.aBatch, plan.m, plan.k, transposeA));
  temps.push(a2);
  const direct = directlyFetchable(backend, a2);
  const rowExp = runShapeFree(backend, new RowExponentProgram(plan.aBatch, plan.m, plan.k, transposeA, direct), [a2]);
  temps.push(rowExp);
  return { a2, direct, rowExp };
}

/**
 * GLSL expression (tfjs program) of the matrix index of output batch `ob` in an operand of
 * `count` matrices: a constant, the identity, or a lookup in a table tensor (pushed on temps).
 */
export function batchIndexInput(
  backend: PbqBackendWebGL, index: Int32Array, count: number, name: string, temps: TensorInfo[],
): { expr: string; table?: TensorInfo } {
  if (count === 1) return { expr: '0' };
  if (index.every((v, i) => v === i)) return { expr: 'ob' };
  const table = backend.makeTensorInfo([index.length], 'float32', Float32Array.from(index));
  temps.push(table);
  return { expr: `int(get${name}(ob))`, table };
}

/** A program quantizing A per row from A and its row exponents (activation codes, or the sampler's planes). */
export type ActivationProgram = new (
  batch: number, m: number, k: number, transposeA: boolean, direct: boolean, bits: number) => ShapeFreeProgram;

/** The row exponents E of A, then `Program` of A and E; both pushed on temps. */
export function quantizedActivations(
  backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, Program: ActivationProgram, temps: TensorInfo[],
): { rowExp: TensorInfo; out: TensorInfo } {
  const { plan } = s;
  const { a2, direct, rowExp } = rowExponents(backend, args.a, plan, args.transposeA, temps);
  const out = runShapeFree(backend, new Program(plan.aBatch, plan.m, plan.k, args.transposeA, direct, s.activationBits), [a2, rowExp]);
  temps.push(out);
  return { rowExp, out };
}

/** What a pack pass reads (activation_codes_gpu.ts CodesSource): its textures and uniform values, and E for the epilogue. */
export interface PackInputs { rowExp: TensorInfo; from: CodesSource; textures: WebGLTexture[]; values: RawUniformValues }

/**
 * The pack pass's inputs: A and its row exponents themselves when both textures have their
 * tensors' shapes (the pack pass quantizes on the fly: no codes pass), else the activation codes.
 */
export function packInputs(backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, temps: TensorInfo[]): PackInputs {
  const { plan } = s;
  const { a2, direct, rowExp } = rowExponents(backend, args.a, plan, args.transposeA, temps);
  if (direct && !args.transposeA && directlyFetchable(backend, rowExp)) {
    const textures = [tensorTexture(backend, a2).texture, tensorTexture(backend, rowExp).texture];
    return { rowExp, from: 'activations', textures, values: { codesWidth: plan.k, shapeM: plan.m } };
  }
  const out = runShapeFree(backend, new ActivationCodesProgram(plan.aBatch, plan.m, plan.k, args.transposeA, direct, s.activationBits), [a2, rowExp]);
  temps.push(out);
  const codes = tensorTexture(backend, out);
  return { rowExp, from: 'codes', textures: [codes.texture], values: { codesWidth: codes.texShape[1] } };
}

/**
 * The texture a raw product pass writes: an own RGBA32F scratch texture grid.width × grid.height
 * (one texel of 4 channels per fragment), and a tfjs tensor [height, width] that lends it to the
 * epilogue (a tfjs program: it reads the texel with texelFetch, so the tensor's format does not
 * matter). The tensor is detached from the texture before it is freed (releaseTarget), so the
 * texture never enters tfjs's pool; a packed tfjs tensor instead would cost an unpack pass.
 */
function productTarget(backend: PbqBackendWebGL, grid: FragmentGrid) {
  const texture = rawResources(backend).scratchTexture('product', grid.width, grid.height);
  const info = backend.makeTensorInfo([grid.height, grid.width], 'float32');
  const texData = backend.texData.get(info.dataId);
  texData.texture = { texture: texture.texture, texShape: [grid.height, grid.width] } as unknown as typeof texData.texture;
  texData.texShape = [grid.height, grid.width];
  texData.isPacked = false;
  return { info, target: { texture: texture.texture, width: grid.width, height: grid.height } };
}

/** Frees the tensor of productTarget without handing its texture to tfjs. */
function releaseTarget(backend: PbqBackendWebGL, info: TensorInfo): void {
  backend.texData.get(info.dataId).texture = null as unknown as ReturnType<typeof backend.texData.get>['texture'];
  backend.disposeIntermediateTensorInfo(info);
}

/** y from the product d: scales, row steps, bias and activation (epilogue_gpu.ts). */
function runEpilogue(
  backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, grid: FragmentGrid, d: TensorInfo, rowExp: TensorInfo,
  temps: TensorInfo[],
): TensorInfo {
  const { plan } = s;
  const aIdx = batchIndexInput(backend, plan.aIndex, plan.aBatch, 'AIndex', temps);
  const bIdx = batchIndexInput(backend, plan.bIndex, plan.bBatch, 'BIndex', temps);
  const prelu = preluWeights(args);
  const inputs = [d, rowExp, s.gpu.scales(s.t), aIdx.table, bIdx.table, args.bias, prelu].filter((x): x is TensorInfo => x !== undefined);
  const program = new EpilogueProgram(
    { activationBits: s.activationBits, aIndex: aIdx.expr, bIndex: bIdx.expr },
    { outBatch: plan.outBatch, m: plan.m, n: plan.n, gridWidth: grid.width },
    { hasBias: args.bias !== undefined, activation: args.activation }, args.leakyreluAlpha);
  const out = runShapeFree(backend, program, inputs);
  return { dataId: out.dataId, shape: plan.outShape, dtype: out.dtype };
}

/** The fragment grid of a raw product: one fragment per (output row, channel group of 4). */
export function productGrid(s: MatMulSetup): FragmentGrid | undefined {
  return fragmentGrid(s.plan.outBatch * s.plan.m * channelGroups(s.plan.n), s.maxSize);
}

/** What a raw product (planes, codes, pairs) adds to the shared steps. */
export interface RawProduct {
  /** Activation texture: texels per row, rows, and texel kind. */
  aRowLength: number;
  aRows: number;
  aTexture: 'uint' | 'float';
  /** Its weight textures, in its product pass's sampler order (undefined: they do not fit the texture limits). */
  weightTextures(): WebGLTexture[] | undefined;
  /** The pack pass: activation codes (read from `from`) → its activation texture. */
  packPass(aPlace: RowPlacement, from: CodesSource): RawPass;
  /** The product pass (its last sampler is the activation texture). */
  productPass(aPlace: RowPlacement, aIndex: BatchIndexMode, bIndex: BatchIndexMode): RawPass;
}

/** The uniforms of a product pass for this call: M, the grid, the batch tables. */
function productUniformValues(s: MatMulSetup, grid: FragmentGrid, aIndex: BatchIndexMode, bIndex: BatchIndexMode): RawUniformValues {
  const values: RawUniformValues = { shapeM: s.plan.m, fragments: grid.count, gridWidth: grid.width };
  const aTable = batchIndexTable(s.plan.aIndex, aIndex);
  const bTable = batchIndexTable(s.plan.bIndex, bIndex);
  if (aTable) values.aIdx = aTable;
  if (bTable) values.bIdx = bTable;
  return values;
}

/**
 * Runs a raw product end to end: activation codes → pack → product → epilogue. Returns
 * undefined (nothing run) when its textures or batch tables do not fit; the caller picks another product.
 */
export function runRawProduct(
  backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, p: RawProduct, temps: TensorInfo[],
): TensorInfo | undefined {
  const aIndex = batchIndexMode(s.plan.aIndex, s.plan.aBatch);
  const bIndex = batchIndexMode(s.plan.bIndex, s.plan.bBatch);
  if (!fitsIndexTable(aIndex) || !fitsIndexTable(bIndex)) return undefined;
  const aPlace = placeRows(p.aRowLength, p.aRows, s.maxSize);
  const grid = productGrid(s);
  const weights = aPlace && grid ? p.weightTextures() : undefined;
  if (!aPlace || !grid || !weights) return undefined;
  const acts = packInputs(backend, args, s, temps);
  const at = rawResources(backend).scratchTexture(p.aTexture, aPlace.width, aPlace.height);
  runRaw(backend, p.packPass(aPlace, acts.from), acts.textures, at, { rows: aPlace.rows, ...acts.values });
  const d = productTarget(backend, grid);
  try {
    runRaw(backend, p.productPass(aPlace, aIndex, bIndex), [...weights, at.texture], d.target,
      productUniformValues(s, grid, aIndex, bIndex));
    return runEpilogue(backend, args, s, grid, d.info, acts.rowExp, temps);
  } finally {
    releaseTarget(backend, d.info);
  }
}
