/**
 * The epilogue of the raw products (planes, codes, pairs): y = 2^(E−(A−1)) · (m_n 2^−t_n) · d,
 * then bias and the fused activation, as a tfjs program writing the output tensor.
 */
import type { GPGPUProgram } from '@tensorflow/tfjs-backend-webgl';
import { activationGLSL, activationUniforms, outputSnippet, POW2_HELPERS } from './glsl_common';
import type { ProductEpilogue } from './sampler_product_gpu';

/**
 * y = 2^(E−(A−1)) · (m_n 2^−t_n) · d (+ bias, activation). D is the product's packed tensor of
 * logical shape [2·gridHeight, 2·gridWidth]: the 4 channels of group g of row `row` are the
 * texel (x, y) of fragment row·groups + g, channel 4g + 2dr + dc at D[2y + dr, 2x + dc].
 */
export class EpilogueProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
  customUniforms: Array<{ name: string; type: 'float' }>;

  constructor(
    s: { outBatch: number; m: number; n: number; activationBits: number; aIndex: string; bIndex: string; gridWidth: number },
    epilogue: ProductEpilogue,
  ) {
    this.variableNames = ['D', 'RowExp', 'ChannelScale'];
    if (s.aIndex.includes('getAIndex')) this.variableNames.push('AIndex');
    if (s.bIndex.includes('getBIndex')) this.variableNames.push('BIndex');
    if (epilogue.hasBias) this.variableNames.push('bias');
    if (epilogue.activation === 'prelu') this.variableNames.push('preluActivationWeights');
    this.outputShape = [s.outBatch, s.m, s.n];
    this.customUniforms = activationUniforms(epilogue.activation).uniforms;
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
          int fragment = (ob * ${s.m} + m) * ${Math.ceil(s.n / 4)} + n / 4;
          int gy = fragment / ${s.gridWidth};
          int gx = fragment - gy * ${s.gridWidth};
          int q = n % 4;
          float d = getD(2 * gy + q / 2, 2 * gx + q % 2);`, epilogue)}
      }
    `;
  }
}
