/**
 * Raw WebGL 2 passes beside tfjs-backend-webgl: own fragment shaders over own integer textures
 * (RGBA32UI, read with usampler2D + texelFetch, index math written by hand), drawn through the
 * backend's GPGPUContext (its vertex shader, quad and framebuffer). tfjs samplers cost index math
 * per fetch and carry at most 24 exact bits per float channel; an RGBA32UI texel carries 128 bits.
 *
 * A raw pass is a program class (RawPass) like tfjs's GPGPUProgram: a name, an explicit cache
 * key built from the parameters its source depends on (what a weight fixes: K, N, planes, bits),
 * its samplers and its uniforms (what varies per call: batch, M, the fragment grid). Its binary
 * (program, VAO, uniform locations looked up once) is compiled on the first draw with a new key
 * and kept in the backend's RawResources: an LRU of RAW_PROGRAM_CACHE_SIZE programs (evicted
 * programs are deleted), with the scratch textures of the activations (LRU of
 * SCRATCH_TEXTURE_CACHE_SIZE), all freed with the backend (PbqBackendWebGL.dispose).
 *
 * Draws are visible to tf.time() / tf.profile() like tfjs's own programs (the backend's
 * activeTimers), and fail with a clear error once the WebGL context is lost.
 */
import type { GPGPUContext, MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { webgl_util } from '@tensorflow/tfjs-backend-webgl';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGL } from '../../src/backend_webgl';

/** Header of every raw fragment shader (the vertex shader's varying is declared, unused). */
export const RAW_HEADER = `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2D;
precision highp sampler2D;
in vec2 resultUV;
`;

/** A uniform a raw pass sets per draw: an int, or an ivec4 (or ivec4 array: the values are 4·length ints). */
export interface RawUniform { name: string; type: 'int' | 'ivec4' }

/** The values of a draw's uniforms, by name. */
export type RawUniformValues = Record<string, number | Int32Array>;

/** A raw pass program (the raw twin of tfjs's GPGPUProgram). */
export interface RawPass {
  /** Program name, as tf.profile() / tf.time() report it. */
  readonly name: string;
  /** Cache key: equal keys mean equal sources (built from every parameter the source reads). */
  readonly key: string;
  /** Sampler uniforms, bound to texture units in this order (runRaw's `inputs`). */
  readonly samplers: readonly string[];
  /** Uniforms set on every draw. */
  readonly uniforms: readonly RawUniform[];
  /** The fragment shader; built only when the key is not in the cache. */
  source(): string;
}

/** The cache key of a pass: its name and the JSON of the parameters its source depends on. */
export function rawKey(name: string, params: object): string {
  return `${name}:${JSON.stringify(params)}`;
}

/**
 * A raw pass whose source is a function of its parameters `p` alone (what a weight and the bit
 * settings fix), so `key` (name + p) identifies the source; what varies per call is in `uniforms`.
 */
export abstract class RawProgram<P extends object> implements RawPass {
  readonly key: string;

  constructor(readonly name: string, readonly p: P, readonly samplers: readonly string[], readonly uniforms: readonly RawUniform[]) {
    this.key = rawKey(name, p);
  }

  abstract source(): string;
}

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

/** A texture of 16-byte texels, counted in the backend's rawTextureBytes (tf.memory().numBytesInGPU) until disposed. */
function ownTexture(backend: PbqBackendWebGL, width: number, height: number, make: (gl: WebGL2RenderingContext) => WebGLTexture): RawTexture {
  const gl = backend.gpgpu.gl as WebGL2RenderingContext;
  const texture = make(gl);
  const bytes = width * height * 16;
  backend.rawTextureBytes += bytes;
  let disposed = false;
  return {
    texture, width, height, bytes,
    dispose: () => {
      if (disposed) return;
      disposed = true;
      gl.deleteTexture(texture);
      backend.rawTextureBytes -= bytes;
    },
  };
}

/** An RGBA32UI texture of width×height texels, from 4·width·height words (or uninitialized). */
export function uintTexture(backend: PbqBackendWebGL, width: number, height: number, data: Uint32Array | null): RawTexture {
  return ownTexture(backend, width, height, (gl) => makeTexture(gl, width, height, gl.RGBA32UI, gl.RGBA_INTEGER, gl.UNSIGNED_INT, data));
}

/** An RGBA32F texture (the float reference kernel's weights). */
export function floatTexture(backend: PbqBackendWebGL, width: number, height: number, data: Float32Array | null): RawTexture {
  return ownTexture(backend, width, height, (gl) => makeTexture(gl, width, height, gl.RGBA32F, gl.RGBA, gl.FLOAT, data));
}

/** A string-keyed cache that keeps the `capacity` most recently used values and frees the others. */
export class LruCache<V> {
  private readonly entries = new Map<string, V>();
  /** Values evicted since creation. */
  evictions = 0;

  /** `minCapacity`: the least bound that keeps working (values used together must fit). */
  constructor(private capacityValue: number, private readonly free: (value: V) => void, private readonly minCapacity = 1) {}

  get capacity(): number {
    return this.capacityValue;
  }

  /** Changes the bound (≥ minCapacity), evicting the oldest values past it. */
  set capacity(n: number) {
    if (!Number.isInteger(n) || n < this.minCapacity) {
      throw new Error(`pbq: this cache's capacity must be an integer ≥ ${this.minCapacity}, got ${n}`);
    }
    this.capacityValue = n;
    this.trim();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value of `key` (made by `make` when absent), now the most recently used. */
  get(key: string, make: () => V): V {
    let value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
    } else {
      value = make();
    }
    this.entries.set(key, value);
    this.trim();
    return value;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  values(): IterableIterator<V> {
    return this.entries.values();
  }

  clear(): void {
    for (const value of this.entries.values()) this.free(value);
    this.entries.clear();
  }

  private trim(): void {
    for (const [key, value] of this.entries) {
      if (this.entries.size <= this.capacityValue) return;
      this.entries.delete(key);
      this.free(value);
      this.evictions++;
    }
  }
}

/** A compiled raw pass: program (with its VAO) and the uniform locations, looked up once. */
export interface RawBinary {
  readonly name: string;
  readonly program: WebGLProgram & { vao: WebGLVertexArrayObject };
  readonly samplerLocations: ReadonlyArray<WebGLUniformLocation | null>;
  readonly uniformLocations: ReadonlyArray<WebGLUniformLocation | null>;
}

/** Raw programs a backend keeps compiled (a model needs about two per distinct weight shape and bit setting). */
export const RAW_PROGRAM_CACHE_SIZE = 64;
/** Activation scratch textures a backend keeps (by kind and size). */
export const SCRATCH_TEXTURE_CACHE_SIZE = 8;

/**
 * The GL objects the raw passes create for one backend: compiled programs (by key) and scratch
 * textures for activations (by kind and size, reused across calls: GL orders the writes after
 * earlier reads). Both are bounded LRUs; evicted objects are deleted. Freed by
 * PbqBackendWebGL.dispose().
 */
export class RawResources {
  readonly programs: LruCache<RawBinary>;
  readonly scratch: LruCache<RawTexture>;
  /** Programs compiled since creation (a recompiled evicted program counts again). */
  compiled = 0;

  private readonly gpgpu: GPGPUContext;

  constructor(private readonly backend: PbqBackendWebGL) {
    this.gpgpu = backend.gpgpu;
    this.programs = new LruCache<RawBinary>(RAW_PROGRAM_CACHE_SIZE, (b) => this.gpgpu.deleteProgram(b.program));
    // a product uses two scratch textures at once (activations, d)
    this.scratch = new LruCache<RawTexture>(SCRATCH_TEXTURE_CACHE_SIZE, (t) => t.dispose(), 2);
  }

  binary(pass: RawPass): RawBinary {
    return this.programs.get(pass.key, () => this.compile(pass));
  }

  private compile(pass: RawPass): RawBinary {
    const gl = this.gpgpu.gl as WebGL2RenderingContext;
    const shader = webgl_util.createFragmentShader(gl, pass.source());
    const program = this.gpgpu.createProgram(shader) as RawBinary['program'];
    gl.deleteShader(shader); // freed with the program
    this.gpgpu.buildVao(program);
    this.compiled++;
    return {
      name: pass.name,
      program,
      samplerLocations: pass.samplers.map((name) => gl.getUniformLocation(program, name)),
      uniformLocations: pass.uniforms.map((u) => gl.getUniformLocation(program, u.name)),
    };
  }

  /** Bytes of the scratch textures kept (part of the backend's rawTextureBytes). */
  get scratchBytes(): number {
    let bytes = 0;
    for (const t of this.scratch.values()) bytes += t.bytes;
    return bytes;
  }

  /** A scratch texture: 'uint' RGBA32UI, 'float' RGBA32F (activations), 'product' RGBA32F (the products' d). */
  scratchTexture(kind: 'uint' | 'float' | 'product', width: number, height: number): RawTexture {
    return this.scratch.get(`${kind}:${width}x${height}`, () => (kind === 'uint'
      ? uintTexture(this.backend, width, height, null) : floatTexture(this.backend, width, height, null)));
  }

  dispose(): void {
    this.scratch.clear();
    this.programs.clear();
  }
}

/** The raw-pass resources of a backend (made on first use). */
export function rawResources(backend: PbqBackendWebGL): RawResources {
  if (backend.kernelResources instanceof RawResources) return backend.kernelResources;
  const resources = new RawResources(backend);
  backend.kernelResources = resources;
  return resources;
}

/**
 * The timer hooks of tfjs-backend-webgl 4.22 (private in its typings): while tf.time() or
 * tf.profile() runs, `activeTimers` collects one {name, query} per program.
 */
interface ProgramTimers {
  activeTimers?: Array<{ name: string; query: Promise<number> }> | null;
  startTimer(): unknown;
  endTimer(query: unknown): unknown;
  getQueryTime(query: unknown): Promise<number>;
}

/** Runs `draw` timed as program `name` when the backend's timers are on (as runWebGLProgram does). */
function timed(backend: MathBackendWebGL, name: string, draw: () => void): void {
  const timers = backend as unknown as ProgramTimers;
  if (timers.activeTimers == null) {
    draw();
    return;
  }
  let query = timers.startTimer();
  draw();
  query = timers.endTimer(query);
  timers.activeTimers.push({ name, query: timers.getQueryTime(query) });
}

/** Where a raw pass draws: a texture of width×height texels. */
export interface RawTarget { texture: WebGLTexture; width: number; height: number }

/** Draws `pass` over the whole target, `inputs` bound to its samplers in order, with its uniforms' values. */
export function runRaw(
  backend: PbqBackendWebGL, pass: RawPass, inputs: readonly WebGLTexture[], target: RawTarget, values: RawUniformValues = {},
): void {
  backend.assertContext();
  if (inputs.length !== pass.samplers.length) {
    throw new Error(`pbq: raw pass ${pass.name} takes ${pass.samplers.length} textures (${pass.samplers.join(', ')}), got ${inputs.length}`);
  }
  for (const u of pass.uniforms) {
    if (values[u.name] === undefined) throw new Error(`pbq: raw pass ${pass.name} needs a value for uniform ${u.name}`);
  }
  const binary = rawResources(backend).binary(pass);
  const gpgpu = backend.gpgpu;
  const gl = gpgpu.gl as WebGL2RenderingContext;
  timed(backend, pass.name, () => {
    gpgpu.setOutputMatrixTexture(target.texture, target.height, target.width);
    gpgpu.setProgram(binary.program);
    gpgpu.bindVertexArray(binary.program.vao);
    inputs.forEach((texture, i) => {
      const loc = binary.samplerLocations[i];
      if (loc !== null) gpgpu.setInputMatrixTexture(texture, loc, i);
    });
    pass.uniforms.forEach((u, i) => {
      const value = values[u.name];
      const loc = binary.uniformLocations[i];
      if (loc === null) return; // optimized out of this shader
      if (u.type === 'int') gl.uniform1i(loc, value as number);
      else gl.uniform4iv(loc, value as Int32Array);
    });
    gpgpu.executeProgram();
  });
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
