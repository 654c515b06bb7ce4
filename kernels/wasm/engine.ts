/**
 * The WebAssembly SIMD engine: exact pbq products (src/quantize.ts semantics, the integers d of
 * src/engine.ts) computed by the AssemblyScript kernels in kernels/wasm/simd/.
 *
 *   const engine = await loadWasmEngine();                // or loadWasmEngineSync() in Node
 *   const packed = engine.packWeight(quantizedWeight, 4); // once per weight and weight width
 *   const { values, integers } = engine.matMul(x, { rows: M, k: K, rowStride: K, colStride: 1 },
 *     packed, 0, 8, { integers: true });
 *
 * Weights stay bit planes (the cache, the stored format); `packWeight` re-packs them per run
 * width into signed codes (int4 for t ≤ 4, int8 for t ≤ 8, int16 above), one packing per t.
 * Activations are quantized per row inside the module. Memory: the packed weights, the input and
 * output of a call, its int16 codes (half the input's size) and per-row/per-output sums; the
 * only working buffer is the unpacked-weight scratch of the batched product, SCRATCH_BLOCKS
 * blocks whatever K is. Per-call buffers are kept and reused.
 */
import { channelPlanes, checkBits, PbqQuantizationError, QuantizedWeight } from '../../src/quantize';
import { Heap, OwnHeap } from './heap';
import {
  activationDigits, BLOCK, blockBytes, checkExactInFloat64, chunkBlocks, CODE_BLOCK_BYTES, GROUP, roundUp,
  WeightFormat, weightFormat,
} from './plan';

/** The built module (npm run build:wasm), next to this file in kernels/wasm/build/. */
export const WASM_FILE = 'pbq_simd.wasm';
/** Blocks of unpacked weights the batched product keeps in scratch (GROUP · 64 bytes each). */
export const SCRATCH_BLOCKS = 32;

/** The module's exports (kernels/wasm/simd/index.ts). Pointers are byte addresses. */
interface KernelExports {
  quantizeRows(src: number, rows: number, k: number, rowStride: number, colStride: number, bits: number,
    digits: number, codes: number, kp: number, meta: number): void;
  packWeights(planes: number, channels: number, planeStride: number, words: number, planeCounts: number,
    format: number, dst: number): void;
  gemv(format: number, codes: number, blocks: number, w: number, groups: number, chunk: number, sums: number): void;
  gemm(format: number, codes: number, rows: number, blocks: number, w: number, groups: number, chunk: number,
    scratch: number, sums: number): void;
  finish(sums: number, np: number, rows: number, channels: number, digits: number, meta: number, factors: number,
    out: number, ints: number): void;
}

/** Rows of an A operand in memory: element (r, k) at offset + r·rowStride + k·colStride (floats). */
export interface ActivationLayout {
  rows: number;
  k: number;
  offset?: number;
  rowStride: number;
  colStride: number;
}

/** A weight's codes for one run width, in the engine's memory. Free with dispose(). */
export class PackedWeight {
  private live = true;

  constructor(
    private readonly heap: Heap,
    readonly format: WeightFormat,
    /** Largest plane count t of any channel (what the format and the exactness bounds use). */
    readonly planes: number,
    readonly batch: number,
    readonly k: number,
    readonly n: number,
    /** Address of [batch][group][block][channel][bytes] codes. */
    readonly ptr: number,
    /** Address of the float64 factors m_n 2^-t_n, [batch][groups · GROUP]. */
    readonly factorsPtr: number,
  ) {}

  get blocks(): number {
    return Math.ceil(this.k / BLOCK);
  }

  get groups(): number {
    return Math.ceil(this.n / GROUP);
  }

  /** Bytes of the codes of one weight batch. */
  get batchBytes(): number {
    return this.groups * this.blocks * GROUP * blockBytes(this.format);
  }

  get disposed(): boolean {
    return !this.live;
  }

  dispose(): void {
    if (!this.live) return;
    this.live = false;
    this.heap.free(this.ptr);
    this.heap.free(this.factorsPtr);
  }
}

export interface MatMulResult {
  /** y, rows × N, row major. */
  values: Float32Array;
  /** The exact integers d, rows × N (when asked for). */
  integers?: Float64Array;
}

/** Where the module's outputs go in memory (matMulAt): 0 for `integers` means none. */
export interface MatMulTargets {
  values: number;
  integers?: number;
}

export class WasmEngine {
  private readonly buffers = new Map<string, { ptr: number; bytes: number }>();

  constructor(private readonly kernels: KernelExports, readonly heap: Heap) {}

  /** Packs the first min(t_c, weightBits) planes of every channel of `w` into codes. */
  packWeight(w: QuantizedWeight, weightBits: number): PackedWeight {
    checkBits('weightBits', weightBits);
    const { batch, n: N, words, bits } = w;
    const counts = new Uint8Array(batch * N);
    let planes = 1;
    for (let c = 0; c < counts.length; c++) {
      counts[c] = channelPlanes(w, c, weightBits);
      planes = Math.max(planes, counts[c]);
    }
    const format = weightFormat(planes);
    const groups = Math.ceil(N / GROUP);
    const np = groups * GROUP;
    const batchBytes = groups * words * GROUP * blockBytes(format);
    const ptr = this.heap.malloc(batch * batchBytes);
    const factorsPtr = this.heap.malloc(batch * np * 8);
    const planesPtr = this.heap.malloc(N * planes * words * 4);
    const countsPtr = this.heap.malloc(np);
    try {
      const memory = this.heap.memory.buffer;
      const factors = new Float64Array(memory, factorsPtr, batch * np);
      factors.fill(0);
      for (let c = 0; c < counts.length; c++) {
        factors[Math.floor(c / N) * np + (c % N)] = w.ranges[c] * 2 ** -counts[c];
      }
      const planesView = new Uint32Array(memory, planesPtr, N * planes * words);
      const countsView = new Uint8Array(memory, countsPtr, np);
      for (let b = 0; b < batch; b++) {
        // only the planes a channel uses are copied: [channel][planes][words]
        for (let n = 0; n < N; n++) {
          const src = (b * N + n) * bits * words;
          planesView.set(w.planes.subarray(src, src + planes * words), n * planes * words);
        }
        countsView.fill(0);
        countsView.set(counts.subarray(b * N, (b + 1) * N));
        this.kernels.packWeights(planesPtr, N, planes, words, countsPtr, format, ptr + b * batchBytes);
      }
    } catch (e) {
      this.heap.free(ptr);
      this.heap.free(factorsPtr);
      throw e;
    } finally {
      this.heap.free(planesPtr);
      this.heap.free(countsPtr);
    }
    return new PackedWeight(this.heap, format, planes, batch, w.k, N, ptr, factorsPtr);
  }

  /**
   * y = dequantized(A rows) · dequantized(weight batch wBatch), activations quantized here to
   * `activationBits`. `values` is copied into the engine's memory (only the span `layout` reads).
   */
  matMul(
    values: ArrayLike<number>, layout: ActivationLayout, packed: PackedWeight, wBatch: number,
    activationBits: number, options: { integers?: boolean } = {},
  ): MatMulResult {
    const { rows, k, rowStride, colStride } = layout;
    const offset = layout.offset ?? 0;
    const N = packed.n;
    const last = rows > 0 && k > 0 ? offset + (rows - 1) * rowStride + (k - 1) * colStride : offset - 1;
    if (last >= values.length) {
      throw new PbqQuantizationError(`activation layout reads index ${last} of ${values.length} values`);
    }
    const span = last + 1 - offset;
    const input = this.buffer('input', span * 4);
    const out = this.buffer('output', rows * N * 4);
    const ints = options.integers ? this.buffer('integers', rows * N * 8) : 0;
    const f32 = new Float32Array(this.heap.memory.buffer, input, span);
    if (values instanceof Float32Array) f32.set(values.subarray(offset, offset + span));
    else for (let i = 0; i < span; i++) f32[i] = values[offset + i];
    this.matMulAt(input, { rows, k, rowStride, colStride }, packed, wBatch, activationBits, { values: out, integers: ints });
    const memory = this.heap.memory.buffer;
    const result: MatMulResult = { values: new Float32Array(memory, out, rows * N).slice() };
    if (options.integers) result.integers = new Float64Array(memory, ints, rows * N).slice();
    return result;
  }

  /**
   * matMul on operands already in the engine's memory: activations at address `x` (+ layout
   * offset, in floats), outputs written to `targets` (float32 rows × N, float64 integers).
   */
  matMulAt(
    x: number, layout: ActivationLayout, packed: PackedWeight, wBatch: number, activationBits: number,
    targets: MatMulTargets,
  ): void {
    checkBits('activationBits', activationBits);
    const { rows, k, rowStride, colStride } = layout;
    if (packed.disposed) throw new Error('pbq-wasm: the packed weight was disposed');
    if (k !== packed.k) {
      throw new PbqQuantizationError(`inner dimensions differ: activations K=${k}, weights K=${packed.k}`);
    }
    if (!(Number.isInteger(wBatch) && wBatch >= 0 && wBatch < packed.batch)) {
      throw new PbqQuantizationError(`weight batch ${wBatch} out of range 0..${packed.batch - 1}`);
    }
    if (rows === 0 || packed.n === 0) return;
    checkExactInFloat64(k, packed.planes, activationBits);
    const digits = activationDigits(activationBits, packed.planes);
    const chunk = chunkBlocks(activationBits, packed.planes, digits);
    const { blocks, groups, format } = packed;
    const np = groups * GROUP;
    const kp = blocks * BLOCK;
    const digitRows = rows * digits;
    const codes = this.buffer('codes', digitRows * blocks * CODE_BLOCK_BYTES);
    const meta = this.buffer('meta', rows * 16);
    const sums = this.buffer('sums', digitRows * np * 8);
    const scratch = digitRows > 1 ? this.buffer('scratch', SCRATCH_BLOCKS * GROUP * CODE_BLOCK_BYTES) : 0;
    const src = x + 4 * (layout.offset ?? 0);
    this.kernels.quantizeRows(src, rows, k, rowStride, colStride, activationBits, digits, codes, kp, meta);
    const w = packed.ptr + wBatch * packed.batchBytes;
    if (digitRows === 1) this.kernels.gemv(format, codes, blocks, w, groups, chunk, sums);
    else this.kernels.gemm(format, codes, digitRows, blocks, w, groups, Math.min(chunk, SCRATCH_BLOCKS), scratch, sums);
    this.kernels.finish(sums, np, rows, packed.n, digits, meta, packed.factorsPtr + wBatch * np * 8,
      targets.values, targets.integers ?? 0);
  }

  /** Bytes of every per-call buffer the engine keeps (for tests of the memory bounds). */
  bufferBytes(): Record<string, number> {
    const sizes: Record<string, number> = {};
    for (const [name, b] of this.buffers) sizes[name] = b.bytes;
    return sizes;
  }

  /** Frees the per-call buffers (packed weights are freed by their own dispose()). */
  dispose(): void {
    for (const b of this.buffers.values()) this.heap.free(b.ptr);
    this.buffers.clear();
  }

  /** A kept buffer of at least `bytes` bytes (grown by 1.5x when too small; contents not kept). */
  private buffer(name: string, bytes: number): number {
    const have = this.buffers.get(name);
    if (have && have.bytes >= bytes) return have.ptr;
    if (have) this.heap.free(have.ptr);
    const size = Math.max(bytes, Math.ceil((have?.bytes ?? 0) * 1.5), 64);
    const ptr = this.heap.malloc(size);
    this.buffers.set(name, { ptr, bytes: size });
    return ptr;
  }
}

// ---------------------------------------------------------------------------------------------
// Loading the module.
// ---------------------------------------------------------------------------------------------

/** Where the module comes from: its bytes, a compiled Module, or a path/URL (default: see below). */
export interface WasmSource {
  bytes?: BufferSource;
  module?: WebAssembly.Module;
  /** A URL (browser) or file path (Node) of the .wasm file. */
  path?: string;
}

let wasmPath: string | undefined;

/**
 * Where the browser fetches the module from, as tfjs-backend-wasm's setWasmPaths: a folder
 * prefix ending in '/' (the file name is appended) or the full URL of the .wasm file. Default:
 * `pbq_simd.wasm` next to the page. Node reads kernels/wasm/build/pbq_simd.wasm next to this file.
 */
export function setWasmPaths(prefixOrFile: string): void {
  wasmPath = prefixOrFile;
}

function isNode(): boolean {
  return typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
}

// Node's require, reached lazily so that bundling for the browser does not pull `fs` in.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function nodeRequire(name: string): any {
  return eval('require')(name);
}

/** The .wasm location this environment loads by default. */
export function defaultWasmLocation(): string {
  const given = wasmPath;
  if (given !== undefined) return given.endsWith('/') ? given + WASM_FILE : given;
  if (isNode()) return nodeRequire('path').join(__dirname, 'build', WASM_FILE);
  return WASM_FILE;
}

function readNodeFile(file: string): BufferSource {
  const fs = nodeRequire('fs');
  if (!fs.existsSync(file)) {
    throw new Error(`pbq-wasm: ${file} not found: build it with \`npm run build:wasm\``);
  }
  return fs.readFileSync(file);
}

function compile(bytes: BufferSource): WebAssembly.Module {
  try {
    return new WebAssembly.Module(bytes);
  } catch (e) {
    throw new Error(`pbq-wasm: cannot compile the engine (${(e as Error).message}); ` +
      'it needs WebAssembly SIMD (Node ≥ 16.4, Chrome ≥ 91, Firefox ≥ 89, Safari ≥ 16.4)');
  }
}

function instantiate(module: WebAssembly.Module, heap: Heap): WasmEngine {
  const instance = new WebAssembly.Instance(module, { env: { memory: heap.memory } });
  return new WasmEngine(instance.exports as unknown as KernelExports, heap);
}

/** Loads synchronously: from bytes or a Module, or (Node only) from the file. */
export function loadWasmEngineSync(source: WasmSource = {}, heap: Heap = new OwnHeap()): WasmEngine {
  if (source.module) return instantiate(source.module, heap);
  if (source.bytes) return instantiate(compile(source.bytes), heap);
  if (!isNode()) throw new Error('pbq-wasm: in a browser, load with loadWasmEngine() or pass bytes/module');
  return instantiate(compile(readNodeFile(source.path ?? defaultWasmLocation())), heap);
}

/** Loads from bytes, a Module, a path, or the default location (fetched in a browser). */
export async function loadWasmEngine(source: WasmSource = {}, heap: Heap = new OwnHeap()): Promise<WasmEngine> {
  if (source.module || source.bytes || isNode()) return loadWasmEngineSync(source, heap);
  const url = source.path ?? defaultWasmLocation();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`pbq-wasm: fetching ${url} failed: ${response.status} ${response.statusText}`);
  return instantiate(compile(await response.arrayBuffer()), heap);
}
