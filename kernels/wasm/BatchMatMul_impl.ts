/**
 * BatchMatMul / _FusedMatMul on pbq-wasm. Weights are quantized once per dataId (the weight
 * cache) and packed once per run width into the engine's codes; activations are quantized per
 * row inside the engine, which reads the A operand and writes the output tensor in the
 * backend's memory; the epilogue (bias, activation) is the shared float one, applied in place.
 * Simulated narrow accumulators run the TypeScript engine (src/engine.ts) on the same cached
 * weight: the WebAssembly products are exact only.
 */
import { TensorInfo, util } from '@tensorflow/tfjs-core';
import type { PbqBackendWasm } from '../../src/backend_wasm';
import type { PbqConfig } from '../../src/config';
import { bitlayerMatMul } from '../../src/engine';
import { applyEpilogue } from '../shared/fused_epilogue';
import { hasEpilogue, MatMulArgs, preluWeights } from '../shared/matmul_args';
import { MatMulPlan, planMatMul, weightLayout } from '../shared/matmul_plan';
import { nonFiniteWeights } from '../shared/matmul_route';
import { quantizeAOperand } from '../cpu/BatchMatMul_impl';
import type { QuantizedWeight } from '../../src/quantize';
import { ActivationLayout } from './engine';
import { contextOf, packedWeight } from './context';

/** Where matrix `index` of the A operand lies: [M, K] rows, or [K, M] with transposeA. */
export function aMatrixLayout(plan: MatMulPlan, index: number, transposeA: boolean): ActivationLayout {
  const { m, k } = plan;
  const offset = index * m * k;
  return transposeA ? { rows: m, k, offset, rowStride: 1, colStride: m } : { rows: m, k, offset, rowStride: k, colStride: 1 };
}

/** The products on the TypeScript engine (narrow accumulators), into `out`. */
function engineProducts(
  a: Float32Array, weight: QuantizedWeight, plan: MatMulPlan, transposeA: boolean, config: PbqConfig, out: Float32Array,
): void {
  const acts = quantizeAOperand(a, plan, transposeA, config.activationBits);
  for (let ob = 0; ob < plan.outBatch; ob++) {
    bitlayerMatMul(acts, weight, config.weightBits,
      { rowStart: plan.aIndex[ob] * plan.m, rows: plan.m, wBatch: plan.bIndex[ob], outOffset: ob * plan.m * plan.n }, out,
      'tables', config.accumulator);
  }
}

export function batchMatMulImpl(backend: PbqBackendWasm, args: MatMulArgs, config: PbqConfig): TensorInfo {
  const { a, b, transposeA, transposeB } = args;
  const { engine, inPlace } = contextOf(backend);
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const entry = backend.weightCache.get(b.dataId, weightLayout(plan, transposeB), config.weightBits,
    () => backend.typedArrayFromHeap(b), nonFiniteWeights(b));
  const out = backend.makeOutput(plan.outShape, 'float32');
  const matSize = plan.m * plan.n;
  if (config.accumulator.type !== 'exact') {
    const y = new Float32Array(util.sizeFromShape(plan.outShape));
    engineProducts(backend.typedArrayFromHeap(a) as Float32Array, entry.weight, plan, transposeA, config, y);
    (backend.typedArrayFromHeap(out) as Float32Array).set(y);
  } else {
    const packed = packedWeight(engine, entry, config.weightBits);
    engine.setThreads(config.wasmThreads);
    for (let ob = 0; ob < plan.outBatch; ob++) {
      const layout = aMatrixLayout(plan, plan.aIndex[ob], transposeA);
      if (inPlace) {
        engine.matMulAt(backend.getMemoryOffset(a.dataId), layout, packed, plan.bIndex[ob], config.activationBits,
          { values: backend.getMemoryOffset(out.dataId) + 4 * ob * matSize });
      } else {
        const { values } = engine.matMul(backend.typedArrayFromHeap(a), layout, packed, plan.bIndex[ob], config.activationBits);
        (backend.typedArrayFromHeap(out) as Float32Array).set(values, ob * matSize);
      }
    }
  }
  if (hasEpilogue(args)) {
    const prelu = preluWeights(args);
    // views made after the products: an allocation there may have grown (moved) the memory
    applyEpilogue(backend.typedArrayFromHeap(out) as Float32Array, plan.outShape, {
      bias: args.bias && { values: backend.typedArrayFromHeap(args.bias), shape: args.bias.shape },
      activation: args.activation,
      prelu: prelu && { values: backend.typedArrayFromHeap(prelu), shape: prelu.shape },
      leakyreluAlpha: args.leakyreluAlpha,
    });
  }
  return out;
}
