/**
 * The first pass of every activation quantization (src/quantize.ts): the row exponent
 * E_r = floor(log2 max_k |x_rk|), read exactly from the float32 bits. NaN marks a row with
 * NaN/Inf, ZERO_ROW a row whose max |x| is below 2^MIN_ROW_EXPONENT (it quantizes to zero).
 */
import { MIN_ROW_EXPONENT } from '../../src/quantize';
import { ShapeFreeProgram } from './glsl_common';

/** Row exponent marking an all-zero row (any value below MIN_ROW_EXPONENT would do). */
export const ZERO_ROW = -1000;

/** Where an A operand element (batch b, row r, column k) is read, honouring transposeA. */
export function aElement(transposeA: boolean): string {
  return transposeA ? 'getA(b, k, r)' : 'getA(b, r, k)';
}

export class RowExponentProgram extends ShapeFreeProgram {
  variableNames = ['A'];

  /** a: [batch, M, K] (or [batch, K, M] with transposeA). Output [batch, M]. */
  constructor(batch: number, m: number, k: number, transposeA: boolean) {
    super([batch, m], { shapeK: k });
    this.userCode = `
      void main() {
        ivec2 c = getOutputCoords();
        int b = c.x;
        int r = c.y;
        uint maxBits = 0u;
        bool nonFinite = false;
        for (int k = 0; k < shapeK; k++) {
          // |x| as bits: ordered like the floats for non-negative values, and NaN-safe.
          uint u = floatBitsToUint(${aElement(transposeA)}) & 0x7fffffffu;
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
