/**
 * GLSL ES 3.00 programs of the bitlayer matmul (WebGL 2). The CPU twin is src/engine.ts; the
 * arithmetic is defined in src/quantize.ts. Packed bits travel in float32 texels holding 16 bits
 * each (integers below 2^24 are exact in a float channel), so a 32-bit word is two texels.
 *
 *   RowExponentProgram      A → E_r = floor(log2 max|x_r|) per row (NaN: non-finite row,
 *                           -1000: zero row)
 *   ActivationPlanesProgram A, E → (A+1) activation planes per row, MSB (sign) plane first
 *   BitlayerMatMulProgram   weight planes, activation planes, E, channel scales → y (+ fused
 *                           bias/activation); or, in 'partials' mode, the integer partial sums
 *                           S_0..S_{t-1} and T of every output (for bit-exact tests).
 */
import type { GPGPUProgram } from '@tensorflow/tfjs-backend-webgl';
import { MIN_ROW_EXPONENT } from '../src/quantize';
import type { FusedActivation } from './fused_epilogue_cpu';
import type { AccumulatorConfig } from '../src/config';
import { accumulatorGLSL } from './accumulator_gpu';

/** Bits carried by one float32 texel of a plane texture. */
export const TEXEL_BITS = 16;

/** Row exponent marking an all-zero row (any value below MIN_ROW_EXPONENT would do). */
export const ZERO_ROW = -1000;

/**
 * GLSL of quantize.ts's activation code, shared by every shader that quantizes activations:
 * code = clamp(floor(x · 2^-(E>>1) · 2^(A-1-E+(E>>1)) + 0.5), -(2^A-1), 2^A-1). Both products
 * are exact (powers of two, no over/underflow), so only the +0.5 rounds, as on the CPU.
 * Needs pow2i and floorHalf (ACTIVATION_CODE_HELPERS).
 */
export const ACTIVATION_CODE_HELPERS = `
  float pow2i(int e) { return intBitsToFloat((e + 127) << 23); }
  int floorHalf(int e) { return (e - (e < 0 ? 1 : 0)) / 2; }
`;

const GLSL_HELPERS = `
  // SWAR popcount of a 16-bit value; every partial sum is masked before it can carry
  // (nibble sums ≤ 8, byte sums ≤ 16), so all-ones words count right.
  uint pc16(uint x) {
    x = x - ((x >> 1u) & 0x5555u);
    x = (x & 0x3333u) + ((x >> 2u) & 0x3333u);
    x = (x + (x >> 4u)) & 0x0f0fu;
    return (x + (x >> 8u)) & 0x1fu;
  }
  // pow2i(e): 2^e for an integer e in [-126, 127], built from its bits: exact on every GPU
  // (exp2 is not). floorHalf(e): integer floor(e / 2) for negative e too.
  ${ACTIVATION_CODE_HELPERS}
`;

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

/** Where an A operand element (batch b, row r, column k) is read, honouring transposeA. */
function aElement(transposeA: boolean): string {
  return transposeA ? 'getA(b, k, r)' : 'getA(b, r, k)';
}

export class RowExponentProgram implements GPGPUProgram {
  variableNames = ['A'];
  outputShape: number[];
  userCode: string;

  /** a: [batch, M, K] (or [batch, K, M] with transposeA). Output [batch, M]. */
  constructor(batch: number, m: number, k: number, transposeA: boolean) {
    this.outputShape = [batch, m];
    this.userCode = `
      void main() {
        ivec2 c = getOutputCoords();
        int b = c.x;
        int r = c.y;
        uint maxBits = 0u;
        bool nonFinite = false;
        for (int k = 0; k < ${k}; k++) {
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

export class ActivationPlanesProgram implements GPGPUProgram {
  variableNames = ['A', 'RowExp'];
  outputShape: number[];
  userCode: string;

  /**
   * Output [batch·M·(bits+1), texels]: row (batch·M + r)·(bits+1) + p holds plane p of row r,
   * 16 columns k per texel (bit l of texel h is k = 16h + l).
   */
  constructor(batch: number, m: number, k: number, transposeA: boolean, bits: number) {
    const planes = bits + 1;
    const texels = 2 * Math.ceil(k / 32);
    this.outputShape = [batch * m * planes, texels];
    this.userCode = `
      ${GLSL_HELPERS}
      ${activationCodeGLSL(bits)}
      void main() {
        ivec2 c = getOutputCoords();
        int p = c.x % ${planes};
        int row = c.x / ${planes};
        int b = row / ${m};
        int r = row % ${m};
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
          if (k >= ${k}) break;
          float x = ${aElement(transposeA)};
          int code = activationCode(x, f);
          word |= ((uint(code) >> shift) & 1u) << uint(l);
        }
        setOutput(float(word));
      }
    `;
  }
}

/** GLSL body of a fused activation, on float x (tfjs-backend-webgl's formulas). */
export function activationSnippet(activation: FusedActivation, leakyreluAlpha: number): string {
  switch (activation) {
    case 'linear': return 'return x;';
    case 'relu': return 'if (isnan(x)) return x; return x < 0.0 ? 0.0 : x;';
    case 'relu6': return 'if (isnan(x)) return x; return x < 0.0 ? 0.0 : min(6.0, x);';
    case 'elu': return 'return x >= 0.0 ? x : exp(x) - 1.0;';
    case 'sigmoid': return 'return 1.0 / (1.0 + exp(-1.0 * x));';
    case 'leakyrelu': return `return x < 0.0 ? float(${leakyreluAlpha}) * x : x;`;
    case 'prelu': return 'return x < 0.0 ? getPreluActivationWeightsAtOutCoords() * x : x;';
  }
}

export interface BitlayerMatMulShape {
  outBatch: number;
  m: number;
  k: number;
  n: number;
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

export interface BitlayerEpilogue {
  hasBias: boolean;
  activation: FusedActivation;
  leakyreluAlpha: number;
}

/** Signed weight of plane p of `count` MSB-first two's-complement planes, as a GLSL literal. */
function planeWeightLiteral(p: number, count: number): string {
  const w = 2 ** (count - 1 - p);
  return p === 0 ? `${-w}` : `${w}`;
}

/** Σ_p τ_p 2^(A-p) pc16(<operand> & a_p) as one GLSL int expression (constants unrolled). */
function planeSum(planes: number, operand: (p: number) => string): string {
  const terms = [];
  for (let p = 0; p < planes; p++) terms.push(`${planeWeightLiteral(p, planes)} * int(pc16(${operand(p)}))`);
  return terms.join(' + ');
}

/** Input names, in the order prepareOperands (bitlayer_matmul_webgl.ts) supplies them. */
function inputNames(s: BitlayerMatMulShape, epilogue?: BitlayerEpilogue): string[] {
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
function mainPrelude(s: BitlayerMatMulShape, planes: number, mode: 'output' | 'partials'): string {
  return `
        ${mode === 'output' ? 'ivec3' : 'ivec4'} c = getOutputCoords();
        int ob = c.x;
        int m = c.y;
        int n = c.z;
        int ai = ${s.aIndex};
        int bi = ${s.bIndex};
        int aRow = (ai * ${s.m} + m) * ${planes};
        int wRow = (bi * ${s.n} + n) * ${s.storedBits};`;
}

/** Output of y from the register value d, with the fused epilogue (shared by both programs). */
function outputSnippet(s: BitlayerMatMulShape, dExpression: string, epilogue?: BitlayerEpilogue): string {
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
          y = pow2i(int(rowExp) - ${s.activationBits - 1}) * (getChannelScale(bi * ${s.n} + n) * d);
        }
        ${epilogue?.hasBias ? 'y += getBiasAtOutCoords();' : ''}
        setOutput(activation(y));`;
}

export class BitlayerMatMulProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;

  /**
   * Inputs: W planes [bBatch·N·storedBits, texels], A planes [aBatch·M·(A+1), texels],
   * RowExp [aBatch, M], ChannelScale [bBatch·N] (m_n · 2^-t), then AIndex/BIndex when the
   * batch mapping needs a table, then bias and prelu weights when fused.
   */
  constructor(s: BitlayerMatMulShape, mode: 'output' | 'partials', epilogue?: BitlayerEpilogue) {
    const t = Math.min(s.weightBits, s.storedBits);
    const planes = s.activationBits + 1;
    const texels = 2 * Math.ceil(s.k / 32);
    this.variableNames = inputNames(s, epilogue);
    this.outputShape = mode === 'output' ? [s.outBatch, s.m, s.n] : [s.outBatch, s.m, s.n, t + 1];

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
          ${s.perChannelPlanes ? 'int tn = int(getChannelPlanes(bi * ' + s.n + ' + n));' : ''}
          float d = float(tsum) + 2.0 * (${combine});`, epilogue);

    this.userCode = `
      ${GLSL_HELPERS}
      float activation(float x) {
        ${activationSnippet(epilogue?.activation ?? 'linear', epilogue?.leakyreluAlpha ?? 0.2)}
      }
      void main() {
        ${mainPrelude(s, planes, mode)}
        int tsum = 0;
        ${sums}
        uint w;
        for (int h = 0; h < ${texels}; h++) {
          ${loadA}
          tsum += ${planeSum(planes, (p) => `a${p}`)};
          ${accumulate}
        }
        ${finish}
      }
    `;
  }
}

/**
 * The bitlayer product with a simulated narrow accumulator (src/accumulator.ts): word partials
 * c_w = T_w + 2 Σ_i σ_i 2^(t_n-1-i) S_i(w) are exact ints, added word by word (in chunks for
 * float formats) through accAdd. 'output' mode writes y; 'partials' mode writes [register,
 * overflows, underflows] per output. The exact program above is untouched by this mode.
 */
export class NarrowAccumulatorMatMulProgram implements GPGPUProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;

  constructor(
    s: BitlayerMatMulShape, accumulator: Exclude<AccumulatorConfig, { type: 'exact' }>,
    mode: 'output' | 'partials', epilogue?: BitlayerEpilogue,
  ) {
    const t = Math.min(s.weightBits, s.storedBits);
    const planes = s.activationBits + 1;
    const words = Math.ceil(s.k / 32);
    this.variableNames = inputNames(s, epilogue);
    this.outputShape = mode === 'output' ? [s.outBatch, s.m, s.n] : [s.outBatch, s.m, s.n, 3];
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
          if (++inChunk == ${chunk} || word == ${words - 1}) {
            acc = accAdd(acc, chunkSum, events);
            chunkSum = 0;
            inChunk = 0;
          }` : `
          acc = accAdd(acc, cw, events);`;
    const finish = mode === 'partials' ? `
        setOutput(c.w == 0 ? float(acc) : c.w == 1 ? float(events.x) : float(events.y));`
      : outputSnippet(s, 'float d = float(acc);', epilogue);
    this.userCode = `
      ${GLSL_HELPERS}
      ${accumulatorGLSL(accumulator)}
      float activation(float x) {
        ${activationSnippet(epilogue?.activation ?? 'linear', epilogue?.leakyreluAlpha ?? 0.2)}
      }
      void main() {
        ${mainPrelude(s, planes, mode)}
        int tn = ${s.perChannelPlanes ? `int(getChannelPlanes(bi * ${s.n} + n))` : t};
        ${isFloat ? `accLimits(${s.k} * ((1 << tn) - 1) * ${2 ** s.activationBits - 1});` : ''}
        ivec2 events = ivec2(0);
        int acc = 0;
        int chunkSum = 0;
        int inChunk = 0;
        int h;
        uint w;
        ${Array.from({ length: planes }, (_, p) => `uint a${p};`).join(' ')}
        for (int word = 0; word < ${words}; word++) {
          int cw = 0;
          ${wordBody}
          ${accumulateWord}
        }
        ${finish}
      }
    `;
  }
}
