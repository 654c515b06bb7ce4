/**
 * Per-element activation codes a = clamp(round_half_up(x / 2^e), ±(2^A − 1)) as exact floats,
 * from A and its row exponents (row_exponent_gpu.ts); 0 in zero and NaN rows. Computed once per
 * call; the raw products' pack passes read them.
 */
import type { GPGPUProgram } from '@tensorflow/tfjs-backend-webgl';
import { MIN_ROW_EXPONENT } from '../../src/quantize';
import { activationCodeGLSL, POW2_HELPERS } from './glsl_common';
import { aElement } from './row_exponent_gpu';

export class ActivationCodesProgram implements GPGPUProgram {
  variableNames = ['A', 'RowExp'];
  outputShape: number[];
  userCode: string;

  /** a: [batch, M, K] (or [batch, K, M] with transposeA), RowExp [batch, M]. Output [batch·M, K]. */
  constructor(batch: number, m: number, k: number, transposeA: boolean, bits: number) {
    this.outputShape = [batch * m, k];
    this.userCode = `
      ${POW2_HELPERS}
      ${activationCodeGLSL(bits)}
      void main() {
        ivec2 c = getOutputCoords();
        int b = c.x / ${m};
        int r = c.x - b * ${m};
        int k = c.y;
        float rowExp = getRowExp(b, r);
        if (isnan(rowExp) || rowExp < ${MIN_ROW_EXPONENT}.0) {
          setOutput(0.0);
          return;
        }
        float x = ${aElement(transposeA)};
        setOutput(float(activationCode(x, activationFactors(rowExp))));
      }
    `;
  }
}
