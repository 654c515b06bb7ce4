/**
 * BatchMatMul / _FusedMatMul on the CPU engine (src/engine.ts, the bit-exact oracle of every
 * other base). Weights come from the backend's WeightCache (quantized once per dataId),
 * activations are quantized per row on every call, products are exact integers, and the epilogue
 * (bias, activation) runs in float.
 */
import { TensorInfo, util } from '@tensorflow/tfjs-core';
import type { PbqBackendCPU } from '../../src/backend_cpu';
import { bitlayerMatMul } from '../../src/engine';
import { quantizeActivations, QuantizedActivations } from '../../src/quantize';
import type { PbqConfig } from '../../src/config';
import type { WeightCache } from '../../src/weight_cache';
import { applyEpilogue } from '../shared/fused_epilogue';
import { hasEpilogue, MatMulArgs, preluWeights } from '../shared/matmul_args';
import { MatMulPlan, planMatMul, weightLayout } from '../shared/matmul_plan';
import { nonFiniteWeights } from '../shared/matmul_route';

/** Quantizes every matrix of the A operand (rows = M per matrix, in batch order). */
export function quantizeAOperand(values: ArrayLike<number>, plan: MatMulPlan, transposeA: boolean, bits: number): QuantizedActivations {
  const { m, k } = plan;
  // Without transposeA the batch matrices are contiguous rows of K values: one strided view.
  if (!transposeA) {
    return quantizeActivations(values, { rows: plan.aBatch * m, k, rowStride: k, colStride: 1 }, bits);
  }
  const parts = [];
  for (let b = 0; b < plan.aBatch; b++) {
    parts.push(quantizeActivations(values, { rows: m, k, offset: b * m * k, rowStride: 1, colStride: m }, bits));
  }
  return concatActivations(parts);
}

function concatActivations(parts: QuantizedActivations[]): QuantizedActivations {
  const first = parts[0];
  const planes = new Uint32Array(parts.reduce((s, p) => s + p.planes.length, 0));
  const steps = new Float32Array(parts.reduce((s, p) => s + p.rows, 0));
  const codeSums = new Float64Array(steps.length);
  let planeAt = 0;
  let rowAt = 0;
  for (const p of parts) {
    planes.set(p.planes, planeAt);
    steps.set(p.steps, rowAt);
    codeSums.set(p.codeSums, rowAt);
    planeAt += p.planes.length;
    rowAt += p.rows;
  }
  return { bits: first.bits, rows: steps.length, k: first.k, words: first.words, planes, steps, codeSums };
}

/**
 * The whole product on the CPU engine, epilogue included, with the operands' host values from
 * `read`: pbq-cpu's kernel, and the exact fallback of the GPU bases (same arithmetic, same
 * simulated-accumulator events).
 */
export function engineMatMul(
  read: (t: TensorInfo) => Float32Array, cache: WeightCache, args: MatMulArgs, plan: MatMulPlan, config: PbqConfig,
): Float32Array {
  const { a, b, transposeA, transposeB } = args;
  const { weight } = cache.get(b.dataId, weightLayout(plan, transposeB), config.weightBits, () => read(b), nonFiniteWeights(b));
  const acts = quantizeAOperand(read(a), plan, transposeA, config.activationBits);
  const out = new Float32Array(util.sizeFromShape(plan.outShape));
  const matSize = plan.m * plan.n;
  for (let ob = 0; ob < plan.outBatch; ob++) {
    bitlayerMatMul(acts, weight, config.weightBits,
      { rowStart: plan.aIndex[ob] * plan.m, rows: plan.m, wBatch: plan.bIndex[ob], outOffset: ob * matSize }, out,
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
  return out;
}

export function batchMatMulImpl(backend: PbqBackendCPU, args: MatMulArgs, config: PbqConfig): TensorInfo {
  const plan = planMatMul(args.a.shape, args.b.shape, args.transposeA, args.transposeB);
  const read = (t: TensorInfo) => backend.data.get(t.dataId).values as Float32Array;
  return backend.makeTensorInfo(plan.outShape, 'float32', engineMatMul(read, backend.weightCache, args, plan, config));
}
