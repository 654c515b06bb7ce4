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

/** A program's own uniforms: i32 sizes by name (WGSL reads `uniforms.<name>`), and an optional f32 `alpha`. */
export interface ProgramUniforms {
  ints: Record<string, number>;
  alpha?: number;
}

/** The tfjs uniform declaration and values of ProgramUniforms (same order: tfjs packs them as declared). */
function uniformParts(u: ProgramUniforms): { declaration: string; data: Array<{ type: string; data: number[] }> } {
  const names = Object.keys(u.ints);
  const data = names.map((name) => ({ type: 'int32', data: [u.ints[name]] }));
  let declaration = names.map((name) => `${name} : i32,`).join(' ');
  if (u.alpha !== undefined) {
    declaration += ' alpha : f32,';
    data.push({ type: 'float32', data: [u.alpha] });
  }
  return { declaration, data };
}

/**
 * A tfjs-backend-webgpu program whose WGSL is written whole by pbq: tfjs adds its header (the
 * input arrays `array<i32|f32>` named by variableNames, the output `result`, shape uniforms) and
 * calls `main()`; the code reads `localId` and `localIndex` (tfjs's private copies of the
 * builtins) and `wid` (WORKGROUP_ID_LOAD). Sizes travel as uniforms, so one pipeline serves every
 * shape; what is baked into the source (bit widths, tiles, layouts) is named by `shaderKey`.
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
  /** Values of the program's own uniforms (the last argument of runWebGPUProgram). */
  readonly uniformData: Array<{ type: string; data: number[] }>;
  private readonly source: string;

  constructor(p: {
    name: string; key: string; outputShape: number[]; inputs: string[]; inputComponents?: number[]; outputComponent?: number;
    workgroupSize: number; dispatch: [number, number, number]; source: string; uniforms: ProgramUniforms;
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
    const u = uniformParts(p.uniforms);
    this.uniforms = u.declaration;
    this.uniformData = u.data;
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
 * tfjs's getXByOutputIndex broadcasting helpers apply; `uniforms.size` is the element count).
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
  readonly uniformData: Array<{ type: string; data: number[] }>;
  private readonly source: string;

  /** `invocations`: when not one per output element (the code guards with its own uniform). */
  constructor(p: { name: string; key: string; outputShape: number[]; inputs: string[]; source: string; uniforms: ProgramUniforms; invocations?: number }) {
    this.outputShape = p.outputShape;
    this.shaderKey = `pbq_${p.name}_${p.key}`;
    this.dispatchLayout = { x: p.outputShape.map((_, i) => i) };
    const size = p.invocations ?? p.outputShape.reduce((a, b) => a * b, 1);
    // tfjs reshapes an x-only dispatch above the per-dimension limit into a square/cube
    this.dispatch = [Math.ceil(size / this.workgroupSize[0]), 1, 1];
    this.variableNames = p.inputs;
    const u = uniformParts(p.uniforms);
    this.uniforms = u.declaration || undefined;
    this.uniformData = u.data;
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
 * -(2^A-1), 2^A-1), A = `bits` (a WGSL expression: a constant or a uniform). Both factors are
 * powers of two and their products exact (no over/underflow for the codes that matter), so only
 * the +0.5 rounds, as in float32 on the CPU. Needs POW2_WGSL.
 */
export function activationCodeWGSL(bits: string): string {
  return `
  fn activationFactors(e: i32) -> vec2<f32> {
    let h = e >> 1u;
    return vec2<f32>(pow2i(-h), pow2i(${bits} - 1 - e + h));
  }
  fn activationCode(x: f32, f: vec2<f32>) -> i32 {
    let top = (1 << u32(${bits})) - 1;
    return clamp(i32(floor(x * f.x * f.y + 0.5)), -top, top);
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

/**
 * The matrix of A and of B that output batch `ob` multiplies: every product and epilogue reads
 * them from the input `BatchIndex` ([outBatch, 2], kernels/shared/matmul_plan.ts aIndex/bIndex),
 * one table for every broadcast pattern (no pipeline per pattern).
 */
export const BATCH_INDEX_WGSL = `
    let ai = BatchIndex[ob * 2];
    let bi = BatchIndex[ob * 2 + 1];`;
