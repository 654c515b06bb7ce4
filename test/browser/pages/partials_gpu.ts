/**
 * Test hooks of the WebGL products (they run in the test pages, not in the library): the
 * integer partial sums S_0..S_{t−1} and T of every output, from the planes product's integer core
 * (planes_product_gpu.ts) or from the sampler / narrow programs' 'partials' mode, for bit-exact
 * comparison with the CPU engine. Values are exact while |S| < 2^24.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGL } from '../../../src/backend_webgl';
import type { PbqConfig } from '../../../src/config';
import type { MatMulArgs } from '../../../kernels/shared/matmul_args';
import { planesProduct, samplerOperands } from '../../../kernels/webgl/BatchMatMul_impl';
import { NarrowAccumulatorProgram } from '../../../kernels/webgl/narrow_accumulator_gpu';
import { PlanesShape, planesCoreGLSL } from '../../../kernels/webgl/planes_product_gpu';
import { activationCodes, MatMulSetup, setupMatMul } from '../../../kernels/webgl/product_operands';
import {
  allocateTensorTexture, batchIndexUniforms, placeRows, RAW_HEADER, rawIndexExpr, rawResources, runRaw, Uniform,
} from '../../../kernels/webgl/raw_program';
import { SamplerProductProgram } from '../../../kernels/webgl/sampler_product_gpu';

/** The partials pass into a tfjs [outBatch, M, N, t+1] tensor: S_0..S_{t-1}, then T. */
function planesPartialsSource(s: PlanesShape, texWidth: number): string {
  const t = Math.min(s.weightBits, s.storedBits);
  const total = s.outBatch * s.m * s.n * (t + 1);
  return `${RAW_HEADER}
    ${batchIndexUniforms(s)}
    layout(location = 0) out vec4 outColor;
    ${planesCoreGLSL(s)}
    void main() {
      ivec2 px = ivec2(gl_FragCoord.xy);
      int fi = px.y * ${texWidth} + px.x;
      if (fi >= ${total}) { outColor = vec4(0.0); return; }
      int j = fi % ${t + 1};
      int rest = fi / ${t + 1};
      int n = rest % ${s.n};
      rest /= ${s.n};
      int m = rest % ${s.m};
      int ob = rest / ${s.m};
      int ai = ${s.aIndex};
      int bi = ${s.bIndex};
      int ra = ai * ${s.m} + m;
      int cg = bi * ${s.groups} + n / 4;
      float v;
      if (j == ${t}) {
        v = float(rowSum(ra));
      } else {
        ivec4 G[1];
        planeSums1(ra, cg, j, G);
        int lane = n % 4;
        v = float(lane == 0 ? G[0].x : lane == 1 ? G[0].y : lane == 2 ? G[0].z : G[0].w);
      }
      outColor = vec4(v, 0.0, 0.0, 0.0);
    }`;
}

/** The planes product's partial sums, or undefined when its textures do not fit. */
function planesPartials(backend: PbqBackendWebGL, args: MatMulArgs, s: MatMulSetup, temps: TensorInfo[]): TensorInfo | undefined {
  const p = planesProduct(s);
  const aPlace = placeRows(p.aRowLength, p.aRows, s.maxSize);
  const weights = aPlace && p.weightTextures();
  const textures = s.gpu.planes(s.maxSize);
  if (!aPlace || !weights || !textures) return undefined;
  const { codes } = activationCodes(backend, args, s, temps);
  const at = rawResources(backend).scratchTexture(p.aTexture, aPlace.width, aPlace.height);
  runRaw(backend, p.packSource(codes.texShape[1], aPlace), [{ name: 'Codes', texture: codes.texture }], at);
  const uniforms: Uniform[] = [];
  const { plan, weight: w } = s;
  const shape: PlanesShape = {
    outBatch: plan.outBatch, m: plan.m, k: plan.k, n: plan.n, storedBits: w.bits, weightBits: s.t,
    activationBits: s.activationBits, perChannelPlanes: w.channelBits !== undefined,
    aIndex: rawIndexExpr(plan.aIndex, plan.aBatch, 'aIdx', uniforms),
    bIndex: rawIndexExpr(plan.bIndex, plan.bBatch, 'bIdx', uniforms),
    words: w.words, groups: Math.ceil(plan.n / 4), aPlace, wPlace: textures.wPlace, mPlace: textures.mPlace,
    grid: { width: 1, height: 1 },
  };
  const out = allocateTensorTexture(backend, [plan.outBatch, plan.m, plan.n, s.t + 1], false);
  runRaw(backend, planesPartialsSource(shape, out.texShape[1]), [...weights, { name: 'At', texture: at.texture }],
    { texture: out.texture, width: out.texShape[1], height: out.texShape[0] }, uniforms);
  return out.info;
}

/**
 * Partial sums [outBatch, M, N, t+1] of a call (exact: planes product, or the sampler program
 * when webglProduct is 'sampler' or the planes cannot be placed); with a narrow accumulator,
 * [outBatch, M, N, 3] = [register, overflows, underflows].
 */
export function partialSumsWebGL(backend: PbqBackendWebGL, args: MatMulArgs, config: PbqConfig): TensorInfo {
  const s = setupMatMul(backend, args, config);
  const temps: TensorInfo[] = [];
  try {
    const acc = config.accumulator;
    if (acc.type === 'exact' && config.webglProduct !== 'sampler') {
      const out = planesPartials(backend, args, s, temps);
      if (out) return out;
    }
    const ops = samplerOperands(backend, args, s, temps);
    const program = acc.type === 'exact' ? new SamplerProductProgram(ops.shape, 'partials')
      : new NarrowAccumulatorProgram(ops.shape, acc, 'partials');
    return backend.compileAndRun(program, ops.inputs, 'float32');
  } finally {
    for (const temp of temps) backend.disposeIntermediateTensorInfo(temp);
  }
}
