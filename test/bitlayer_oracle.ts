/** The CPU engine's view of a matmul case, for comparison with the GLSL kernels. */
import * as tf from '@tensorflow/tfjs-core';
import '../src/index';
import { configure } from '../src/config';
import { partialSums } from '../src/engine';
import { quantizeWeights } from '../src/quantize';
import { quantizeAOperand } from '../kernels/bitlayer_matmul_cpu';
import { planMatMul } from '../kernels/matmul_plan';
import type { MatMulCase } from './browser/pages/bitlayer_page';
import { randomValues } from './helpers';
import { decodeFloats } from './browser/pages/float_codec';

/** Partial sums [outBatch, M, N, t+1] (S_0..S_{t-1}, T) computed by the CPU engine. */
export function cpuPartials(c: MatMulCase): number[] {
  const tA = !!c.transposeA;
  const tB = !!c.transposeB;
  const plan = planMatMul(c.a.shape, c.b.shape, tA, tB);
  const acts = quantizeAOperand(decodeFloats(c.a.values), plan, tA, c.activationBits);
  const w = quantizeWeights(decodeFloats(c.b.values), { batch: plan.bBatch, k: plan.k, n: plan.n, transposed: tB }, c.weightBits);
  const out: number[] = [];
  for (let ob = 0; ob < plan.outBatch; ob++) {
    for (let m = 0; m < plan.m; m++) {
      const row = plan.aIndex[ob] * plan.m + m;
      for (let n = 0; n < plan.n; n++) {
        out.push(...partialSums(acts, row, w, plan.bIndex[ob], n, c.weightBits), acts.codeSums[row]);
      }
    }
  }
  return out;
}

/** The case's output on the Node pbq backend (CPU engine). */
export async function cpuOutput(c: MatMulCase): Promise<{ values: number[]; shape: number[] }> {
  await tf.setBackend('pbq');
  configure({ weightBits: c.weightBits, activationBits: c.activationBits });
  const t = (o?: MatMulCase['a']) => o && tf.tensor(decodeFloats(o.values), o.shape, 'float32');
  const fused = c.bias !== undefined || (c.activation ?? 'linear') !== 'linear';
  const y = tf.tidy(() => !fused ? tf.matMul(t(c.a) as tf.Tensor, t(c.b) as tf.Tensor, c.transposeA, c.transposeB) : tf.fused.matMul({
    a: t(c.a) as tf.Tensor2D, b: t(c.b) as tf.Tensor2D, transposeA: c.transposeA, transposeB: c.transposeB,
    bias: t(c.bias), activation: c.activation, preluActivationWeights: t(c.prelu), leakyreluAlpha: c.leakyreluAlpha,
  }));
  const out = { values: Array.from(await y.data()), shape: y.shape };
  y.dispose();
  return out;
}

/** A random case; shapes are [..., M, K] × [..., K, N] before the transposes are applied. */
export function randomCase(
  seed: number, aShape: number[], bShape: number[], weightBits: number, activationBits: number,
  opts: Partial<MatMulCase> = {},
): MatMulCase {
  const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
  return {
    a: { values: Array.from(randomValues(size(aShape), seed, 2)), shape: aShape },
    b: { values: Array.from(randomValues(size(bShape), seed + 1, 0.7)), shape: bShape },
    weightBits, activationBits, ...opts,
  };
}
