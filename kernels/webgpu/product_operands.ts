/**
 * The steps both WebGPU products share, written once: the plan and the cached weight, the
 * activation pass, the batch-index table, the product pass with its tile, and the epilogue.
 * Temporary tensors are pushed on `temps` for the caller to free.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGPU } from '../../src/backend_webgpu';
import type { PbqConfig } from '../../src/config';
import type { WeightLayout } from '../../src/weight_cache';
import { MatMulArgs, preluWeights } from '../shared/matmul_args';
import { MatMulPlan, planMatMul, weightLayout } from '../shared/matmul_plan';
import { nonFiniteWeights } from '../shared/matmul_route';
import { ActivationForm, ActivationLayout, activationLayout, ActivationQuantizeProgram } from './activation_quantize_wgsl';
import { DeviceProfile, ExactProduct, profileForAdapter } from './device_profile';
import { DOT4_MAX_STAGE, Dot4ProductProgram } from './dot4_product_wgsl';
import { EpilogueProgram } from './epilogue_wgsl';
import { DeviceQuantizedWeight, paddedChannels, WeightBuffers, webgpuWeight } from './gpu_weight';
import { codeField, dot4Parts, IntegerParts, planesParts } from './product_parts';
import { PLANES_MAX_STAGE, PlanesProductProgram } from './planes_product_wgsl';
import type { ProductTile } from './product_tile_wgsl';

/** What every product starts from. */
export interface MatMulSetup {
  plan: MatMulPlan;
  /** The weight's buffers (quantized on the CPU, or on the GPU when B's values exist only there). */
  gpu: WeightBuffers;
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

/** Thrown by the weight cache's read when B's values exist only on the GPU. */
const GPU_RESIDENT = new Error('pbq: B operand is GPU-resident');

/** The cache key of a layout on the device store. */
function layoutKey(l: WeightLayout): string {
  return `${l.batch}x${l.k}x${l.n}${l.transposed ? 'T' : ''}`;
}

/**
 * The weight's buffers at ≥ `bits` planes: from the CPU WeightCache (src/weight_cache.ts: stored
 * planes, or quantized once from B's host values), or, when B's values exist only in a GPU
 * buffer, quantized on the GPU (DeviceQuantizedWeight, same integers), kept per dataId.
 */
export function weightBuffers(backend: PbqBackendWebGPU, b: TensorInfo, layout: WeightLayout, bits: number): WeightBuffers {
  const key = layoutKey(layout);
  const onDevice = backend.deviceWeights.get(b.dataId, key) as DeviceQuantizedWeight | undefined;
  if (onDevice && onDevice.bits >= bits) return onDevice;
  try {
    const entry = backend.weightCache.get(b.dataId, layout, bits, () => {
      if (backend.gpuResident(b.dataId)) throw GPU_RESIDENT;
      return backend.readSync(b.dataId) as Float32Array;
    }, nonFiniteWeights(b));
    return webgpuWeight(backend, entry);
  } catch (e) {
    if (e !== GPU_RESIDENT) throw e;
  }
  const quantized = new DeviceQuantizedWeight(backend, b, layout, bits);
  backend.deviceWeights.set(b.dataId, key, quantized);
  return quantized;
}

export function setupMatMul(backend: PbqBackendWebGPU, args: MatMulArgs, config: PbqConfig): MatMulSetup {
  const plan = planMatMul(args.a.shape, args.b.shape, args.transposeA, args.transposeB);
  const gpu = weightBuffers(backend, args.b, weightLayout(plan, args.transposeB), config.weightBits);
  return { plan, gpu, t: Math.min(gpu.bits, config.weightBits), activationBits: config.activationBits, profile: deviceProfile(backend) };
}

/** The activation pass (activation_quantize_wgsl.ts): A's rows as codes in `form`, with E and T. */
export function quantizeActivations(backend: PbqBackendWebGPU, args: MatMulArgs, s: MatMulSetup, form: ActivationForm, temps: TensorInfo[]) {
  const { plan } = s;
  const layout = activationLayout(form, plan.aBatch * plan.m, plan.m, plan.k, args.transposeA, s.activationBits);
  const program = new ActivationQuantizeProgram(layout);
  const info = backend.runWebGPUProgram(program, [args.a], 'int32', program.uniformData);
  temps.push(info);
  return { info, layout };
}

/** The plan's [outBatch, 2] table of (A matrix, B matrix) per output batch (wgsl_common.ts BATCH_INDEX_WGSL). */
export function batchTable(backend: PbqBackendWebGPU, plan: MatMulPlan, temps: TensorInfo[]): TensorInfo {
  const values = new Int32Array(2 * plan.outBatch);
  for (let ob = 0; ob < plan.outBatch; ob++) {
    values[2 * ob] = plan.aIndex[ob];
    values[2 * ob + 1] = plan.bIndex[ob];
  }
  const table = backend.makeTensorInfo([values.length], 'int32', values);
  temps.push(table);
  return table;
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
  table: TensorInfo;
}

/** Activation pass + product pass of `kind`. */
export function runProduct(backend: PbqBackendWebGPU, args: MatMulArgs, s: MatMulSetup, kind: ExactProduct, temps: TensorInfo[]): ProductRun {
  const { plan, gpu: w } = s;
  const integerParts = partsFor(kind, s);
  const { info: activations, layout } = quantizeActivations(backend, args, s, kind === 'planes' ? 'planes' : 'digits', temps);
  const table = batchTable(backend, plan, temps);
  const np4 = paddedChannels(plan.n) / 4;
  const field = codeField(s.t);
  const weightWords = kind === 'planes' ? w.words : w.words * field;
  const tile = s.profile.tile({ m: plan.m, np4, outBatch: plan.outBatch, weightWords, maxStagePerWord: kind === 'planes' ? PLANES_MAX_STAGE : DOT4_MAX_STAGE });
  const sizes = { m: plan.m, np4, outBatch: plan.outBatch, weightWords, rowLength: layout.rowLength, splits: tile.splits };
  const common = { sizes, parts: integerParts, tile };
  const program = kind === 'planes'
    ? new PlanesProductProgram({ ...common, storedBits: w.bits, t: s.t, planeBits: layout.planeBits })
    : new Dot4ProductProgram({ ...common, field: field as 1 | 2 | 4 | 8, digitWords: w.words * 8, digits: layout.digits });
  const weights = kind === 'planes' ? s.gpu.planes() : s.gpu.codes(s.t);
  const parts = backend.runWebGPUProgram(program, [weights, activations, table], 'int32', program.uniformData);
  temps.push(parts);
  return { kind, parts, integerParts, tile, activations, layout, table };
}

/** y from a product run: d, scales, row steps, bias and activation (epilogue_wgsl.ts). */
export function runEpilogue(backend: PbqBackendWebGPU, args: MatMulArgs, s: MatMulSetup, r: ProductRun): TensorInfo {
  const { plan } = s;
  const shifts = r.kind === 'planes' ? s.gpu.shifts(s.t) : undefined;
  const prelu = preluWeights(args);
  const program = new EpilogueProgram({
    outShape: plan.outShape, outBatch: plan.outBatch, m: plan.m, n: plan.n, np4: paddedChannels(plan.n) / 4,
    splits: r.tile.splits, activationBits: s.activationBits, t: s.t, rowLength: r.layout.rowLength,
    parts: r.integerParts, channelShifts: shifts !== undefined, hasBias: args.bias !== undefined, activation: args.activation,
    leakyreluAlpha: args.leakyreluAlpha,
  });
  const inputs = [r.parts, r.activations, s.gpu.scales(s.t), r.table, shifts, args.bias, prelu].filter((x): x is TensorInfo => x !== undefined);
  return backend.runWebGPUProgram(program, inputs, 'float32', program.uniformData);
}
