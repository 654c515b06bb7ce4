/**
 * BatchMatMul / _FusedMatMul on WebGL 2. Weights are quantized once per dataId on the CPU
 * (src/quantize.ts) and their GPU copies made once (gpu_weight.ts); activations are quantized on
 * the GPU (row exponents, then codes); one product program computes the integers d and an
 * epilogue applies the scales, bias and activation. Which product: select_product.ts.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGL } from '../../src/backend_webgl';
import { checkSimulable, recordAccumulatorEvents } from '../../src/accumulator';
import type { PbqConfig } from '../../src/config';
import { channelPlanes } from '../../src/quantize';
import { MatMulArgs, preluWeights } from '../shared/matmul_args';
import { CodesPackPass, CodesProductPass, codeFieldBits, codeWordCount, activationRowTexels } from './codes_product_gpu';
import { DeviceProfile, profileForRenderer, rendererOf } from './device_profile';
import { runShapeFree } from './glsl_common';
import { NarrowAccumulatorProgram, NarrowConfig } from './narrow_accumulator_gpu';
import { pairsField, PairsPackPass, PairsProductPass, pairTexelsPerWord } from './pairs_product_gpu';
import { planeGroups, PlanesPackPass, PlanesProductPass } from './planes_product_gpu';
import { batchIndexInput, MatMulSetup, quantizedActivations, RawProduct, runRawProduct, setupMatMul } from './product_operands';
import { BatchIndexMode, channelGroups, placementShape, RawProductParams, RowPlacement } from './raw_layout';
import { ActivationPlanesProgram, ProductDims, ProductShape, SamplerProductProgram } from './sampler_product_gpu';
import { countRun, placementFallback, ProductKind, selectProduct } from './select_product';

/** The shape fields every sampler program compiles in. */
function productShape(s: MatMulSetup, aIndex: string, bIndex: string): ProductShape {
  const w = s.weight;
  return {
    storedBits: w.bits, weightBits: s.t, activationBits: s.activationBits, aIndex, bIndex, perChannelPlanes: w.channelBits !== undefined,
  };
}

/** The call's sizes (uniforms of the sampler programs). */
function productDims(s: MatMulSetup): ProductDims {
  return { outBatch: s.plan.outBatch, m: s.plan.m, k: s.plan.k, n: s.plan.n };
}

/** The parameters every raw product compiles in. */
function rawProductParams(
  s: MatMulSetup, aPlace: RowPlacement, wPlace: RowPlacement, aIndex: BatchIndexMode, bIndex: BatchIndexMode,
): RawProductParams {
  const w = s.weight;
  return {
    activationBits: s.activationBits, weightBits: s.t, storedBits: w.bits, perChannelPlanes: w.channelBits !== undefined,
    groups: channelGroups(s.plan.n), singleRow: s.plan.outBatch * s.plan.m === 1, aPlace: placementShape(aPlace), wPlace: placementShape(wPlace), aIndex, bIndex,
  };
}

/** The planes product (planes_product_gpu.ts): activation planes, 4 per texel per word, then T. */
export function planesProduct(s: MatMulSetup): RawProduct {
  const { weight: w, plan } = s;
  const aRows = plan.aBatch * plan.m;
  const textures = () => s.gpu.planes(s.maxSize);
  return {
    aRowLength: w.words + 1, aRows: aRows * planeGroups(s.activationBits), aTexture: 'uint',
    weightTextures: () => {
      const t = textures();
      return t && [t.w.texture, t.meta.texture];
    },
    packPass: (aPlace, from) => new PlanesPackPass({
      k: plan.k, words: w.words, activationBits: s.activationBits, place: placementShape(aPlace), from,
    }),
    productPass: (aPlace, aIndex, bIndex) => {
      const t = textures()!;
      return new PlanesProductPass({
        ...rawProductParams(s, aPlace, t.wPlace, aIndex, bIndex), words: w.words, mPlace: placementShape(t.mPlace),
      });
    },
  };
}

/** The codes or pairs product (codes_product_gpu.ts, pairs_product_gpu.ts) at code field f. */
function codesProduct(s: MatMulSetup, pairs: boolean): RawProduct {
  const { plan } = s;
  const field = pairs ? pairsField(s.t, s.activationBits, plan.k) : codeFieldBits(s.t);
  const codeWords = codeWordCount(plan.k, field);
  const textures = () => s.gpu.codes(s.t, field, pairs, s.maxSize);
  return {
    aRowLength: pairs ? codeWords * pairTexelsPerWord(field) + 1 : activationRowTexels(plan.k, field),
    aRows: plan.aBatch * plan.m, aTexture: pairs ? 'uint' : 'float',
    weightTextures: () => {
      const t = textures();
      return t && [t.w.texture];
    },
    packPass: (aPlace, from) => (pairs
      ? new PairsPackPass({ k: plan.k, field, activationBits: s.activationBits, place: placementShape(aPlace), from })
      : new CodesPackPass({ k: plan.k, activationBits: s.activationBits, place: placementShape(aPlace), from })),
    productPass: (aPlace, aIndex, bIndex) => {
      const params = { ...rawProductParams(s, aPlace, textures()!.place, aIndex, bIndex), field, codeWords };
      return pairs ? new PairsProductPass({ ...params, k: plan.k }) : new CodesProductPass(params);
    },
  };
}

/**
 * The sampler programs' inputs (sampler_product_gpu.ts): weight planes, activation planes,
 * row exponents, scales (+ plane counts, batch tables), with the program shape.
 */
export function samplerOperands(backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, temps: TensorInfo[]) {
  const { plan } = s;
  const { rowExp, out: aPlanes } = quantizedActivations(backend, args, s, ActivationPlanesProgram, temps);
  const aIdx = batchIndexInput(backend, plan.aIndex, plan.aBatch, 'AIndex', temps);
  const bIdx = batchIndexInput(backend, plan.bIndex, plan.bBatch, 'BIndex', temps);
  const inputs = [s.gpu.samplerPlanes(), aPlanes, rowExp, s.gpu.scales(s.t), s.gpu.planeCounts(s.t), aIdx.table, bIdx.table]
    .filter((x): x is TensorInfo => x !== undefined);
  return { inputs, shape: productShape(s, aIdx.expr, bIdx.expr), dims: productDims(s) };
}

/**
 * Counts the narrow accumulator's events of a GPU run into accumulatorStats(): one more pass
 * writing [register, overflows, underflows] per output, read back and summed. This read-back
 * synchronises with the GPU: simulation mode is for analysis, not speed.
 */
function recordNarrowEvents(backend: PbqBackendWebGL, shape: ProductShape, dims: ProductDims, inputs: TensorInfo[], acc: NarrowConfig): void {
  const info = runShapeFree(backend, new NarrowAccumulatorProgram(shape, dims, acc, 'partials'), inputs);
  const values = backend.readSync(info.dataId) as Float32Array;
  backend.disposeIntermediateTensorInfo(info);
  let overflows = 0;
  let underflows = 0;
  for (let i = 0; i < values.length; i += 3) {
    overflows += values[i + 1];
    underflows += values[i + 2];
  }
  const words = Math.ceil(dims.k / 32);
  const perOutput = acc.type === 'float' ? words + Math.ceil(words / acc.chunk) : words;
  recordAccumulatorEvents((values.length / 3) * perOutput, overflows, underflows);
}

/** The sampler product, or the narrow-accumulator program on the same inputs. */
function samplerMatMul(backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, config: PbqConfig, temps: TensorInfo[]): TensorInfo {
  const acc = config.accumulator;
  if (acc.type !== 'exact') {
    for (let c = 0; c < s.weight.batch * s.weight.n; c++) checkSimulable(s.plan.k, channelPlanes(s.weight, c, s.t), s.activationBits);
  }
  const ops = samplerOperands(backend, args, s, temps);
  const inputs = [...ops.inputs, args.bias, preluWeights(args)].filter((x): x is TensorInfo => x !== undefined);
  const epilogue = { hasBias: args.bias !== undefined, activation: args.activation };
  const program = acc.type === 'exact'
    ? new SamplerProductProgram(ops.shape, ops.dims, 'output', epilogue, args.leakyreluAlpha)
    : new NarrowAccumulatorProgram(ops.shape, ops.dims, acc, 'output', epilogue, args.leakyreluAlpha);
  const out = runShapeFree(backend, program, inputs);
  if (acc.type !== 'exact') recordNarrowEvents(backend, ops.shape, ops.dims, ops.inputs, acc);
  // The program writes an unpacked [outBatch, M, N] texture: relabelling its shape is free.
  return { dataId: out.dataId, shape: s.plan.outShape, dtype: out.dtype };
}

const profiles = new WeakMap<PbqBackendWebGL, DeviceProfile>();

/** The device profile of a backend's GL context (device_profile.ts), read once. */
export function deviceProfile(backend: PbqBackendWebGL): DeviceProfile {
  let profile = profiles.get(backend);
  if (!profile) {
    profile = profileForRenderer(rendererOf(backend.gpgpu.gl as WebGL2RenderingContext));
    profiles.set(backend, profile);
  }
  return profile;
}

/** The product that serves this call under the config and the device profile. */
export function productFor(backend: PbqBackendWebGL, s: MatMulSetup, config: PbqConfig): ProductKind {
  return selectProduct(
    { weightPlanes: s.t, activationBits: s.activationBits, k: s.plan.k, accumulator: config.accumulator },
    config.webglProduct, deviceProfile(backend));
}

/** Runs `kind`, or the product its placement falls back to, until one fits. */
function runProduct(
  backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, config: PbqConfig, kind: ProductKind, temps: TensorInfo[],
): TensorInfo {
  for (let k: ProductKind | undefined = kind; k !== undefined; k = placementFallback(k)) {
    const out = k === 'planes' ? runRawProduct(backend, args, s, planesProduct(s), temps)
      : k === 'codes' || k === 'pairs' ? runRawProduct(backend, args, s, codesProduct(s, k === 'pairs'), temps)
        : samplerMatMul(backend, args, s, config, temps);
    if (out) {
      countRun(k);
      return out;
    }
  }
  throw new Error(`pbq: no WebGL product can serve ${kind}`); // unreachable: the sampler always serves
}

export function batchMatMulImpl(backend: PbqBackendWebGL, args: MatMulArgs, config: PbqConfig): TensorInfo {
  const s = setupMatMul(backend, args, config);
  const temps: TensorInfo[] = [];
  try {
    return runProduct(backend, args, s, config, productFor(backend, s, config), temps);
  } finally {
    for (const temp of temps) backend.disposeIntermediateTensorInfo(temp);
  }
}
