/**
 * Shapes of a (batched, broadcast) matmul, shared by the GLSL and CPU kernels.
 * a: [...batchA, M, K] (or [..., K, M] with transposeA); b: [...batchB, K, N] (or [..., N, K]).
 * Batch dimensions broadcast with numpy rules; out: [...batch, M, N].
 */
import { backend_util, util } from '@tensorflow/tfjs-core';

export interface MatMulPlan {
  m: number;
  k: number;
  n: number;
  batchShape: number[];
  outShape: number[];
  /** Number of output matrices (product of batchShape). */
  outBatch: number;
  /** Number of matrices in a and b (product of their own batch dimensions). */
  aBatch: number;
  bBatch: number;
  /** For each output matrix, the index of the a matrix and the b matrix it multiplies. */
  aIndex: Int32Array;
  bIndex: Int32Array;
}

/** Index into a broadcast operand of batch shape `shape` for output batch coordinates. */
function broadcastIndex(outCoords: number[], shape: number[]): number {
  const offset = outCoords.length - shape.length;
  let index = 0;
  for (let d = 0; d < shape.length; d++) {
    index = index * shape[d] + (shape[d] === 1 ? 0 : outCoords[offset + d]);
  }
  return index;
}

export function planMatMul(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  if (aShape.length < 2 || bShape.length < 2) {
    throw new Error(`pbq: matmul operands need rank >= 2, got [${aShape}] and [${bShape}]`);
  }
  const ra = aShape.length;
  const rb = bShape.length;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const kA = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kB = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (kA !== kB) {
    throw new Error(`pbq: inner dimensions of matmul must agree: [${aShape}] and [${bShape}] ` +
      `(transposeA=${transposeA}, transposeB=${transposeB})`);
  }
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const batchShape = backend_util.assertAndGetBroadcastShape(batchA, batchB);
  const outBatch = util.sizeFromShape(batchShape);
  const aIndex = new Int32Array(outBatch);
  const bIndex = new Int32Array(outBatch);
  const strides = util.computeStrides(batchShape);
  for (let ob = 0; ob < outBatch; ob++) {
    const coords = batchShape.length === 0 ? [] : util.indexToLoc(ob, batchShape.length, strides);
    aIndex[ob] = broadcastIndex(coords, batchA);
    bIndex[ob] = broadcastIndex(coords, batchB);
  }
  return {
    m, k: kA, n, batchShape, outShape: [...batchShape, m, n], outBatch,
    aBatch: util.sizeFromShape(batchA), bBatch: util.sizeFromShape(batchB), aIndex, bIndex,
  };
}

/** The B operand's layout as the weight cache keys it: [bBatch, K, N], or [bBatch, N, K] if transposed. */
export function weightLayout(plan: MatMulPlan, transposeB: boolean): { batch: number; k: number; n: number; transposed: boolean } {
  return { batch: plan.bBatch, k: plan.k, n: plan.n, transposed: transposeB };
}
