/**
 * What the WGSL programs of pbq-webgpu share: the tfjs WebGPUProgram shape they all take, the
 * exact power-of-two helper, quantize.ts's activation code, the row markers, the fused
 * activations (tfjs-backend-webgpu's formulas) and the batch-index expressions.
 */
import type { backend_util } from '@tensorflow/tfjs-core';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu/dist/webgpu_program';
import { MIN_ROW_EXPONENT } from '../../src/quantize';

/** Row exponent marking an all-zero row (its max |x| is below 2^MIN_ROW_EXPONENT): y = 0. */
export const ZERO_ROW = -1000;
/** Row exponent marking a row with NaN or ±Inf: y = NaN. Finite rows have E in [-100, 127]. */
export const NAN_ROW = 1000;

/** Most workgroups per dispatch dimension that WebGPU guarantees. */
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * A tfjs-backend-webgpu program whose WGSL is written whole by pbq: tfjs adds its header (the
 * input arrays `array<i32|f32>` named by variableNames, the output `result`, shape uniforms) and
 * calls `main()`; the code reads `workgroupId`, `localId` and `localIndex` (tfjs's private copies
 * of the builtins). Every constant is baked into the source, so `shaderKey` names them all.
 */
export class PbqProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  variableComponents?: number[];
  outputComponent?: number;
  workgroupSize: [number, number, number];
  uniforms?: string;
  size?: boolean;
  private readonly source: string;

  constructor(p: {
    name: string; key: string; outputShape: number[]; inputs: string[]; inputComponents?: number[]; outputComponent?: number;
    workgroupSize: number; dispatch: [number, number, number]; source: string; uniforms?: string;
  }) {
    this.outputShape = p.outputShape;
    this.shaderKey = `pbq_${p.name}_${p.key}`;
    // x, y, z of rank-1 dims: tfjs then calls main() with no index (a non-flat layout).
    this.dispatchLayout = { x: [0], y: [1], z: [2] };
    this.dispatch = p.dispatch;
    this.variableNames = p.inputs;
    this.variableComponents = p.inputComponents;
    this.outputComponent = p.outputComponent;
    this.workgroupSize = [p.workgroupSize, 1, 1];
    this.uniforms = p.uniforms;
    this.source = p.source;
    for (const d of p.dispatch) {
      if (!(d >= 1 && d <= MAX_WORKGROUPS_PER_DIM)) throw new Error(`pbq: ${p.name} dispatch [${p.dispatch}] exceeds the WebGPU limits`);
    }
  }

  getUserCode(): string {
    return this.source;
  }
}

/**
 * A flat program: one invocation per output element, `main(index)` (tfjs flat dispatch, so
 * tfjs's getXByOutputIndex broadcasting helpers apply).
 */
export class PbqFlatProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms?: string;
  size = true;
  private readonly source: string;

  constructor(p: { name: string; key: string; outputShape: number[]; inputs: string[]; source: string; uniforms?: string }) {
    this.outputShape = p.outputShape;
    this.shaderKey = `pbq_${p.name}_${p.key}`;
    this.dispatchLayout = { x: p.outputShape.map((_, i) => i) };
    const size = p.outputShape.reduce((a, b) => a * b, 1);
    const groups = Math.ceil(size / this.workgroupSize[0]);
    // tfjs reshapes an x-only dispatch above the per-dimension limit into a square/cube
    this.dispatch = [groups, 1, 1];
    this.variableNames = p.inputs;
    this.uniforms = p.uniforms;
    this.source = p.source;
  }

  getUserCode(): string {
    return this.source;
  }
}

/**
 * The workgroup id as a uniform value (tfjs hands the builtins over in private variables, which
 * WGSL's uniformity analysis treats as varying, so a loop bounded by them could not contain a
 * barrier): `wid` after WORKGROUP_ID_LOAD. The load also makes the shader use `uniforms`, whose
 * binding tfjs always passes (an unused binding would be dropped from the pipeline's layout).
 */
export const WORKGROUP_ID_DECL = 'var<workgroup> pbqWorkgroupId: vec3<u32>;';
export const WORKGROUP_ID_LOAD = `
    _ = uniforms.outShape;
    if (localIndex == 0u) { pbqWorkgroupId = workgroupId; }
    let wid = workgroupUniformLoad(&pbqWorkgroupId);`;

/** pow2i(e): 2^e for an integer e in [-126, 127], built from its bits (exact; exp2 need not be). */
export const POW2_WGSL = `
  fn pow2i(e: i32) -> f32 { return bitcast<f32>(u32(e + 127) << 23u); }
`;

/**
 * quantize.ts's activation code in WGSL: code = clamp(floor(x · 2^-(E>>1) · 2^(A-1-E+(E>>1)) + 0.5),
 * -(2^A-1), 2^A-1). Both factors are powers of two and their products exact (no over/underflow
 * for the codes that matter), so only the +0.5 rounds, as in float32 on the CPU. Needs POW2_WGSL.
 */
export function activationCodeWGSL(bits: number): string {
  return `
  fn activationFactors(e: i32) -> vec2<f32> {
    let h = e >> 1u;
    return vec2<f32>(pow2i(-h), pow2i(${bits - 1} - e + h));
  }
  fn activationCode(x: f32, f: vec2<f32>) -> i32 {
    return clamp(i32(floor(x * f.x * f.y + 0.5)), ${-(2 ** bits - 1)}, ${2 ** bits - 1});
  }`;
}

/** The row exponent marker of a row from its max |x| bits and whether it held NaN/Inf. */
export const ROW_EXPONENT_WGSL = `
  fn rowExponent(maxBits: u32, nonFinite: bool) -> i32 {
    if (nonFinite) { return ${NAN_ROW}; }
    let e = i32(maxBits >> 23u) - 127;
    return select(e, ${ZERO_ROW}, e < ${MIN_ROW_EXPONENT});
  }
`;

/**
 * `fn activation(x: f32, index: i32) -> f32` of a fused activation with tfjs-backend-webgpu's
 * formulas (unary_op_util / binary_op_util). prelu reads its weights broadcast at the output
 * index (tfjs's getPreluActivationWeightsByOutputIndex); leakyrelu its slope from uniforms.alpha.
 */
export function activationWGSL(activation: backend_util.Activation): string {
  const body = (() => {
    switch (activation) {
      case 'linear': return 'return x;';
      case 'relu': return 'return select(x, 0.0, x < 0.0);';
      case 'relu6': return 'return clamp(x, 0.0, 6.0);';
      case 'elu': return 'if (x >= 0.0) { return x; } return exp(x) - 1.0;';
      case 'sigmoid': return 'return 1.0 / (1.0 + exp(-1.0 * x));';
      case 'leakyrelu': return 'if (x < 0.0) { return uniforms.alpha * x; } return x;';
      case 'prelu': return 'if (x < 0.0) { return getPreluActivationWeightsByOutputIndex(index) * x; } return x;';
    }
  })();
  return `fn activation(x: f32, index: i32) -> f32 { ${body} }`;
}

/** The program-defined uniform of leakyrelu (tfjs appends it to its Uniforms struct), and its value. */
export function activationUniforms(activation: backend_util.Activation, leakyreluAlpha = 0.2) {
  return activation === 'leakyrelu'
    ? { declaration: 'alpha : f32,', values: [{ type: 'float32', data: [leakyreluAlpha] }] }
    : { declaration: undefined, values: undefined };
}

/**
 * WGSL expression of the matrix index of output batch `ob` in an operand of `count` matrices: a
 * constant, the identity, or a lookup in the program input `BatchIndex` ([outBatch, 2]: a, b).
 */
export function batchIndexExpr(index: Int32Array, count: number, column: 0 | 1): string {
  if (count === 1) return '0';
  if (index.every((v, i) => v === i)) return 'ob';
  return `BatchIndex[ob * 2 + ${column}]`;
}

/** Whether either batch-index expression needs the BatchIndex input. */
export function needsBatchTable(aIndex: string, bIndex: string): boolean {
  return aIndex.includes('BatchIndex') || bIndex.includes('BatchIndex');
}
