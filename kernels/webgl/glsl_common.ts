/**
 * GLSL snippets shared by the WebGL programs: quantize.ts's activation code, the power-of-two
 * helpers it needs, the fused activations, and the 16-bit SWAR popcount of the sampler programs.
 */
import type { GPGPUProgram, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import type { backend_util, TensorInfo } from '@tensorflow/tfjs-core';
import { MIN_ROW_EXPONENT } from '../../src/quantize';

/**
 * pow2i(e): 2^e for an integer e in [-126, 127], built from its bits: exact on every GPU (exp2 is
 * not). floorHalf(e): integer floor(e / 2) for negative e too.
 */
export const POW2_HELPERS = `
  float pow2i(int e) { return intBitsToFloat((e + 127) << 23); }
  int floorHalf(int e) { return (e - (e < 0 ? 1 : 0)) / 2; }
`;

/**
 * SWAR popcount of a 16-bit value (tfjs float texels carry 16 bits each); every partial sum is
 * masked before it can carry (nibble sums ≤ 8, byte sums ≤ 16), so all-ones words count right.
 */
export const PC16_GLSL = `
  uint pc16(uint x) {
    x = x - ((x >> 1u) & 0x5555u);
    x = (x & 0x3333u) + ((x >> 2u) & 0x3333u);
    x = (x + (x >> 4u)) & 0x0f0fu;
    return (x + (x >> 8u)) & 0x1fu;
  }
`;

/**
 * GLSL of quantize.ts's activation code, shared by every shader that quantizes activations:
 * code = clamp(floor(x · 2^-(E>>1) · 2^(A-1-E+(E>>1)) + 0.5), -(2^A-1), 2^A-1). Both products
 * are exact (powers of two, no over/underflow), so only the +0.5 rounds, as on the CPU.
 * Needs POW2_HELPERS.
 */
export function activationCodeGLSL(bits: number): string {
  return `
  vec2 activationFactors(float rowExp) {
    int e = int(rowExp);
    int h = floorHalf(e);
    return vec2(pow2i(-h), pow2i(${bits - 1} - e + h));
  }
  int activationCode(float x, vec2 f) {
    return clamp(int(floor(x * f.x * f.y + 0.5)), ${-(2 ** bits - 1)}, ${2 ** bits - 1});
  }`;
}

/**
 * GLSL `float activation(float x)` of a fused activation (tfjs-backend-webgl's formulas), for
 * tfjs programs. The leaky-relu slope is the custom uniform `leakyreluAlpha` (ShapeFreeProgram).
 */
export function activationGLSL(activation: backend_util.Activation): string {
  const body = (() => {
    switch (activation) {
      case 'linear': return 'return x;';
      case 'relu': return 'if (isnan(x)) return x; return x < 0.0 ? 0.0 : x;';
      case 'relu6': return 'if (isnan(x)) return x; return x < 0.0 ? 0.0 : min(6.0, x);';
      case 'elu': return 'return x >= 0.0 ? x : exp(x) - 1.0;';
      case 'sigmoid': return 'return 1.0 / (1.0 + exp(-1.0 * x));';
      case 'leakyrelu': return 'return x < 0.0 ? leakyreluAlpha * x : x;';
      case 'prelu': return 'return x < 0.0 ? getPreluActivationWeightsAtOutCoords() * x : x;';
    }
  })();
  return `float activation(float x) { ${body} }`;
}

/**
 * pbq's tfjs programs compile no shape: `enableShapeUniforms` makes tfjs pass every input's and
 * the output's shape as uniforms (its sampler code and program key then depend on ranks only),
 * and the sizes a program's own code needs (M, K, N, ...) are int custom uniforms named in
 * `dims`, with their values for this call in `uniformValues`; for leaky relu the float slope
 * `leakyreluAlpha` that activationGLSL reads too. So a new batch size, sequence step, weight
 * shape or alpha compiles no new program. Subclasses set variableNames and userCode.
 */
export abstract class ShapeFreeProgram implements GPGPUProgram {
  abstract variableNames: string[];
  userCode = '';
  readonly enableShapeUniforms = true;
  readonly customUniforms: Array<{ name: string; type: 'int' | 'float' }>;
  readonly uniformValues: number[][];

  constructor(
    readonly outputShape: number[], dims: Record<string, number>, activation: backend_util.Activation = 'linear', leakyreluAlpha = 0.2,
  ) {
    this.customUniforms = Object.keys(dims).map((name) => ({ name, type: 'int' as const }));
    this.uniformValues = Object.values(dims).map((v) => [v]);
    if (activation === 'leakyrelu') {
      this.customUniforms.push({ name: 'leakyreluAlpha', type: 'float' });
      this.uniformValues.push([leakyreluAlpha]);
    }
  }
}

/** Runs a shape-free program with its call's uniform values (float32 output). */
export function runShapeFree(backend: MathBackendWebGL, program: ShapeFreeProgram, inputs: TensorInfo[]): TensorInfo {
  return backend.compileAndRun(program, inputs, 'float32', program.uniformValues);
}

/**
 * The end of every product program's main(): y = 2^(E−(A−1)) · (m_n 2^−t_n) · d from the row
 * exponent (NaN row: NaN; zero row: 0), then bias and the fused activation. Expects ai, m, bi, n
 * in scope, the inputs RowExp and ChannelScale, the uniform shapeN (N), and `dExpression`
 * declaring `float d`.
 */
export function outputSnippet(s: { activationBits: number }, dExpression: string, epilogue?: { hasBias: boolean }): string {
  return `
        float rowExp = getRowExp(ai, m);
        float y;
        if (isnan(rowExp)) {
          y = rowExp;
        } else if (rowExp < ${MIN_ROW_EXPONENT}.0) {
          y = 0.0;
        } else {
          ${dExpression}
          // y = 2^e · (m_n 2^-t) · d with e = E - (A-1)
          y = pow2i(int(rowExp) - ${s.activationBits - 1}) * (getChannelScale(bi * shapeN + n) * d);
        }
        ${epilogue?.hasBias ? 'y += getBiasAtOutCoords();' : ''}
        setOutput(activation(y));`;
}
