/**
 * BatchMatMul / _FusedMatMul on WebGPU. Weights are quantized once per dataId on the CPU
 * (src/quantize.ts) and their storage buffers made once (gpu_weight.ts); activations are
 * quantized on the GPU (activation_quantize_wgsl.ts); one product pass computes the exact
 * integer parts of d, and an epilogue pass applies the scales, bias and activation. Which
 * product: select_product.ts. Simulated narrow accumulators run the CPU engine (below).
 */
import { TensorInfo, util } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGPU } from '../../src/backend_webgpu';
import type { PbqConfig } from '../../src/config';
import { bitlayerMatMul } from '../../src/engine';
import { quantizeAOperand } from '../cpu/BatchMatMul_impl';
import { applyEpilogue } from '../shared/fused_epilogue';
import { hasEpilogue, MatMulArgs, preluWeights } from '../shared/matmul_args';
import { MatMulSetup, runEpilogue, runProduct, setupMatMul } from './product_operands';
import { countRun, ProductKind, selectProduct } from './select_product';

/** The product that serves this call under the config and the device profile. */
export function productFor(s: MatMulSetup, config: PbqConfig): ProductKind {
  return selectProduct(
    { weightPlanes: s.t, activationBits: s.activationBits, k: s.plan.k, accumulator: config.accumulator },
    config.webgpuProduct, s.profile);
}

/**
 * The CPU engine on read-back operands (the 'cpu' product): exactly pbq-cpu's arithmetic,
 * including a simulated accumulator's summation order and its accumulatorStats() events. Each
 * call reads A (and the bias, prelu weights) back from the GPU: for analysis, not speed.
 */
function cpuMatMul(backend: PbqBackendWebGPU, args: MatMulArgs, s: MatMulSetup, config: PbqConfig): TensorInfo {
  const { plan } = s;
  const read = (t: TensorInfo) => backend.readSync(t.dataId) as Float32Array;
  const acts = quantizeAOperand(read(args.a), plan, args.transposeA, config.activationBits);
  const out = new Float32Array(util.sizeFromShape(plan.outShape));
  for (let ob = 0; ob < plan.outBatch; ob++) {
    bitlayerMatMul(acts, s.weight, config.weightBits,
      { rowStart: plan.aIndex[ob] * plan.m, rows: plan.m, wBatch: plan.bIndex[ob], outOffset: ob * plan.m * plan.n }, out,
      'tables', config.accumulator);
  }
  if (hasEpilogue(args)) {
    const prelu = preluWeights(args);
    applyEpilogue(out, plan.outShape, {
      bias: args.bias && { values: read(args.bias), shape: args.bias.shape },
      activation: args.activation,
      prelu: prelu && { values: read(prelu), shape: prelu.shape },
      leakyreluAlpha: args.leakyreluAlpha,
    });
  }
  return backend.makeTensorInfo(plan.outShape, 'float32', out);
}

export function batchMatMulImpl(backend: PbqBackendWebGPU, args: MatMulArgs, config: PbqConfig): TensorInfo {
  const s = setupMatMul(backend, args, config);
  const kind = productFor(s, config);
  countRun(kind);
  if (kind === 'cpu') return cpuMatMul(backend, args, s, config);
  const temps: TensorInfo[] = [];
  try {
    return runEpilogue(backend, args, s, runProduct(backend, args, s, kind, temps));
  } finally {
    for (const temp of temps) backend.disposeData(temp.dataId);
  }
}
