/**
 * The first pass of every activation quantization (src/quantize.ts): the row exponent
 * E_r = floor(log2 max_k |x_rk|), read exactly from the float32 bits. NaN marks a row with
 * NaN/Inf, ZERO_ROW a row whose max |x| is below 2^MIN_ROW_EXPONENT (it quantizes to zero).
 */
import type { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { MIN_ROW_EXPONENT } from '../../src/quantize';
import { ShapeFreeProgram } from './glsl_common';

/** Row exponent marking an all-zero row (any value below MIN_ROW_EXPONENT would do). */
export const ZERO_ROW = -1000;

/**
 * Where an A operand element (batch b, row r, column k) is read, honouring transposeA. A is a 2D
 * view, [batch·M, K] (or [batch·K, M]: aView). With `direct` (the view's texture is shaped like it
 * and unpacked: directlyFetchable) the element is one texelFetch at (column, row); otherwise
 * tfjs's sampler, which computes texture coordinates from the shape uniforms on every fetch
 * (several times slower in the row exponent's loop over K). Needs the uniforms shapeM, shapeK.
 */
export function aElement(transposeA: boolean, direct: boolean): string {
  const [row, col] = transposeA ? ['b * shapeK + k', 'r'] : ['b * shapeM + r', 'k'];
  return direct ? `texelFetch(A, ivec2(${col}, ${row}), 0).r` : `getA(${row}, ${col})`;
}

/** Whether a tfjs program may texelFetch `info` at (column, row): on the GPU, unpacked, not a slice, texture shaped like the tensor. */
export function directlyFetchable(backend: MathBackendWebGL, info: TensorInfo): boolean {
  if (info.shape.length !== 2) return false;
  backend.uploadToGPU(info.dataId);
  const t = backend.texData.get(info.dataId);
  return !t.isPacked && t.slice == null && t.texShape?.[0] === info.shape[0] && t.texShape?.[1] === info.shape[1];
}

/** The shape of A's 2D view (aElement). */
export function aView(batch: number, m: number, k: number, transposeA: boolean): number[] {
  return transposeA ? [batch * k, m] : [batch * m, k];
}

export class RowExponentProgram extends ShapeFreeProgram {
  variableNames = ['A'];

  /** a: [batch·M, K] (or [batch·K, M] with transposeA: aView), `direct`: aElement. Output [batch, M]. */
  constructor(batch: number, m: number, k: number, transposeA: boolean, direct: boolean) {
    super([batch, m], { shapeM: m, shapeK: k });
    this.userCode = `
      void main() {
        ivec2 c = getOutputCoords();
        int b = c.x;
        int r = c.y;
        uint maxBits = 0u;
        bool nonFinite = false;
        for (int k = 0; k < shapeK; k++) {
          // |x| as bits: ordered like the floats for non-negative values, and NaN-safe.
          uint u = floatBitsToUint(${aElement(transposeA, direct)}) & 0x7fffffffu;
          nonFinite = nonFinite || u >= 0x7f800000u;
          maxBits = max(maxBits, u);
        }
        int e = int(maxBits >> 23u) - 127;
        float result = e < ${MIN_ROW_EXPONENT} ? ${ZERO_ROW}.0 : float(e);
        setOutput(nonFinite ? uintBitsToFloat(0x7fc00000u) : result);
      }
    `;
  }
}
