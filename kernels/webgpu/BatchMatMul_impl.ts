/**
 * BatchMatMul / _FusedMatMul on WebGPU. Weights are quantized once per dataId (on the CPU from
 * B's host values, src/quantize.ts, or on the GPU when B exists only there: gpu_weight.ts) and
 * their storage buffers made once; activations are quantized on the GPU
 * (activation_quantize_wgsl.ts); one product pass computes the exact integer parts of d and an
 * epilogue pass applies the scales, bias and activation. Which product: select_product.ts.
 * Simulated narrow accumulators run the CPU engine (below).
 */
import { BatchMatMul, BatchMatMulAttrs, BatchMatMulInputs, KernelFunc, TensorInfo, util, _FusedMatMulAttrs, _FusedMatMulInputs } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGPU } from '../../src/backend_webgpu';
import type { PbqConfig } from '../../src/config';
import { bitlayerMatMul } from '../../src/engine';
import { engineMatMul } from '../cpu/BatchMatMul_impl';
import { applyEpilogue } from '../shared/fused_epilogue';
import { batchMatMulArgs, fusedMatMulArgs, hasEpilogue, MatMulArgs, preluWeights } from '../shared/matmul_args';
import { MatMulPlan, planMatMul, weightLayout } from '../shared/matmul_plan';
import { nonFiniteWeights } from '../shared/matmul_route';
import { EpilogueProgram } from './epilogue_wgsl';
import { MatMulSetup, runEpilogue, runProduct, setupMatMul } from './product_operands';
import { countRun, gpuCanServe, ProductKind, selectProduct } from './select_product';

/** The product that serves this call under the config and the device profile. */
export function productFor(s: MatMulSetup, config: PbqConfig): ProductKind {
  return selectProduct(
    { weightPlanes: s.t, activationBits: s.activationBits, k: s.plan.k, accumulator: config.accumulator },
    config.webgpuProduct, s.profile);
}

/**
 * The CPU engine on read-back operands (the 'cpu' product): exactly pbq-cpu's arithmetic,
 * including a simulated accumulator's summation order and its accumulatorStats() events. It reads
 * A, B, the bias and prelu weights synchronously (tfjs-webgpu's readSync when they are on the
 * GPU, which works in a windowed browser but loses the device in headless Chromium): for
 * analysis, not speed.
 */
function cpuMatMul(backend: PbqBackendWebGPU, args: MatMulArgs, plan: MatMulPlan, config: PbqConfig): TensorInfo {
  const read = (t: TensorInfo) => backend.readSync(t.dataId) as Float32Array;
  return backend.makeTensorInfo(plan.outShape, 'float32', engineMatMul(read, backend.weightCache, args, plan, config));
}

export function batchMatMulImpl(backend: PbqBackendWebGPU, args: MatMulArgs, config: PbqConfig): TensorInfo {
  const plan = planMatMul(args.a.shape, args.b.shape, args.transposeA, args.transposeB);
  if (!gpuCanServe({ activationBits: config.activationBits, k: plan.k, accumulator: config.accumulator })) {
    countRun('cpu');
    return cpuMatMul(backend, args, plan, config);
  }
  const s = setupMatMul(backend, args, config);
  const kind = productFor(s, config) as Exclude<ProductKind, 'cpu'>;
  countRun(kind);
  const temps: TensorInfo[] = [];
  try {
    return runEpilogue(backend, args, s, runProduct(backend, args, s, kind, temps));
  } finally {
    for (const temp of temps) backend.disposeData(temp.dataId);
  }
}

/**
 * A product over K = 0 with a non-empty output is zero: the epilogue alone (bias, activation).
 * Stock tfjs-webgpu 4.22 binds a zero-sized buffer there and returns whatever its output buffer
 * held, so pbq-webgpu answers these calls itself.
 */
function zeroInnerProduct(backend: PbqBackendWebGPU, args: MatMulArgs): TensorInfo {
  const plan = planMatMul(args.a.shape, args.b.shape, args.transposeA, args.transposeB);
  const prelu = preluWeights(args);
  const program = new EpilogueProgram({
    outShape: plan.outShape, outBatch: plan.outBatch, m: plan.m, n: plan.n, np4: 0, splits: 0, activationBits: 1, t: 0, rowLength: 0,
    parts: undefined, channelShifts: false, hasBias: args.bias !== undefined, activation: args.activation,
    leakyreluAlpha: args.leakyreluAlpha,
  });
  const inputs = [args.bias, prelu].filter((x): x is TensorInfo => x !== undefined);
  return backend.runWebGPUProgram(program, inputs, 'float32', program.uniformData);
}

/** Wraps a matmul kernel function: float32 calls with K = 0 and a non-empty output go to zeroInnerProduct. */
export function withZeroInnerDimension(kernelName: string, kernelFunc: KernelFunc): KernelFunc {
  return (call) => {
    const args = kernelName === BatchMatMul
      ? batchMatMulArgs(call.inputs as BatchMatMulInputs, call.attrs as unknown as BatchMatMulAttrs)
      : fusedMatMulArgs(call.inputs as _FusedMatMulInputs, call.attrs as unknown as _FusedMatMulAttrs);
    const { a, b, transposeA, transposeB } = args;
    const k = transposeA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
    if (k === 0 && a.dtype === 'float32' && b.dtype === 'float32') {
      const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
      if (util.sizeFromShape(plan.outShape) > 0) return zeroInnerProduct(call.backend as PbqBackendWebGPU, args);
    }
    return kernelFunc(call);
  };
}
