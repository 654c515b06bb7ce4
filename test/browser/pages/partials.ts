/**
 * The integer partial sums S_0..S_{t−1} and T of every output of a call, on the GPU and by the
 * CPU engine, side by side in the test page (bit-exact comparison, values exact while |S| < 2^24).
 * GPU: the planes product's integer core (a test pass around planesCoreGLSL) or the sampler /
 * narrow programs' 'partials' mode; CPU: src/engine.ts on the same quantized operands. With a
 * narrow accumulator both give [register, overflows, underflows] per output.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGL } from '../../../src/backend_webgl';
import type { AccumulatorConfig, PbqConfig } from '../../../src/config';
import { accumulate, dotProductBound } from '../../../src/accumulator';
import { buildByteTables, decodeCodes, partialSums, wordPartials } from '../../../src/engine';
import { channelPlanes, quantizeWeights } from '../../../src/quantize';
import { quantizeAOperand } from '../../../kernels/cpu/BatchMatMul_impl';
import type { MatMulArgs } from '../../../kernels/shared/matmul_args';
import { planMatMul } from '../../../kernels/shared/matmul_plan';
import { planesProduct, samplerOperands } from '../../../kernels/webgl/BatchMatMul_impl';
import { runShapeFree } from '../../../kernels/webgl/glsl_common';
import { NarrowAccumulatorProgram } from '../../../kernels/webgl/narrow_accumulator_gpu';
import { PlanesParams, planesCoreGLSL } from '../../../kernels/webgl/planes_product_gpu';
import { MatMulSetup, packInputs, setupMatMul } from '../../../kernels/webgl/product_operands';
import {
  batchIndexDecl, batchIndexExpr, channelGroups, batchIndexMode, batchIndexTable, batchIndexUniforms, placementShape, placeRows,
} from '../../../kernels/webgl/raw_layout';
import { allocateTensorTexture, RawProgram, RAW_HEADER, rawResources, RawUniformValues, runRaw } from '../../../kernels/webgl/raw_program';
import { SamplerProductProgram } from '../../../kernels/webgl/sampler_product_gpu';

/** Fragment i of an unpacked [outBatch, M, N, t+1] tensor → S_j (j < t) or T (j = t) of its output. */
class PlanesPartialsPass extends RawProgram<PlanesParams> {
  constructor(p: PlanesParams) {
    super('PlanesPartials', p, ['Wt', 'Wm', 'At'], [{ name: 'shapeM', type: 'int' }, { name: 'shapeN', type: 'int' },
      { name: 'total', type: 'int' }, { name: 'texWidth', type: 'int' }, ...batchIndexUniforms(p.aIndex, 'aIdx'),
      ...batchIndexUniforms(p.bIndex, 'bIdx')]);
  }

  source(): string {
    const s = this.p;
    const t = Math.min(s.weightBits, s.storedBits);
    return `${RAW_HEADER}
    ${batchIndexDecl(s.aIndex, 'aIdx')}
    ${batchIndexDecl(s.bIndex, 'bIdx')}
    uniform int shapeM;
    uniform int shapeN;
    uniform int total;
    uniform int texWidth;
    layout(location = 0) out vec4 outColor;
    ${planesCoreGLSL(s)}
    void main() {
      ivec2 px = ivec2(gl_FragCoord.xy);
      int fi = px.y * texWidth + px.x;
      if (fi >= total) { outColor = vec4(0.0); return; }
      int j = fi % ${t + 1};
      int rest = fi / ${t + 1};
      int n = rest % shapeN;
      rest /= shapeN;
      int m = rest % shapeM;
      int ob = rest / shapeM;
      int ai = ${batchIndexExpr(s.aIndex, 'aIdx')};
      int bi = ${batchIndexExpr(s.bIndex, 'bIdx')};
      int ra = ai * shapeM + m;
      int cg = bi * ${s.groups} + n / 4;
      int lane = n % 4;
      float v;
      if (j == ${t}) {
        v = float(rowSum(ra));
      } else {
        ivec4 G[1];
        planeSums1(ra, cg, j, G);
        v = float(lane == 0 ? G[0].x : lane == 1 ? G[0].y : lane == 2 ? G[0].z : G[0].w);
      }
      outColor = vec4(v, 0.0, 0.0, 0.0);
    }`;
  }
}

/** The planes product's partial sums and where its pack pass read the codes, or undefined when its textures do not fit. */
function planesPartials(backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, temps: TensorInfo[]) {
  const { plan, weight: w } = s;
  const p = planesProduct(s);
  const aPlace = placeRows(p.aRowLength, p.aRows, s.maxSize);
  const weights = aPlace && p.weightTextures();
  const textures = s.gpu.planes(s.maxSize);
  if (!aPlace || !weights || !textures) return undefined;
  // the pack pass and its inputs as the product runs them (from A itself or from the codes)
  const acts = packInputs(backend, args, s, temps);
  const at = rawResources(backend).scratchTexture(p.aTexture, aPlace.width, aPlace.height);
  runRaw(backend, p.packPass(aPlace, acts.from), acts.textures, at, { rows: aPlace.rows, ...acts.values });
  const aIndex = batchIndexMode(plan.aIndex, plan.aBatch);
  const bIndex = batchIndexMode(plan.bIndex, plan.bBatch);
  const pass = new PlanesPartialsPass({
    activationBits: s.activationBits, weightBits: s.t, storedBits: w.bits, perChannelPlanes: w.channelBits !== undefined,
    groups: channelGroups(plan.n), singleRow: plan.outBatch * plan.m === 1, aPlace: placementShape(aPlace), wPlace: placementShape(textures.wPlace), aIndex, bIndex,
    words: w.words, mPlace: placementShape(textures.mPlace),
  });
  const out = allocateTensorTexture(backend, [plan.outBatch, plan.m, plan.n, s.t + 1], false);
  const values: RawUniformValues = {
    shapeM: plan.m, shapeN: plan.n, total: plan.outBatch * plan.m * plan.n * (s.t + 1), texWidth: out.texShape[1],
  };
  const aTable = batchIndexTable(plan.aIndex, aIndex);
  const bTable = batchIndexTable(plan.bIndex, bIndex);
  if (aTable) values.aIdx = aTable;
  if (bTable) values.bIdx = bTable;
  runRaw(backend, pass, [...weights, at.texture], { texture: out.texture, width: out.texShape[1], height: out.texShape[0] }, values);
  return { info: out.info, from: acts.from };
}

/**
 * GPU partial sums [outBatch, M, N, t+1] of a call (planes core, or the sampler program when
 * webglProduct is 'sampler' or the planes cannot be placed); with a narrow accumulator,
 * [outBatch, M, N, 3] = [register, overflows, underflows]. Returns the values, which program ran
 * and, for the planes, where its pack pass read the codes (activation_codes_gpu.ts CodesSource).
 */
export function gpuPartials(
  backend: PbqBackendWebGL, args: MatMulArgs, config: PbqConfig,
): { values: Float32Array; program: string; from?: string } {
  const s = setupMatMul(backend, args, config);
  const temps: TensorInfo[] = [];
  try {
    const acc = config.accumulator;
    let out: TensorInfo | undefined;
    let program = 'planes';
    let from: string | undefined;
    if (acc.type === 'exact' && config.webglProduct !== 'sampler') {
      const planes = planesPartials(backend, args, s, temps);
      out = planes?.info;
      from = planes?.from;
    }
    if (!out) {
      const ops = samplerOperands(backend, args, s, temps);
      program = acc.type === 'exact' ? 'sampler' : 'narrow';
      out = runShapeFree(backend, acc.type === 'exact' ? new SamplerProductProgram(ops.shape, ops.dims, 'partials')
        : new NarrowAccumulatorProgram(ops.shape, ops.dims, acc, 'partials'), ops.inputs);
    }
    temps.push(out);
    return { values: backend.readSync(out.dataId) as Float32Array, program, from };
  } finally {
    for (const temp of temps) backend.disposeIntermediateTensorInfo(temp);
  }
}

/** A matmul's operands as the CPU engine quantizes them. */
function quantizedOperands(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean,
  weightBits: number, activationBits: number) {
  const plan = planMatMul(aShape, bShape, tA, tB);
  const acts = quantizeAOperand(a, plan, tA, activationBits);
  const w = quantizeWeights(b, { batch: plan.bBatch, k: plan.k, n: plan.n, transposed: tB }, weightBits);
  return { plan, acts, w };
}

/** CPU partial sums [outBatch, M, N, t+1] (S_0..S_{t-1}, T) of the same call. */
export function cpuPartials(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean, tB: boolean,
  weightBits: number, activationBits: number): number[] {
  const { plan, acts, w } = quantizedOperands(a, aShape, b, bShape, tA, tB, weightBits, activationBits);
  const out: number[] = [];
  for (let ob = 0; ob < plan.outBatch; ob++) {
    for (let m = 0; m < plan.m; m++) {
      const row = plan.aIndex[ob] * plan.m + m;
      for (let n = 0; n < plan.n; n++) {
        const t = channelPlanes(w, plan.bIndex[ob] * plan.n + n, weightBits);
        out.push(...partialSums(acts, row, w, plan.bIndex[ob], n, t), acts.codeSums[row]);
      }
    }
  }
  return out;
}

/** CPU [register, overflows, underflows] per output of a narrow-accumulator call. */
export function cpuAccumulatorPartials(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], tA: boolean,
  tB: boolean, weightBits: number, activationBits: number, acc: Exclude<AccumulatorConfig, { type: 'exact' }>): number[] {
  const { plan, acts, w } = quantizedOperands(a, aShape, b, bShape, tA, tB, weightBits, activationBits);
  const codes = decodeCodes(acts);
  const lut = new Float64Array(w.words * 1024);
  const wordSums = new Float64Array(w.words);
  const partials = new Float64Array(w.words);
  const out: number[] = [];
  for (let ob = 0; ob < plan.outBatch; ob++) {
    for (let m = 0; m < plan.m; m++) {
      const row = plan.aIndex[ob] * plan.m + m;
      buildByteTables(acts, row, codes, lut);
      wordSums.fill(0);
      for (let k = 0; k < plan.k; k++) wordSums[k >>> 5] += codes[row * plan.k + k];
      for (let n = 0; n < plan.n; n++) {
        const ch = plan.bIndex[ob] * plan.n + n;
        const t = channelPlanes(w, ch, weightBits);
        wordPartials(w, ch, t, lut, wordSums, partials);
        const events = new Int32Array(2);
        const { value } = accumulate(acc, partials, dotProductBound(plan.k, t, activationBits), events);
        out.push(value, events[0], events[1]);
      }
    }
  }
  return out;
}
