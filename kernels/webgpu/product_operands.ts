/**
 * The steps both WebGPU products share, written once: the plan and the cached weight, the
 * activation pass, the batch-index table, the product pass with its tile, and the epilogue.
 * Temporary tensors are pushed on `temps` for the caller to free.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGPU } from '../../src/backend_webgpu';
import type { PbqConfig } from '../../src/config';
import type { QuantizedWeight } from '../../src/quantize';
import type { CachedWeight } from '../../src/weight_cache';
import { MatMulArgs, preluWeights } from '../shared/matmul_args';
import { MatMulPlan, planMatMul, weightLayout } from '../shared/matmul_plan';
import { nonFiniteWeights } from '../shared/matmul_route';
import { ActivationForm, ActivationLayout, activationLayout, ActivationQuantizeProgram } from './activation_quantize_wgsl';
import { DeviceProfile, ExactProduct, profileForAdapter } from './device_profile';
import { Dot4ProductProgram } from './dot4_product_wgsl';
import { EpilogueProgram } from './epilogue_wgsl';
import { paddedChannels, WebGPUWeight, webgpuWeight } from './gpu_weight';
import { codeField, dot4Parts, IntegerParts, planesParts } from './product_parts';
import { PlanesProductProgram } from './planes_product_wgsl';
import type { ProductTile } from './product_tile_wgsl';
import { activationUniforms, batchIndexExpr, needsBatchTable } from './wgsl_common';

/** What every product starts from. */
export interface MatMulSetup {
  plan: MatMulPlan;
  entry: CachedWeight;
  weight: QuantizedWeight;
  gpu: WebGPUWeight;
  /** Planes used: min(stored planes, weightBits). */
  t: number;
  activationBits: number;
  profile: DeviceProfile;
}

const profiles = new WeakMap<PbqBackendWebGPU, DeviceProfile>();

/** The device profile of a backend's adapter (device_profile.ts), read once. */
export function deviceProfile(backend: PbqBackendWebGPU): DeviceProfile {
  let profile = profiles.get(backend);
  if (!profile) {
    profile = profileForAdapter(backend.adapter);
    profiles.set(backend, profile);
  }
  return profile;
}

export function setupMatMul(backend: PbqBackendWebGPU, args: MatMulArgs, config: PbqConfig): MatMulSetup {
  const plan = planMatMul(args.a.shape, args.b.shape, args.transposeA, args.transposeB);
  const entry = backend.weightCache.get(args.b.dataId, weightLayout(plan, args.transposeB), config.weightBits,
    () => backend.readSync(args.b.dataId) as Float32Array, nonFiniteWeights(args.b));
  return {
    plan, entry, weight: entry.weight, gpu: webgpuWeight(backend, entry),
    t: Math.min(entry.weight.bits, config.weightBits), activationBits: config.activationBits, profile: deviceProfile(backend),
  };
}

/** The activation pass (activation_quantize_wgsl.ts): A's rows as codes in `form`, with E and T. */
export function quantizeActivations(backend: PbqBackendWebGPU, args: MatMulArgs, s: MatMulSetup, form: ActivationForm, temps: TensorInfo[]) {
  const { plan } = s;
  const layout = activationLayout(form, plan.aBatch * plan.m, plan.m, plan.k, args.transposeA, s.activationBits);
  const info = backend.runWebGPUProgram(new ActivationQuantizeProgram(layout), [args.a], 'int32');
  temps.push(info);
  return { info, layout };
}

/** Batch-index expressions of the plan, and their [outBatch, 2] table when one is needed. */
export function batchIndices(backend: PbqBackendWebGPU, plan: MatMulPlan, temps: TensorInfo[]) {
  const aIndex = batchIndexExpr(plan.aIndex, plan.aBatch, 0);
  const bIndex = batchIndexExpr(plan.bIndex, plan.bBatch, 1);
  let table: TensorInfo | undefined;
  if (needsBatchTable(aIndex, bIndex)) {
    const values = new Int32Array(2 * plan.outBatch);
    for (let ob = 0; ob < plan.outBatch; ob++) {
      values[2 * ob] = plan.aIndex[ob];
      values[2 * ob + 1] = plan.bIndex[ob];
    }
    table = backend.makeTensorInfo([values.length], 'int32', values);
    temps.push(table);
  }
  return { aIndex, bIndex, table };
}

/** The integer parts of `kind` for this call (select_product.ts checked that they exist). */
export function partsFor(kind: ExactProduct, s: MatMulSetup): IntegerParts {
  const parts = (kind === 'planes' ? planesParts : dot4Parts)(s.plan.k, s.t, s.activationBits);
  if (!parts) throw new Error(`pbq: the ${kind} product cannot hold K=${s.plan.k} at W${s.t}A${s.activationBits} in i32`);
  return parts;
}

/** One product pass run: its parts tensor and what the epilogue needs to read it. */
export interface ProductRun {
  kind: ExactProduct;
  parts: TensorInfo;
  integerParts: IntegerParts;
  tile: ProductTile;
  activations: TensorInfo;
  layout: ActivationLayout;
  aIndex: string;
  bIndex: string;
  table?: TensorInfo;
}

/** Activation pass + product pass of `kind`. */
export function runProduct(backend: PbqBackendWebGPU, args: MatMulArgs, s: MatMulSetup, kind: ExactProduct, temps: TensorInfo[]): ProductRun {
  const { plan, weight: w } = s;
  const integerParts = partsFor(kind, s);
  const { info: activations, layout } = quantizeActivations(backend, args, s, kind === 'planes' ? 'planes' : 'digits', temps);
  const { aIndex, bIndex, table } = batchIndices(backend, plan, temps);
  const np4 = paddedChannels(plan.n) / 4;
  const common = { outBatch: plan.outBatch, m: plan.m, n: plan.n, words: w.words, activationBits: s.activationBits, rowLength: layout.rowLength, aIndex, bIndex, parts: integerParts };
  let program: PlanesProductProgram | Dot4ProductProgram;
  let weights: TensorInfo;
  if (kind === 'planes') {
    const tile = s.profile.tile({ m: plan.m, np4, outBatch: plan.outBatch, weightWords: w.words, stagePerWord: s.activationBits + 1 });
    program = new PlanesProductProgram({ ...common, storedBits: w.bits, t: s.t, tile });
    weights = s.gpu.planes();
  } else {
    const field = codeField(s.t) as 1 | 2 | 4 | 8;
    const tile = s.profile.tile({ m: plan.m, np4, outBatch: plan.outBatch, weightWords: w.words * field, stagePerWord: layout.digits * 8 / field });
    program = new Dot4ProductProgram({ ...common, field, digits: layout.digits, tile });
    weights = s.gpu.codes(s.t);
  }
  const inputs = [weights, activations, ...(table ? [table] : [])];
  const parts = backend.runWebGPUProgram(program, inputs, 'int32');
  temps.push(parts);
  return { kind, parts, integerParts, tile: program.shape.tile, activations, layout, aIndex, bIndex, table };
}

/** y from a product run: d, scales, row steps, bias and activation (epilogue_wgsl.ts). */
export function runEpilogue(backend: PbqBackendWebGPU, args: MatMulArgs, s: MatMulSetup, r: ProductRun): TensorInfo {
  const { plan } = s;
  const shifts = r.kind === 'planes' ? s.gpu.shifts(s.t) : undefined;
  const prelu = preluWeights(args);
  const program = new EpilogueProgram({
    outShape: plan.outShape, outBatch: plan.outBatch, m: plan.m, n: plan.n, np4: paddedChannels(plan.n) / 4,
    splits: r.tile.splits, activationBits: s.activationBits, rowLength: r.layout.rowLength, aIndex: r.aIndex, bIndex: r.bIndex,
    parts: r.integerParts, channelShifts: shifts !== undefined, hasBias: args.bias !== undefined, activation: args.activation,
  });
  const inputs = [r.parts, r.activations, s.gpu.scales(s.t), shifts, r.table, args.bias, prelu].filter((x): x is TensorInfo => x !== undefined);
  return backend.runWebGPUProgram(program, inputs, 'float32', activationUniforms(args.activation, args.leakyreluAlpha).values);
}
