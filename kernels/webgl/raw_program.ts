/**
 * Raw WebGL 2 passes beside tfjs-backend-webgl: own fragment shaders over own integer textures
 * (RGBA32UI, read with usampler2D + texelFetch, index math written by hand), drawn through the
 * backend's GPGPUContext (its vertex shader, quad and framebuffer). tfjs samplers cost index math
 * per fetch and carry at most 24 exact bits per float channel; an RGBA32UI texel carries 128 bits.
 *
 * A raw pass renders into an own texture (RGBA32UI or RGBA32F) or into the texture of a tfjs
 * tensor allocated for it (uploadToGPU on a tensor without values), so its result can feed tfjs
 * programs. Programs are compiled once per backend and source; they and the scratch textures of
 * the activations are the backend's RawResources, freed with it (PbqBackendWebGL.dispose).
 */
import type { GPGPUContext, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { webgl_util } from '@tensorflow/tfjs-backend-webgl';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGL } from '../../src/backend_webgl';

type RawProgram = WebGLProgram & { vao: WebGLVertexArrayObject };

/** Header of every raw fragment shader (the vertex shader's varying is declared, unused). */
export const RAW_HEADER = `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2D;
precision highp sampler2D;
in vec2 resultUV;
`;

/** An own texture with its size (texels) and bytes. */
export interface RawTexture {
  texture: WebGLTexture;
  width: number;
  height: number;
  bytes: number;
  dispose(): void;
}

function makeTexture(
  gl: WebGL2RenderingContext, width: number, height: number, internal: number, format: number, type: number,
  data: ArrayBufferView | null,
): WebGLTexture {
  const tex = gl.createTexture();
  if (!tex) throw new Error('pbq: could not create a texture');
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
  gl.texImage2D(gl.TEXTURE_2D, 0, internal, width, height, 0, format, type, data);
  gl.bindTexture(gl.TEXTURE_2D, null);
  return tex;
}

/** An RGBA32UI texture of width×height texels, from 4·width·height words (or uninitialized). */
export function uintTexture(gpgpu: GPGPUContext, width: number, height: number, data: Uint32Array | null): RawTexture {
  const gl = gpgpu.gl as WebGL2RenderingContext;
  const texture = makeTexture(gl, width, height, gl.RGBA32UI, gl.RGBA_INTEGER, gl.UNSIGNED_INT, data);
  return { texture, width, height, bytes: width * height * 16, dispose: () => gl.deleteTexture(texture) };
}

/** An RGBA32F texture (the float reference kernel's weights). */
export function floatTexture(gpgpu: GPGPUContext, width: number, height: number, data: Float32Array | null): RawTexture {
  const gl = gpgpu.gl as WebGL2RenderingContext;
  const texture = makeTexture(gl, width, height, gl.RGBA32F, gl.RGBA, gl.FLOAT, data);
  return { texture, width, height, bytes: width * height * 16, dispose: () => gl.deleteTexture(texture) };
}

/**
 * The GL objects the raw passes create for one backend: compiled programs (by source) and
 * scratch textures for activations (by kind and size, reused across calls: GL orders the writes
 * after earlier reads). Freed by PbqBackendWebGL.dispose().
 */
export class RawResources {
  private readonly programs = new Map<string, RawProgram>();
  private readonly scratch = new Map<string, RawTexture>();

  constructor(private readonly gpgpu: GPGPUContext) {}

  program(source: string): RawProgram {
    let p = this.programs.get(source);
    if (p === undefined) {
      const shader = webgl_util.createFragmentShader(this.gpgpu.gl, source);
      p = this.gpgpu.createProgram(shader) as RawProgram;
      this.gpgpu.buildVao(p);
      this.programs.set(source, p);
    }
    return p;
  }

  scratchTexture(kind: 'uint' | 'float', width: number, height: number): RawTexture {
    const key = `${kind}:${width}x${height}`;
    let tex = this.scratch.get(key);
    if (!tex) {
      tex = kind === 'uint' ? uintTexture(this.gpgpu, width, height, null) : floatTexture(this.gpgpu, width, height, null);
      this.scratch.set(key, tex);
    }
    return tex;
  }

  dispose(): void {
    for (const tex of this.scratch.values()) tex.dispose();
    this.scratch.clear();
    for (const p of this.programs.values()) this.gpgpu.deleteProgram(p);
    this.programs.clear();
  }
}

/** The raw-pass resources of a backend (made on first use). */
export function rawResources(backend: PbqBackendWebGL): RawResources {
  if (backend.kernelResources instanceof RawResources) return backend.kernelResources;
  const resources = new RawResources(backend.gpgpu);
  backend.kernelResources = resources;
  return resources;
}

export type Uniform = { name: string; type: 'int' | 'ivec4'; value: Int32Array | number };

/** Where a raw pass draws: a texture of width×height texels. */
export interface RawTarget { texture: WebGLTexture; width: number; height: number }

/** Draws `source` over the whole target, with `textures` bound to the named samplers. */
export function runRaw(
  backend: PbqBackendWebGL, source: string, textures: Array<{ name: string; texture: WebGLTexture }>,
  target: RawTarget, uniforms: Uniform[] = [],
): void {
  const gpgpu = backend.gpgpu;
  const gl = gpgpu.gl as WebGL2RenderingContext;
  const p = rawResources(backend).program(source);
  gpgpu.setOutputMatrixTexture(target.texture, target.height, target.width);
  gpgpu.setProgram(p);
  gpgpu.bindVertexArray(p.vao);
  textures.forEach((t, i) => {
    const loc = gl.getUniformLocation(p, t.name);
    if (loc !== null) gpgpu.setInputMatrixTexture(t.texture, loc, i);
  });
  for (const u of uniforms) {
    const loc = gl.getUniformLocation(p, u.name);
    if (loc === null) continue;
    if (u.type === 'int') gl.uniform1i(loc, u.value as number);
    else gl.uniform4iv(loc, u.value as Int32Array);
  }
  gpgpu.executeProgram();
}

/**
 * Allocates the texture of a tfjs tensor that a raw pass will write (unpacked: one float per
 * texel; packed: RGBA texels of 2×2 blocks). Returns the tensor and its texture's shape.
 */
export function allocateTensorTexture(
  backend: MathBackendWebGL, shape: number[], packed: boolean,
): { info: TensorInfo; texture: WebGLTexture; texShape: [number, number] } {
  const info = backend.makeTensorInfo(shape, 'float32');
  const texData = backend.texData.get(info.dataId);
  texData.isPacked = packed;
  backend.uploadToGPU(info.dataId);
  const tex = texData.texture as unknown as { texture: WebGLTexture };
  return { info, texture: tex.texture, texShape: texData.texShape as [number, number] };
}

/** The texture and texture shape of a tfjs tensor held unpacked on the GPU (uploads it if needed). */
export function tensorTexture(backend: MathBackendWebGL, info: TensorInfo): { texture: WebGLTexture; texShape: [number, number]; packed: boolean } {
  backend.uploadToGPU(info.dataId);
  const texData = backend.texData.get(info.dataId);
  const tex = texData.texture as unknown as { texture: WebGLTexture };
  return { texture: tex.texture, texShape: texData.texShape as [number, number], packed: !!texData.isPacked };
}

/** Largest texture side of this context. */
export function maxTextureSize(gpgpu: GPGPUContext): number {
  return (gpgpu.gl as WebGL2RenderingContext).getParameter((gpgpu.gl as WebGL2RenderingContext).MAX_TEXTURE_SIZE) as number;
}

/**
 * Placement of equal-length rows in a 2D texture: `perLine` rows side by side per texture line,
 * so a row never wraps and its texels are (x0 + j, y) with x0, y computed once per row.
 */
export interface RowPlacement { rowLength: number; rows: number; perLine: number; width: number; height: number }

export function placeRows(rowLength: number, rows: number, maxSize: number): RowPlacement | undefined {
  if (rowLength > maxSize) return undefined;
  const perLine = Math.max(1, Math.min(rows, Math.floor(maxSize / rowLength)));
  const height = Math.ceil(rows / perLine);
  if (height > maxSize) return undefined;
  return { rowLength, rows, perLine, width: perLine * rowLength, height };
}

/** GLSL `ivec2 name(int row)`: the texel of column 0 of a row under a placement. */
export function placementGLSL(name: string, p: RowPlacement): string {
  return `ivec2 ${name}(int row) { return ivec2((row % ${p.perLine}) * ${p.rowLength}, row / ${p.perLine}); }`;
}

/**
 * The 2D target of a pass with one fragment per (row, channel group): `count` = rows·groups
 * fragments laid out row-major, `width` per line. SwiftShader splits a draw across its threads
 * by screen area, so a 1-pixel-high target (a batch-1 product: one row of groups) runs on one
 * thread; a square-ish grid uses them all (measured: tools/bench/README.md).
 */
export interface FragmentGrid { width: number; height: number }

export function fragmentGrid(count: number, maxSize: number): FragmentGrid | undefined {
  const width = Math.min(maxSize, Math.max(1, Math.ceil(Math.sqrt(count))));
  const height = Math.ceil(count / width);
  return height > maxSize ? undefined : { width, height };
}

/** GLSL: the fragment's linear index in a grid of `width` per line (−1 past `count`). */
export function gridIndexGLSL(grid: FragmentGrid, count: number): string {
  return `int gridIndex() {
      ivec2 px = ivec2(gl_FragCoord.xy);
      int i = px.y * ${grid.width} + px.x;
      return i < ${count} ? i : -1;
    }`;
}

/**
 * GLSL `ivec3 productCoords()` of a product pass on its grid: fragment i is channel group
 * g = i % groups of output row i / groups = ob·M + m; returns (ob, m, g), g = −1 past the end.
 */
export function productCoordsGLSL(s: { outBatch: number; m: number; groups: number; grid: FragmentGrid }): string {
  return `${gridIndexGLSL(s.grid, s.outBatch * s.m * s.groups)}
    ivec3 productCoords() {
      int i = gridIndex();
      if (i < 0) return ivec3(0, 0, -1);
      int row = i / ${s.groups};
      int ob = row / ${s.m};
      return ivec3(ob, row - ob * ${s.m}, i - row * ${s.groups});
    }`;
}

/** The start of a product's main(): ob, m, g of the fragment (writes 0 and returns past the end). */
export const PRODUCT_COORDS = `ivec3 pc = productCoords();
      if (pc.z < 0) { outColor = vec4(0.0); return; }
      int ob = pc.x;
      int m = pc.y;
      int g = pc.z;`;

/**
 * Batch index of output batch `ob` into an operand of `count` matrices, as a raw-pass GLSL
 * expression: a constant, the identity, or a lookup in a uniform table (pushed on `uniforms`).
 */
export function rawIndexExpr(index: Int32Array, count: number, name: string, uniforms: Uniform[]): string {
  if (count === 1) return '0';
  if (index.every((v, i) => v === i)) return 'ob';
  const table = new Int32Array(Math.ceil(index.length / 4) * 4);
  table.set(index);
  uniforms.push({ name, type: 'ivec4', value: table });
  return `${name}[ob / 4][ob % 4]`;
}

/** Largest output batch a raw pass serves (ivec4 uniforms per table; WebGL 2 guarantees 224 vec4 in total). */
export const MAX_INDEX_TABLE = 128;

/** Declarations of the batch index tables that rawIndexExpr put in aIndex/bIndex. */
export function batchIndexUniforms(s: { outBatch: number; aIndex: string; bIndex: string }): string {
  const size = Math.ceil(s.outBatch / 4);
  return [s.aIndex.includes('aIdx') ? `uniform ivec4 aIdx[${size}];` : '', s.bIndex.includes('bIdx') ? `uniform ivec4 bIdx[${size}];` : ''].join('\n');
}
