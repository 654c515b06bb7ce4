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
import { codeFieldBits, codesPackSource, codesProductSource, CodesShape, codeWordCount, activationRowTexels } from './codes_product_gpu';
import { DeviceProfile, profileForRenderer, rendererOf } from './device_profile';
import { activationUniforms } from './glsl_common';
import { NarrowAccumulatorProgram, NarrowConfig } from './narrow_accumulator_gpu';
import { pairsField, pairsPackSource, pairsProductSource, pairTexelsPerWord } from './pairs_product_gpu';
import { planeGroups, planesPackSource, planesProductSource } from './planes_product_gpu';
import { batchIndexInput, MatMulSetup, RawProduct, rowExponents, runRawProduct, setupMatMul } from './product_operands';
import { ActivationPlanesProgram, ProductShape, SamplerProductProgram } from './sampler_product_gpu';
import { countRun, placementFallback, ProductKind, selectProduct } from './select_product';

/** The shape fields every product program takes. */
function productShape(s: MatMulSetup, aIndex: string, bIndex: string): ProductShape {
  const { plan, weight: w } = s;
  return {
    outBatch: plan.outBatch, m: plan.m, k: plan.k, n: plan.n, storedBits: w.bits, weightBits: s.t,
    activationBits: s.activationBits, aIndex, bIndex, perChannelPlanes: w.channelBits !== undefined,
  };
}

/** The planes product (planes_product_gpu.ts): activation planes, 4 per texel per word, then T. */
export function planesProduct(s: MatMulSetup): RawProduct {
  const { weight: w, plan } = s;
  const groups = Math.ceil(plan.n / 4);
  const aRows = plan.aBatch * plan.m;
  let textures: ReturnType<MatMulSetup['gpu']['planes']>;
  return {
    aRowLength: w.words + 1, aRows: aRows * planeGroups(s.activationBits), aTexture: 'uint', aName: 'At',
    weightTextures: () => {
      textures = s.gpu.planes(s.maxSize);
      return textures && [{ name: 'Wt', texture: textures.w.texture }, { name: 'Wm', texture: textures.meta.texture }];
    },
    packSource: (codesWidth, aPlace) => planesPackSource(aRows, plan.k, w.words, s.activationBits, codesWidth, aPlace),
    productSource: (aPlace, grid, aIndex, bIndex) => planesProductSource({
      ...productShape(s, aIndex, bIndex), words: w.words, groups, aPlace, grid,
      wPlace: textures!.wPlace, mPlace: textures!.mPlace,
    }),
  };
}

/** The codes or pairs product (codes_product_gpu.ts, pairs_product_gpu.ts) at code field f. */
function codesProduct(s: MatMulSetup, pairs: boolean): RawProduct {
  const { plan } = s;
  const field = pairs ? pairsField(s.t, s.activationBits, plan.k) : codeFieldBits(s.t);
  const words = codeWordCount(plan.k, field);
  const aRows = plan.aBatch * plan.m;
  let textures: ReturnType<MatMulSetup['gpu']['codes']>;
  const shape = (aPlace: CodesShape['aPlace'], grid: CodesShape['grid'], aIndex: string, bIndex: string): CodesShape => ({
    ...productShape(s, aIndex, bIndex), field, codeWords: words, groups: Math.ceil(plan.n / 4), aPlace, wPlace: textures!.place, grid,
  });
  return {
    aRowLength: pairs ? words * pairTexelsPerWord(field) + 1 : activationRowTexels(plan.k, field),
    aRows, aTexture: pairs ? 'uint' : 'float', aName: 'Ac',
    weightTextures: () => {
      textures = s.gpu.codes(s.t, field, pairs, s.maxSize);
      return textures && [{ name: 'Wc', texture: textures.w.texture }];
    },
    packSource: (codesWidth, aPlace) => (pairs
      ? pairsPackSource(aRows, plan.k, field, s.activationBits, codesWidth, aPlace)
      : codesPackSource(aRows, plan.k, codesWidth, aPlace)),
    productSource: (aPlace, grid, aIndex, bIndex) => (pairs ? pairsProductSource : codesProductSource)(shape(aPlace, grid, aIndex, bIndex)),
  };
}

/**
 * The sampler programs' inputs (sampler_product_gpu.ts): weight planes, activation planes,
 * row exponents, scales (+ plane counts, batch tables), with the program shape.
 */
export function samplerOperands(backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, temps: TensorInfo[]) {
  const { plan } = s;
  const { a3, rowExp } = rowExponents(backend, args.a, plan, args.transposeA, temps);
  const aPlanes = backend.compileAndRun(
    new ActivationPlanesProgram(plan.aBatch, plan.m, plan.k, args.transposeA, s.activationBits), [a3, rowExp]);
  temps.push(aPlanes);
  const aIdx = batchIndexInput(backend, plan.aIndex, plan.aBatch, 'AIndex', temps);
  const bIdx = batchIndexInput(backend, plan.bIndex, plan.bBatch, 'BIndex', temps);
  const inputs = [s.gpu.samplerPlanes(), aPlanes, rowExp, s.gpu.scales(s.t), s.gpu.planeCounts(s.t), aIdx.table, bIdx.table]
    .filter((x): x is TensorInfo => x !== undefined);
  return { inputs, shape: productShape(s, aIdx.expr, bIdx.expr) };
}

/**
 * Counts the narrow accumulator's events of a GPU run into accumulatorStats(): one more pass
 * writing [register, overflows, underflows] per output, read back and summed. This read-back
 * synchronises with the GPU: simulation mode is for analysis, not speed.
 */
function recordNarrowEvents(backend: PbqBackendWebGL, shape: ProductShape, inputs: TensorInfo[], acc: NarrowConfig): void {
  const info = backend.compileAndRun(new NarrowAccumulatorProgram(shape, acc, 'partials'), inputs, 'float32');
  const values = backend.readSync(info.dataId) as Float32Array;
  backend.disposeIntermediateTensorInfo(info);
  let overflows = 0;
  let underflows = 0;
  for (let i = 0; i < values.length; i += 3) {
    overflows += values[i + 1];
    underflows += values[i + 2];
  }
  const words = Math.ceil(shape.k / 32);
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
    ? new SamplerProductProgram(ops.shape, 'output', epilogue)
    : new NarrowAccumulatorProgram(ops.shape, acc, 'output', epilogue);
  const out = backend.compileAndRun(program, inputs, 'float32', activationUniforms(args.activation, args.leakyreluAlpha).values);
  if (acc.type !== 'exact') recordNarrowEvents(backend, ops.shape, ops.inputs, acc);
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
