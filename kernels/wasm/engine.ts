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
import { codesProductKind, KernelExports, ROW_PRODUCT_MAX_ROWS, runCodesProduct, SCRATCH_BLOCKS, sumsBytes } from './codes_product';
import { Heap, OwnHeap } from './heap';
import { isNode, nodeRequire } from './node_env';
import { MAX_WASM_THREADS as MAX_THREADS } from '../../src/config';
import { autoThreadCount, ShareableWeight, THREAD_FILE, ThreadPool, threadsSupported } from './thread_pool';
import {
  activationDigits, BLOCK, blockBytes, checkExactInFloat64, chunkBlocks, CODE_BLOCK_BYTES, GROUP, pairsFor,
  TABLE_MAX_PLANES, tablePairsPerChunk, TILE, tilesFor, WeightFormat, weightFormat,
} from './plan';

/** The built module (npm run build:wasm), next to this file in kernels/wasm/build/. */
export const WASM_FILE = 'pbq_simd.wasm';
/** Group pairs (8 codes) of lookup tables the table product builds at a time (64 bytes each). */
export const TABLE_PAIRS = 256;
/**
 * Fewest multiply-adds (digit rows · K · N) of a codes product that threads share: below it the
 * hand-off (≈ 0.1 ms: post, copies, wake) costs more than the second thread saves.
 * Measured in tools/bench_wasm_engine.ts --threads; see tools/bench/README.md.
 */
export const THREAD_MIN_WORK = 1 << 22;
export { ROW_PRODUCT_MAX_ROWS, SCRATCH_BLOCKS };

/** Rows of an A operand in memory: element (r, k) at offset + r·rowStride + k·colStride (floats). */
export interface ActivationLayout {
  rows: number;
  k: number;
  offset?: number;
  rowStride: number;
  colStride: number;
}

/**
 * A weight prepared for one run width: its channels' plane counts t_c and output factors, and its
 * packed forms, each made on first use: codes (every product) and, for weights of at most
 * TABLE_MAX_PLANES planes, tiled bit planes (the batch-1 table product). Free with dispose().
 */
export class PackedWeight implements ShareableWeight {
  /** Largest plane count t of any channel (what the format and the exactness bounds use). */
  readonly planes: number;
  readonly format: WeightFormat;
  /** @internal addresses of the packed forms (0 until made) */
  codesPtr = 0;
  tilesPtr = 0;
  planeWeightsPtr = 0;
  /** Bytes of the copies worker threads keep of their ranges (set by the thread pool). */
  threadBytes = 0;
  private live = true;
  private readonly releases: Array<() => void> = [];

  constructor(
    private readonly heap: Heap,
    /** The stored planes this was packed from (kept by the weight cache anyway). */
    readonly source: QuantizedWeight,
    /** t_c = min(planes of channel c, weightBits), [batch][n]. */
    readonly planeCounts: Uint8Array,
    /** Address of the float64 factors m_n 2^-t_n, [batch][groups · GROUP]. */
    readonly factorsPtr: number,
  ) {
    let planes = 1;
    for (const t of planeCounts) planes = Math.max(planes, t);
    this.planes = planes;
    this.format = weightFormat(planes);
  }

  get batch(): number {
    return this.source.batch;
  }

  get k(): number {
    return this.source.k;
  }

  get n(): number {
    return this.source.n;
  }

  get blocks(): number {
    return Math.ceil(this.k / BLOCK);
  }

  get groups(): number {
    return Math.ceil(this.n / GROUP);
  }

  /** Bytes of the codes of one weight batch: [group][block][channel][block bytes]. */
  get batchBytes(): number {
    return this.groups * this.blocks * GROUP * blockBytes(this.format);
  }

  /** Bytes of the tiled planes of one weight batch: [tile][group pair][plane][16]. */
  get tileBatchBytes(): number {
    return tilesFor(this.n) * pairsFor(this.k) * this.planes * TILE;
  }

  get disposed(): boolean {
    return !this.live;
  }

  /**
   * Bytes this weight holds: in the engine's memory the codes, the tiled planes if made and the
   * factors, plus the worker threads' copies of their channel ranges (threadBytes).
   */
  get bytes(): number {
    const factors = this.batch * this.groups * GROUP * 8;
    const tiles = this.tilesPtr ? this.batch * (this.tileBatchBytes + tilesFor(this.n) * TILE * this.planes * 4) : 0;
    return this.batch * this.batchBytes + tiles + factors + this.threadBytes;
  }

  /** `release` runs when this is disposed (the thread pool's copies of it). */
  onDispose(release: () => void): void {
    this.releases.push(release);
  }

  dispose(): void {
    if (!this.live) return;
    this.live = false;
    for (const release of this.releases.splice(0)) release();
    for (const ptr of [this.codesPtr, this.tilesPtr, this.planeWeightsPtr, this.factorsPtr]) {
      if (ptr) this.heap.free(ptr);
    }
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

/**
 * The product that served a call: table lookup on the planes (1-2 planes, one row, A ≤ 10),
 * codes row by row (registers; up to ROW_PRODUCT_MAX_ROWS rows, digit rows included), codes for
 * several rows (unpacked once per chunk into scratch).
 */
export type ProductKind = 'tables' | 'codes-row' | 'codes-rows';

/** Stops the workers of an engine that was collected without dispose() (they hold memory). */
const poolsOfLostEngines = new FinalizationRegistry<ThreadPool>((pool) => pool.terminate());

export class WasmEngine {
  private readonly buffers = new Map<string, { ptr: number; bytes: number }>();
  /** The product of the last call (for tests and the bench). */
  lastProduct: ProductKind | undefined;
  /** Threads that computed the last call's product (1 unless threads shared it). */
  lastThreads = 1;
  /** Fewest multiply-adds of a product that threads share (THREAD_MIN_WORK; tests lower it). */
  threadMinWork = THREAD_MIN_WORK;
  private threadCount = 1;
  private pool: ThreadPool | undefined;
  /** Why threads stopped (a worker failed or did not answer): the engine stays on one thread. */
  private threadsOff: string | undefined;

  constructor(
    private readonly kernels: KernelExports,
    readonly heap: Heap,
    /** The compiled module, which worker threads instantiate on memories of their own. */
    private readonly module?: WebAssembly.Module,
  ) {}

  /**
   * Threads that share large codes products: 0 = auto (autoThreadCount: the cores, at most 4),
   * 1 = this thread only. Where threads are not supported (Node without worker_threads, a page
   * that is not cross-origin isolated) every count means 1.
   * - Node: the workers start on the first product that uses them. Another count of 2 or more
   *   stops them (the next product starts the new count); 1 leaves them idle, with their copies
   *   of the weights, so that going back (e.g. withConfig({wasmThreads: 1}, …)) costs nothing.
   * - Browsers: workers start only in startThreads (async); this picks between them (2 or more,
   *   whatever the count) and this thread alone (1).
   */
  setThreads(threads: number): void {
    if (!Number.isInteger(threads) || threads < 0 || threads > MAX_THREADS) {
      throw new Error(`pbq-wasm: threads must be an integer in 0..${MAX_THREADS}, got ${threads}`);
    }
    const count = threads === 0 ? autoThreadCount() : threadsSupported() && this.module ? threads : 1;
    if (count >= 2 && this.pool && this.pool.threads !== count && isNode()) this.stopThreads();
    this.threadCount = count;
  }

  /**
   * Starts the workers of `threads` (as setThreads) now and waits until they run: what a
   * browser must do before a product can use them (its workers start only while the page's
   * thread is free). Where threads are not supported, only sets the count.
   */
  async startThreads(threads: number): Promise<void> {
    this.setThreads(threads);
    if (this.threadCount < 2 || !this.module || this.pool || this.threadsOff !== undefined) return;
    this.adoptPool(isNode()
      ? new ThreadPool(this.module, this.threadCount, threadWorkerLocation())
      : await ThreadPool.start(this.module, this.threadCount, threadWorkerLocation()));
  }

  /** Keeps `pool`; its workers stop with dispose(), or when this engine is collected undisposed. */
  private adoptPool(pool: ThreadPool): void {
    this.pool = pool;
    poolsOfLostEngines.register(this, pool, this);
  }

  /** The thread count in force (after 'auto' and support are resolved; 1 once threads failed). */
  get threads(): number {
    if (this.threadsOff !== undefined || this.threadCount < 2) return 1;
    if (isNode()) return this.threadCount;
    return this.pool?.threads ?? 1;
  }

  /** The pool, when one is running (idle at threads 1; for tests of its memory). */
  get threadPool(): ThreadPool | undefined {
    return this.pool;
  }

  /**
   * Prepares `w` for runs at `weightBits`: channel c uses its first min(t_c, weightBits) planes.
   * The codes are packed now; the tiled planes of 1-2 plane weights on their first batch-1 run.
   */
  packWeight(w: QuantizedWeight, weightBits: number): PackedWeight {
    checkBits('weightBits', weightBits);
    const { batch, n: N } = w;
    const counts = new Uint8Array(batch * N);
    for (let c = 0; c < counts.length; c++) counts[c] = channelPlanes(w, c, weightBits);
    const np = Math.ceil(N / GROUP) * GROUP;
    const factorsPtr = this.heap.malloc(batch * np * 8);
    const factors = new Float64Array(this.heap.memory.buffer, factorsPtr, batch * np);
    factors.fill(0);
    for (let c = 0; c < counts.length; c++) factors[Math.floor(c / N) * np + (c % N)] = w.ranges[c] * 2 ** -counts[c];
    const packed = new PackedWeight(this.heap, w, counts, factorsPtr);
    try {
      this.packCodes(packed);
    } catch (e) {
      packed.dispose();
      throw e;
    }
    return packed;
  }

  private packCodes(p: PackedWeight): void {
    p.codesPtr = this.heap.malloc(p.batch * p.batchBytes);
    this.forEachBatchPlanes(p, (b, planesPtr, countsPtr) =>
      this.kernels.packWeights(planesPtr, p.n, p.planes, p.source.words, countsPtr, p.format, p.codesPtr + b * p.batchBytes));
  }

  /** The tiled planes and the int32 plane weights σ_i 2^(t_c-1-i), [batch][tiles · 16][planes]. */
  private packTiles(p: PackedWeight): void {
    const width = tilesFor(p.n) * TILE;
    p.tilesPtr = this.heap.malloc(p.batch * p.tileBatchBytes);
    p.planeWeightsPtr = this.heap.malloc(p.batch * width * p.planes * 4);
    const weights = new Int32Array(this.heap.memory.buffer, p.planeWeightsPtr, p.batch * width * p.planes);
    weights.fill(0);
    for (let c = 0; c < p.planeCounts.length; c++) {
      const t = p.planeCounts[c];
      const at = (Math.floor(c / p.n) * width + (c % p.n)) * p.planes;
      for (let i = 0; i < t; i++) weights[at + i] = (i === 0 ? -1 : 1) * 2 ** (t - 1 - i);
    }
    this.forEachBatchPlanes(p, (b, planesPtr, countsPtr) =>
      this.kernels.packPlanes(planesPtr, p.n, p.planes, p.source.words, countsPtr, p.planes, p.tilesPtr + b * p.tileBatchBytes));
  }

  /**
   * Calls `pack` per weight batch with the batch's first `p.planes` planes of every channel
   * ([channel][planes][words]) and its plane counts (one byte per channel) in the engine's memory.
   */
  private forEachBatchPlanes(p: PackedWeight, pack: (b: number, planesPtr: number, countsPtr: number) => void): void {
    const { n: N, planes } = p;
    const { words, bits } = p.source;
    const planesPtr = this.heap.malloc(N * planes * words * 4);
    const countsPtr = this.heap.malloc(N);
    try {
      for (let b = 0; b < p.batch; b++) {
        const memory = this.heap.memory.buffer;
        const planesView = new Uint32Array(memory, planesPtr, N * planes * words);
        for (let n = 0; n < N; n++) {
          const src = (b * N + n) * bits * words;
          planesView.set(p.source.planes.subarray(src, src + planes * words), n * planes * words);
        }
        new Uint8Array(memory, countsPtr, N).set(p.planeCounts.subarray(b * N, (b + 1) * N));
        pack(b, planesPtr, countsPtr);
      }
    } finally {
      this.heap.free(planesPtr);
      this.heap.free(countsPtr);
    }
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
    const sums = this.buffer('sums', Math.max(sumsBytes(digitRows, groups), digitRows * tilesFor(packed.n) * TILE * 8));
    const src = x + 4 * (layout.offset ?? 0);
    this.kernels.quantizeRows(src, rows, k, rowStride, colStride, activationBits, digits, codes, kp, meta);
    this.lastThreads = 1;
    if (digitRows === 1 && tablePairsPerChunk(packed.planes, activationBits) > 0) {
      this.lastProduct = 'tables';
      this.tableProduct(packed, wBatch, activationBits, codes, sums);
      this.kernels.finish(sums, np, rows, packed.n, digits, meta, packed.factorsPtr + wBatch * np * 8,
        targets.values, targets.integers ?? 0, packed.n);
      return;
    }
    this.lastProduct = codesProductKind(digitRows);
    const scratch = digitRows > ROW_PRODUCT_MAX_ROWS ? this.buffer('scratch', SCRATCH_BLOCKS * GROUP * CODE_BLOCK_BYTES) : 0;
    const range = (g0: number, g1: number) => runCodesProduct(this.kernels, {
      format, codes, rows, digits, blocks, chunk, weights: packed.codesPtr + wBatch * packed.batchBytes + g0 * blocks * GROUP * blockBytes(format),
      groups: g1 - g0, channels: Math.min(packed.n, g1 * GROUP) - g0 * GROUP, meta,
      factors: packed.factorsPtr + (wBatch * np + g0 * GROUP) * 8, out: targets.values + g0 * GROUP * 4,
      ints: targets.integers ? targets.integers + g0 * GROUP * 8 : 0, outStride: packed.n, sums, scratch,
    });
    const pool = this.threadsFor(digitRows * k * packed.n, groups);
    if (!pool) {
      range(0, groups);
      return;
    }
    this.lastThreads = pool.boundsFor(groups).length - 1;
    pool.run(this.heap.memory, {
      weight: packed, wBatch, rows, digits, chunk, codes, codesBytes: digitRows * blocks * CODE_BLOCK_BYTES, meta,
      out: targets.values, ints: targets.integers ?? 0,
    }, range);
    if (pool.terminated) this.stopThreads(pool.failure ?? 'a worker thread exited');
  }

  /** The pool that shares a product of `work` multiply-adds over `groups` groups, if any. */
  private threadsFor(work: number, groups: number): ThreadPool | undefined {
    if (this.pool?.terminated) this.stopThreads('a worker thread exited');
    if (this.threads < 2 || work < this.threadMinWork || groups < 2 || !this.module) return undefined;
    if (!this.pool && isNode()) this.adoptPool(new ThreadPool(this.module, this.threadCount, threadWorkerLocation()));
    return this.pool;
  }

  private stopThreads(reason?: string): void {
    this.pool?.terminate();
    this.pool = undefined;
    poolsOfLostEngines.unregister(this);
    if (reason === undefined || this.threadsOff !== undefined) return;
    this.threadsOff = reason;
    console.warn(`pbq-wasm: ${reason}; products run on one thread from now on`);
  }

  /** Why threads are off (a worker failed, did not answer or exited), if they are. */
  get threadsOffReason(): string | undefined {
    return this.threadsOff;
  }

  /**
   * Σ q a of one row by table lookup on the tiled planes, TABLE_PAIRS group pairs (8 codes
   * each) of tables at a time, so the tables take TABLE_PAIRS · 64 bytes whatever K is.
   */
  private tableProduct(p: PackedWeight, wBatch: number, activationBits: number, codes: number, sums: number): void {
    if (!p.tilesPtr) this.packTiles(p);
    const tiles = tilesFor(p.n);
    const pairs = pairsFor(p.k);
    const tables = this.buffer('tables', TABLE_PAIRS * 64);
    const acc = this.buffer('tableSums', TABLE_MAX_PLANES * TILE * 4);
    new Float64Array(this.heap.memory.buffer, sums, tiles * TILE).fill(0);
    const w = p.tilesPtr + wBatch * p.tileBatchBytes;
    const planeWeights = p.planeWeightsPtr + wBatch * tiles * TILE * p.planes * 4;
    const perChunk = tablePairsPerChunk(p.planes, activationBits);
    for (let p0 = 0; p0 < pairs; p0 += TABLE_PAIRS) {
      const count = Math.min(TABLE_PAIRS, pairs - p0);
      this.kernels.buildTables(codes + p0 * 16, 2 * count, tables);
      this.kernels.gemvTables(tables, p0, count, pairs, w, tiles, p.planes, perChunk, planeWeights, sums, acc);
    }
  }

  /** Bytes of every per-call buffer the engine keeps (for tests of the memory bounds). */
  bufferBytes(): Record<string, number> {
    const sizes: Record<string, number> = {};
    for (const [name, b] of this.buffers) sizes[name] = b.bytes;
    return sizes;
  }

  /** Frees the per-call buffers and stops the threads (packed weights are freed by their own dispose()). */
  dispose(): void {
    this.stopThreads();
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
let wasmSource: WasmSource | undefined;

/**
 * Where the browser fetches the module from, as tfjs-backend-wasm's setWasmPaths: a folder
 * prefix ending in '/' (the file name is appended) or the full URL of the .wasm file. Default:
 * `pbq_simd.wasm` next to the page. Node reads kernels/wasm/build/pbq_simd.wasm next to this file.
 */
export function setWasmPaths(prefixOrFile: string): void {
  wasmPath = prefixOrFile;
}

/**
 * The module every later load uses (e.g. the pbq-wasm backend's): its bytes or a compiled
 * Module, for pages that bundle or fetch it themselves; undefined goes back to the path.
 */
export function setWasmSource(source: WasmSource | undefined): void {
  wasmSource = source;
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
  return new WasmEngine(instance.exports as unknown as KernelExports, heap, module);
}

/**
 * The worker threads' script: in Node kernels/wasm/build/pbq_thread.js next to this file; in a
 * browser pbq_thread.js beside the .wasm (setWasmPaths: the same folder, or the page's).
 */
export function threadWorkerLocation(): string {
  if (isNode() && wasmPath === undefined) return nodeRequire('path').join(__dirname, 'build', THREAD_FILE);
  return defaultWasmLocation().replace(/[^/\\]*$/, THREAD_FILE);
}

/** Loads synchronously: from bytes or a Module, or (Node only) from the file. */
export function loadWasmEngineSync(source: WasmSource = wasmSource ?? {}, heap: Heap = new OwnHeap()): WasmEngine {
  if (source.module) return instantiate(source.module, heap);
  if (source.bytes) return instantiate(compile(source.bytes), heap);
  if (!isNode()) throw new Error('pbq-wasm: in a browser, load with loadWasmEngine() or pass bytes/module');
  return instantiate(compile(readNodeFile(source.path ?? defaultWasmLocation())), heap);
}

/** Loads from bytes, a Module, a path, or the default location (fetched in a browser). */
export async function loadWasmEngine(source: WasmSource = wasmSource ?? {}, heap: Heap = new OwnHeap()): Promise<WasmEngine> {
  if (source.module || source.bytes || isNode()) return loadWasmEngineSync(source, heap);
  const url = source.path ?? defaultWasmLocation();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`pbq-wasm: fetching ${url} failed: ${response.status} ${response.statusText}`);
  return instantiate(compile(await response.arrayBuffer()), heap);
}
