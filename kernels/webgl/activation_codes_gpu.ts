/**
 * Per-element activation codes a = clamp(round_half_up(x / 2^e), ±(2^A − 1)) as exact floats,
 * from A and its row exponents (row_exponent_gpu.ts); 0 in zero and NaN rows. Computed once per
 * call; the raw products' pack passes read them.
 */
import { MIN_ROW_EXPONENT } from '../../src/quantize';
import { activationCodeGLSL, callUniforms, POW2_HELPERS, ShapeFreeProgram } from './glsl_common';
import { aElement } from './row_exponent_gpu';

export class ActivationCodesProgram implements ShapeFreeProgram {
  variableNames = ['A', 'RowExp'];
  outputShape: number[];
  userCode: string;
  enableShapeUniforms = true as const;
  customUniforms: ShapeFreeProgram['customUniforms'];
  uniformValues: number[][];

  /** a: [batch, M, K] (or [batch, K, M] with transposeA), RowExp [batch, M]. Output [batch·M, K]. */
  constructor(batch: number, m: number, k: number, transposeA: boolean, bits: number) {
    this.outputShape = [batch * m, k];
    ({ customUniforms: this.customUniforms, uniformValues: this.uniformValues } = callUniforms({ shapeM: m }));
    this.userCode = `
      ${POW2_HELPERS}
      ${activationCodeGLSL(bits)}
      void main() {
        ivec2 c = getOutputCoords();
        int b = c.x / shapeM;
        int r = c.x - b * shapeM;
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

/**
 * GLSL reading the codes texture (this program's output, flat index r·K + k, row-major in a
 * texture `codesWidth` texels wide) in a raw pack pass: `codeTexel(fi)` finds an index once,
 * `nextCode(p)` reads it and steps to the next, so a pass reading consecutive codes divides once.
 */
export const CODES_READER_GLSL = `
    uniform sampler2D Codes;
    uniform int codesWidth;
    ivec2 codeTexel(int fi) { return ivec2(fi % codesWidth, fi / codesWidth); }
    float nextCode(inout ivec2 p) {
      float c = texelFetch(Codes, p, 0).r;
      p.x++;
      if (p.x == codesWidth) p = ivec2(0, p.y + 1);
      return c;
    }`;

/** The uniforms of a pack pass: rows placed (activation rows × texture rows per row) and the codes' texture width. */
export const PACK_UNIFORMS = [{ name: 'rows', type: 'int' }, { name: 'codesWidth', type: 'int' }] as const;
