/**
 * The sampler product: the first WebGL bitlayer program, written with tfjs-backend-webgl's
 * samplers (GPGPUProgram). Packed bits travel in float32 texels holding 16 bits each (integers
 * below 2^24 are exact in a float channel), so a 32-bit word is two texels. It serves what the
 * raw products cannot place, the integer partial sums of the tests, and it is the base of the
 * narrow-accumulator program (narrow_accumulator_gpu.ts). CPU twin: src/engine.ts.
 *
 *   ActivationPlanesProgram   A, E → (A+1) activation planes per row, MSB (sign) plane first
 *   SamplerProductProgram     weight planes, activation planes, E, channel scales → y (+ fused
 *                             bias/activation); or, in 'partials' mode, the integer partial sums
 *                             S_0..S_{t-1} and T of every output (for bit-exact tests).
 */
import type { backend_util } from '@tensorflow/tfjs-core';
import { channelPlanes, MIN_ROW_EXPONENT, QuantizedWeight } from '../../src/quantize';
import { activationCodeGLSL, activationGLSL, outputSnippet, PC16_GLSL, POW2_HELPERS, ShapeFreeProgram } from './glsl_common';
import { aElement } from './row_exponent_gpu';

/** Bits carried by one float32 texel of a plane texture. */
export const TEXEL_BITS = 16;

/** The GLSL helpers of the sampler programs. */
export const SAMPLER_HELPERS = `${PC16_GLSL}${POW2_HELPERS}`;

/** Weight planes as float32 texels of 16 bits: [batch·N·bits, 2·words]. */
export function samplerWeightTexels(w: QuantizedWeight): Float32Array {
  const texels = new Float32Array(w.planes.length * 2);
  for (let i = 0; i < w.planes.length; i++) {
    texels[2 * i] = w.planes[i] & 0xffff;
    texels[2 * i + 1] = w.planes[i] >>> TEXEL_BITS;
  }
  return texels;
}

/** Per-channel scale m_n · 2^-t_n, the factor between d and y (without the row step). */
export function channelScales(w: QuantizedWeight, weightBits: number): Float32Array {
  return w.ranges.map((m, c) => m * 2 ** -channelPlanes(w, c, weightBits));
}

/** Per-channel plane counts t_n (only for weights whose channels differ). */
export function channelPlaneCounts(w: QuantizedWeight, weightBits: number): Float32Array {
  return Float32Array.from(w.ranges, (_, c) => channelPlanes(w, c, weightBits));
}

export class ActivationPlanesProgram extends ShapeFreeProgram {
  variableNames = ['A', 'RowExp'];

  /**
   * Output [batch·M·(bits+1), texels]: row (batch·M + r)·(bits+1) + p holds plane p of row r,
   * 16 columns k per texel (bit l of texel h is k = 16h + l).
   */
  constructor(batch: number, m: number, k: number, transposeA: boolean, direct: boolean, bits: number) {
    const planes = bits + 1;
    const texels = 2 * Math.ceil(k / 32);
    super([batch * m * planes, texels], { shapeM: m, shapeK: k });
    this.userCode = `
      ${SAMPLER_HELPERS}
      ${activationCodeGLSL(bits)}
      void main() {
        ivec2 c = getOutputCoords();
        int p = c.x % ${planes};
        int row = c.x / ${planes};
        int b = row / shapeM;
        int r = row - b * shapeM;
        float rowExp = getRowExp(b, r);
        if (isnan(rowExp) || rowExp < ${MIN_ROW_EXPONENT}.0) {
          setOutput(0.0);
          return;
        }
        vec2 f = activationFactors(rowExp);
        uint shift = uint(${planes - 1} - p);
        uint word = 0u;
        for (int l = 0; l < ${TEXEL_BITS}; l++) {
          int k = c.y * ${TEXEL_BITS} + l;
          if (k >= shapeK) break;
          float x = ${aElement(transposeA, direct)};
          int code = activationCode(x, f);
          word |= ((uint(code) >> shift) & 1u) << uint(l);
        }
        setOutput(float(word));
      }
    `;
  }
}

/** What the sampler and narrow programs compile in (fixed by the weight and the settings). */
export interface ProductShape {
  /** Planes stored per weight channel, and planes used (t ≤ stored). */
  storedBits: number;
  weightBits: number;
  activationBits: number;
  /** GLSL expressions of the a and b matrix index of output batch `ob`. */
  aIndex: string;
  bIndex: string;
  /** True when channels have their own plane counts (input ChannelPlanes, [bBatch·N]). */
  perChannelPlanes: boolean;
}

/** Their call's sizes (uniforms shapeM, shapeK, shapeN; the output batch is the output's shape). */
export interface ProductDims { outBatch: number; m: number; k: number; n: number }

/** The int uniforms of the call's M, K, N. */
export function productDimUniforms(d: ProductDims): Record<string, number> {
  return { shapeM: d.m, shapeK: d.k, shapeN: d.n };
}

/** [outBatch, M, N], with `values` per output when nonzero (the 'partials' modes). */
export function productOutputShape(d: ProductDims, values: number): number[] {
  return values > 0 ? [d.outBatch, d.m, d.n, values] : [d.outBatch, d.m, d.n];
}

export interface ProductEpilogue {
  hasBias: boolean;
  activation: backend_util.Activation;
}

/** Signed weight of plane p of `count` MSB-first two's-complement planes, as a GLSL literal. */
export function planeWeightLiteral(p: number, count: number): string {
  const w = 2 ** (count - 1 - p);
  return p === 0 ? `${-w}` : `${w}`;
}

/** Σ_p τ_p 2^(A-p) pc16(<operand> & a_p) as one GLSL int expression (constants unrolled). */
export function planeSum(planes: number, operand: (p: number) => string): string {
  const terms = [];
  for (let p = 0; p < planes; p++) terms.push(`${planeWeightLiteral(p, planes)} * int(pc16(${operand(p)}))`);
  return terms.join(' + ');
}

/** Input names, in the order samplerOperands (BatchMatMul_impl.ts) supplies them. */
export function inputNames(s: ProductShape, epilogue?: ProductEpilogue): string[] {
  const names = ['Wp', 'Ap', 'RowExp', 'ChannelScale'];
  if (s.perChannelPlanes) names.push('ChannelPlanes');
  if (s.aIndex.includes('getAIndex')) names.push('AIndex');
  if (s.bIndex.includes('getBIndex')) names.push('BIndex');
  if (epilogue?.hasBias) names.push('bias');
  if (epilogue?.activation === 'prelu') names.push('preluActivationWeights');
  return names;
}

/**
 * Start of main() of both product programs: output coordinates (ob, m, n), the a and b matrix
 * of this output batch, and the first texel row of its activation and weight planes.
 */
export function mainPrelude(s: ProductShape, planes: number, mode: 'output' | 'partials'): string {
  return `
        ${mode === 'output' ? 'ivec3' : 'ivec4'} c = getOutputCoords();
        int ob = c.x;
        int m = c.y;
        int n = c.z;
        int ai = ${s.aIndex};
        int bi = ${s.bIndex};
        int aRow = (ai * shapeM + m) * ${planes};
        int wRow = (bi * shapeN + n) * ${s.storedBits};`;
}

export class SamplerProductProgram extends ShapeFreeProgram {
  variableNames: string[];

  /**
   * Inputs: W planes [bBatch·N·storedBits, texels], A planes [aBatch·M·(A+1), texels],
   * RowExp [aBatch, M], ChannelScale [bBatch·N] (m_n · 2^-t), then AIndex/BIndex when the
   * batch mapping needs a table, then bias and prelu weights when fused.
   */
  constructor(s: ProductShape, dims: ProductDims, mode: 'output' | 'partials', epilogue?: ProductEpilogue, leakyreluAlpha?: number) {
    const t = Math.min(s.weightBits, s.storedBits);
    super(productOutputShape(dims, mode === 'output' ? 0 : t + 1), productDimUniforms(dims), epilogue?.activation, leakyreluAlpha);
    const planes = s.activationBits + 1;
    this.variableNames = inputNames(s, epilogue);

    const loadA = Array.from({ length: planes }, (_, p) => `uint a${p} = uint(getAp(aRow + ${p}, h));`).join('\n');
    const sums = Array.from({ length: t }, (_, i) => `int s${i} = 0;`).join(' ');
    const accumulate = Array.from({ length: t }, (_, i) => `
          w = uint(getWp(wRow + ${i}, h));
          if (w != 0u) s${i} += ${planeSum(planes, (p) => `w & a${p}`)};`).join('');
    // d = 2 Σ_i σ_i 2^(t-1-i) S_i + T, summed in float (the integers can exceed 2^31). With
    // per-channel plane counts t_n the factors come from t_n (planes past t_n are zero).
    const combine = Array.from({ length: t }, (_, i) => s.perChannelPlanes
      ? `${i === 0 ? '-' : ''}pow2i(tn - ${i + 1}) * float(s${i})`
      : `${planeWeightLiteral(i, t)}.0 * float(s${i})`).join(' + ');
    const partialOut = Array.from({ length: t }, (_, i) => `if (c.w == ${i}) result = float(s${i});`).join(' ');

    const finish = mode === 'partials' ? `
        float result = float(tsum);
        ${partialOut}
        setOutput(result);` : outputSnippet(s, `
          ${s.perChannelPlanes ? 'int tn = int(getChannelPlanes(bi * shapeN + n));' : ''}
          float d = float(tsum) + 2.0 * (${combine});`, epilogue);

    this.userCode = `
      ${SAMPLER_HELPERS}
      ${activationGLSL(epilogue?.activation ?? 'linear')}
      void main() {
        ${mainPrelude(s, planes, mode)}
        int tsum = 0;
        ${sums}
        uint w;
        int texels = 2 * ((shapeK + 31) / 32);
        for (int h = 0; h < texels; h++) {
          ${loadA}
          tsum += ${planeSum(planes, (p) => `a${p}`)};
          ${accumulate}
        }
        ${finish}
      }
    `;
  }
}

