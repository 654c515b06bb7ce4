/**
 * The epilogue of the raw products (planes, codes, pairs): y = 2^(E−(A−1)) · (m_n 2^−t_n) · d,
 * then bias and the fused activation, as a tfjs program writing the output tensor.
 */
import { activationGLSL, outputSnippet, POW2_HELPERS, ShapeFreeProgram } from './glsl_common';
import type { ProductEpilogue } from './sampler_product_gpu';

/** What the epilogue compiles in: A, the batch index expressions (tfjs programs), bias and activation. */
export interface EpilogueShape { activationBits: number; aIndex: string; bIndex: string }

/** Its call's sizes: the output [outBatch, M, N] and the product's fragment grid width. */
export interface EpilogueDims { outBatch: number; m: number; n: number; gridWidth: number }

/**
 * y = 2^(E−(A−1)) · (m_n 2^−t_n) · d (+ bias, activation). D is the product's RGBA32F texture
 * gridWidth × gridHeight (productTarget): channel 4g + q of output row `row` is component q of
 * texel (x, y) of fragment row·groups + g.
 */
export class EpilogueProgram extends ShapeFreeProgram {
  variableNames: string[];

  constructor(s: EpilogueShape, dims: EpilogueDims, epilogue: ProductEpilogue, leakyreluAlpha?: number) {
    super([dims.outBatch, dims.m, dims.n], { shapeM: dims.m, shapeN: dims.n, gridWidth: dims.gridWidth }, epilogue.activation, leakyreluAlpha);
    this.variableNames = ['D', 'RowExp', 'ChannelScale'];
    if (s.aIndex.includes('getAIndex')) this.variableNames.push('AIndex');
    if (s.bIndex.includes('getBIndex')) this.variableNames.push('BIndex');
    if (epilogue.hasBias) this.variableNames.push('bias');
    if (epilogue.activation === 'prelu') this.variableNames.push('preluActivationWeights');
    this.userCode = `
      ${POW2_HELPERS}
      ${activationGLSL(epilogue.activation)}
      void main() {
        ivec3 c = getOutputCoords();
        int ob = c.x;
        int m = c.y;
        int n = c.z;
        int ai = ${s.aIndex};
        int bi = ${s.bIndex};
        ${outputSnippet(s, `
          int fragment = (ob * shapeM + m) * ((shapeN + 3) / 4) + n / 4;
          int gy = fragment / gridWidth;
          int gx = fragment - gy * gridWidth;
          float d = texelFetch(D, ivec2(gx, gy), 0)[n % 4];`, epilogue)}
      }
    `;
  }
}
