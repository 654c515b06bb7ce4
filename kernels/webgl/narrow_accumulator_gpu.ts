/**
 * The bitlayer product with a simulated narrow accumulator (src/accumulator.ts) on WebGL, and
 * the GLSL twin of the accumulator's add (integer ops only: the CPU and the shader run the same
 * integer steps, so they agree bit for bit). Built on the sampler product's layout
 * (sampler_product_gpu.ts).
 */
import type { AccumulatorConfig } from '../../src/config';
import { activationGLSL, outputSnippet, ShapeFreeProgram } from './glsl_common';
import {
  inputNames, mainPrelude, planeSum, planeWeightLiteral, ProductDims, productDimUniforms, ProductEpilogue, productOutputShape,
  ProductShape, SAMPLER_HELPERS,
} from './sampler_product_gpu';

export type NarrowConfig = Exclude<AccumulatorConfig, { type: 'exact' }>;

/**
 * GLSL functions `int accAdd(int acc, int value, inout ivec2 events)` (events.x: overflows,
 * events.y: underflows) and, for float formats, `void accLimits(int bound)` that sets the
 * per-output limits from the output's largest possible |d|.
 */
function accumulatorGLSL(config: NarrowConfig): string {
  if (config.type === 'int') {
    if (config.bits >= 31) {
      // |d| < 2^30 is required for simulation, so such a register never overflows.
      return 'int accAdd(int acc, int value, inout ivec2 events) { return acc + value; }';
    }
    const lo = -(2 ** (config.bits - 1));
    const hi = 2 ** (config.bits - 1) - 1;
    const onOverflow = config.overflow === 'saturate'
      ? `return sum < ${lo} ? ${lo} : ${hi};`
      // (sum - lo) mod 2^B + lo, through the two's complement bits of a uint
      : `return int(uint(sum - (${lo})) & ${2 ** config.bits - 1}u) + (${lo});`;
    return `
      int accAdd(int acc, int value, inout ivec2 events) {
        int sum = acc + value;
        if (sum >= ${lo} && sum <= ${hi}) return sum;
        events.x++;
        ${onOverflow}
      }`;
  }
  const M = config.mantissa;
  const roundUp = config.rounding === 'nearest'
    ? `uint rest = mag - kept * unit;
        uint halfUnit = unit >> 1u;
        if (rest > halfUnit || (rest == halfUnit && (kept & 1u) == 1u)) kept += 1u;`
    : '';
  return `
    int floorLog2(uint x) {
      int r = 0;
      if (x >= 65536u) { x >>= 16u; r += 16; }
      if (x >= 256u) { x >>= 8u; r += 8; }
      if (x >= 16u) { x >>= 4u; r += 4; }
      if (x >= 4u) { x >>= 2u; r += 2; }
      if (x >= 2u) { r += 1; }
      return r;
    }
    // Round an integer magnitude to ${M} fraction bits (${config.rounding}).
    uint roundMagnitude(uint mag) {
      if (mag == 0u) return 0u;
      int drop = floorLog2(mag) - ${M};
      if (drop <= 0) return mag;
      uint unit = 1u << uint(drop);
      uint kept = mag >> uint(drop);
      ${roundUp}
      return kept * unit;
    }
    int accMaxFinite;
    int accMinNormal;
    // Exponent bias from the output's largest |d| (see accumulator.ts).
    void accLimits(int bound) {
      int emax = floorLog2(uint(max(1, bound)));
      int emin = emax - ${2 ** config.exponent - 2};
      accMaxFinite = emax >= ${M} ? ${2 ** (M + 1) - 1} * (1 << (emax - ${M})) : (1 << (emax + 1)) - 1;
      accMinNormal = emin > 0 ? 1 << emin : 1;
    }
    int accAdd(int acc, int value, inout ivec2 events) {
      int sum = acc + value;
      uint mag = roundMagnitude(uint(abs(sum)));
      if (mag > uint(accMaxFinite)) {
        events.x++;
        mag = uint(accMaxFinite);
      } else if (mag != 0u && mag < uint(accMinNormal)) {
        events.y++;
        mag = 0u;
      }
      return sum < 0 ? -int(mag) : int(mag);
    }`;
}

/**
 * The bitlayer product with a simulated narrow accumulator (src/accumulator.ts): word partials
 * c_w = T_w + 2 Σ_i σ_i 2^(t_n-1-i) S_i(w) are exact ints, added word by word (in chunks for
 * float formats) through accAdd. 'output' mode writes y; 'partials' mode writes [register,
 * overflows, underflows] per output. The exact program above is untouched by this mode.
 */
export class NarrowAccumulatorProgram extends ShapeFreeProgram {
  variableNames: string[];

  constructor(
    s: ProductShape, dims: ProductDims, accumulator: NarrowConfig,
    mode: 'output' | 'partials', epilogue?: ProductEpilogue, leakyreluAlpha?: number,
  ) {
    super(productOutputShape(dims, mode === 'output' ? 0 : 3), productDimUniforms(dims), epilogue?.activation, leakyreluAlpha);
    const t = Math.min(s.weightBits, s.storedBits);
    const planes = s.activationBits + 1;
    this.variableNames = inputNames(s, epilogue);
    const planeFactor = (i: number) => s.perChannelPlanes
      ? `${i === 0 ? '-' : ''}(1 << (tn - ${i + 1}))`
      : planeWeightLiteral(i, t);
    const wordBody = Array.from({ length: 2 }, (_, half) => `
          h = 2 * word + ${half};
          ${Array.from({ length: planes }, (_, p) => `a${p} = uint(getAp(aRow + ${p}, h));`).join(' ')}
          cw += ${planeSum(planes, (p) => `a${p}`)};
          ${Array.from({ length: t }, (_, i) => `
          w = uint(getWp(wRow + ${i}, h));
          if (w != 0u) cw += 2 * (${planeFactor(i)}) * (${planeSum(planes, (p) => `w & a${p}`)});`).join('')}`).join('');
    const isFloat = accumulator.type === 'float';
    const chunk = isFloat ? accumulator.chunk : 1;
    const accumulateWord = isFloat ? `
          chunkSum = accAdd(chunkSum, cw, events);
          if (++inChunk == ${chunk} || word == words - 1) {
            acc = accAdd(acc, chunkSum, events);
            chunkSum = 0;
            inChunk = 0;
          }` : `
          acc = accAdd(acc, cw, events);`;
    const finish = mode === 'partials' ? `
        setOutput(c.w == 0 ? float(acc) : c.w == 1 ? float(events.x) : float(events.y));`
      : outputSnippet(s, 'float d = float(acc);', epilogue);
    this.userCode = `
      ${SAMPLER_HELPERS}
      ${accumulatorGLSL(accumulator)}
      ${activationGLSL(epilogue?.activation ?? 'linear')}
      void main() {
        ${mainPrelude(s, planes, mode)}
        int tn = ${s.perChannelPlanes ? 'int(getChannelPlanes(bi * shapeN + n))' : t};
        ${isFloat ? `accLimits(shapeK * ((1 << tn) - 1) * ${2 ** s.activationBits - 1});` : ''}
        ivec2 events = ivec2(0);
        int acc = 0;
        int chunkSum = 0;
        int inChunk = 0;
        int h;
        uint w;
        ${Array.from({ length: planes }, (_, p) => `uint a${p};`).join(' ')}
        int words = (shapeK + 31) / 32;
        for (int word = 0; word < words; word++) {
          int cw = 0;
          ${wordBody}
          ${accumulateWord}
        }
        ${finish}
      }
    `;
  }
}
