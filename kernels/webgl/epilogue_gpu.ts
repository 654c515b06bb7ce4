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
 * y = 2^(E−(A−1)) · (m_n 2^−t_n) · d (+ bias, activation). D0..D3 are the product's 4 targets
 * [gridHeight, gridWidth]: channel n = qG + g of output row `row` (raw_layout.ts channelSlot)
 * is D_q[y, x] at the fragment (x, y) of index row·G + g.
 */
export class EpilogueProgram extends ShapeFreeProgram {
  variableNames: string[];

  constructor(s: EpilogueShape, dims: EpilogueDims, epilogue: ProductEpilogue, leakyreluAlpha?: number) {
    super([dims.outBatch, dims.m, dims.n], { shapeM: dims.m, shapeN: dims.n, gridWidth: dims.gridWidth }, epilogue.activation, leakyreluAlpha);
    this.variableNames = ['D0', 'D1', 'D2', 'D3', 'RowExp', 'ChannelScale'];
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
          int groups = (shapeN + 3) / 4;
          int q = n / groups;
          int fragment = (ob * shapeM + m) * groups + n - q * groups;
          int gy = fragment / gridWidth;
          int gx = fragment - gy * gridWidth;
          // D_q are unpacked textures shaped like their tensors (productTarget): one texelFetch
          ivec2 t = ivec2(gx, gy);
          float d = q == 0 ? texelFetch(D0, t, 0).r : q == 1 ? texelFetch(D1, t, 0).r : q == 2 ? texelFetch(D2, t, 0).r : texelFetch(D3, t, 0).r;`, epilogue)}
      }
    `;
  }
}
