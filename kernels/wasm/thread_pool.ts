/**
 * Worker threads that share the engine's large codes products: Node worker_threads, or Web
 * Workers in a cross-origin isolated page (shared memory needs one).
 *
 * A product of T threads splits the weight's channel groups into T ranges (splitGroups): the
 * engine's own thread computes range 0 on its packed weight, worker i range i on its copy of
 * those groups (sent once per packed weight, forgotten with it). Per product the activation
 * codes and row meta, quantized once by the engine, are copied into the shared `io` buffer;
 * each worker copies them into its own module memory, computes its channels and writes their
 * outputs back to io, and the engine's thread copies them into the output rows. tfjs kernels
 * are synchronous, so the engine's thread waits for the workers: in Atomics.wait where it may
 * block (Node, a Web Worker), spinning on Atomics.load on a page's main thread, which may not.
 * A browser worker starts only while its page's thread runs its event loop (checked in
 * Chromium 156: a new worker that the page spins on does not start within 3 s, and does once
 * the page yields), so browsers start the pool ahead (ThreadPool.start, awaited when the
 * backend is created); Node starts it on the first product that needs it (a Node worker
 * starts while this thread waits).
 *
 * Every channel's integers depend only on its own weights and the row's codes, and each range
 * is computed by the same kernels, so a threaded product equals the one-thread one bit for bit.
 */
import { MAX_WASM_THREADS as MAX_THREADS } from '../../src/config';
import { isNode, nodeRequire } from './node_env';
import { GROUP } from './plan';
import {
  align16, ERROR_BYTES, FAILED, IDLE, readError, RunProduct, ShareWeight, splitGroups, WorkerData, WorkerRequest,
} from './thread_protocol';

/** The worker's bundle, built by `npm run build:wasm` next to pbq_simd.wasm. */
export const THREAD_FILE = 'pbq_thread.js';
/** How long the engine waits for a worker's range before it gives up on threads (ms). */
export const WORKER_TIMEOUT_MS = 120_000;

/** What a threaded product needs to know of a packed weight (engine.ts PackedWeight). */
export interface ShareableWeight {
  readonly batch: number;
  readonly n: number;
  readonly blocks: number;
  readonly groups: number;
  readonly format: number;
  readonly batchBytes: number;
  readonly codesPtr: number;
  readonly factorsPtr: number;
  /** bytes the workers hold for it (codes and factors of their ranges) */
  threadBytes: number;
  /** called once when the weight is disposed */
  onDispose(release: () => void): void;
}

/** One product's operands in the engine's memory, and where its outputs go. */
export interface ThreadedProduct {
  weight: ShareableWeight;
  wBatch: number;
  rows: number;
  digits: number;
  chunk: number;
  codes: number;
  codesBytes: number;
  meta: number;
  out: number;
  /** 0: no integers */
  ints: number;
}

/**
 * Whether this environment can run the workers: Node with worker_threads, or a cross-origin
 * isolated page or worker (SharedArrayBuffer, Worker).
 */
export function threadsSupported(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  if (!isNode()) return typeof Worker !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  try {
    nodeRequire('worker_threads');
    return true;
  } catch {
    return false;
  }
}

/** Threads of the 'auto' setting: the cores reported, at most 4 (1 where threads are not supported). */
export function autoThreadCount(): number {
  if (!threadsSupported()) return 1;
  let cores: number;
  if (isNode()) {
    const os = nodeRequire('os');
    cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  } else {
    cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  }
  return Math.max(1, Math.min(4, cores));
}

/** Whether this thread may block in Atomics.wait (a page's main thread may not). */
function mayBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** A started worker, of either kind. */
interface WorkerHandle {
  post(message: WorkerRequest, transfer: ArrayBuffer[]): void;
  terminate(): void;
}

interface Share {
  id: number;
  bounds: number[];
}

export class ThreadPool {
  /** Threads of a product: the engine's own and threads - 1 workers. */
  readonly threads: number;
  private readonly workers: WorkerHandle[] = [];
  private readonly control = new Int32Array(new SharedArrayBuffer(4 * MAX_THREADS));
  private readonly errors = new SharedArrayBuffer(ERROR_BYTES * MAX_THREADS);
  private io: SharedArrayBuffer = new SharedArrayBuffer(1 << 16);
  private readonly shares = new Map<ShareableWeight, Share>();
  private readonly blocking = mayBlock();
  private nextId = 1;
  private live = true;
  /** Why the pool stopped, when a worker failed or did not answer (its range ran on the caller). */
  failure: string | undefined;

  /**
   * Node: a pool of `threads` threads on `module`, its workers running `workerFile` (started
   * now; usable at once, as Node workers start while this thread waits).
   */
  constructor(module: WebAssembly.Module, threads: number, workerFile: string);
  /** @internal the workers made by `spawn` */
  constructor(module: WebAssembly.Module, threads: number, spawn: (data: WorkerData) => WorkerHandle);
  constructor(module: WebAssembly.Module, threads: number, worker: string | ((data: WorkerData) => WorkerHandle)) {
    if (!Number.isInteger(threads) || threads < 2 || threads > MAX_THREADS) {
      throw new Error(`pbq-wasm: a thread pool has 2..${MAX_THREADS} threads, got ${threads}`);
    }
    this.threads = threads;
    const spawn = typeof worker === 'string' ? this.nodeSpawner(worker) : worker;
    try {
      for (let slot = 0; slot < threads - 1; slot++) {
        this.workers.push(spawn({ module, control: this.control.buffer as SharedArrayBuffer, errors: this.errors, slot }));
        this.post(slot, { op: 'io', buffer: this.io });
      }
    } catch (e) {
      this.terminate();
      throw e;
    }
  }

  /**
   * A pool of Web Workers running the script at `url` (a browser; in Node, the constructor).
   * Resolves once every worker has started, rejects with the reason when one cannot.
   */
  static async start(module: WebAssembly.Module, threads: number, url: string): Promise<ThreadPool> {
    const started: Array<Promise<void>> = [];
    let pool: ThreadPool | undefined;
    pool = new ThreadPool(module, threads, (data) => {
      const worker = new Worker(url);
      started.push(new Promise<void>((resolve, reject) => {
        worker.onmessage = () => resolve(); // its one message: started
        worker.onerror = (e) => {
          reject(new Error(`pbq-wasm: the worker thread ${url} did not start${e.message ? `: ${e.message}` : ''}`));
          pool?.terminate(); // a worker gone (at start or later): no later product uses the pool
        };
      }));
      worker.postMessage({ op: 'init', data });
      return { post: (m, transfer) => worker.postMessage(m, transfer), terminate: () => worker.terminate() };
    });
    try {
      await Promise.all(started);
    } catch (e) {
      pool.terminate();
      throw e;
    }
    return pool;
  }

  private nodeSpawner(workerFile: string): (data: WorkerData) => WorkerHandle {
    const { Worker: NodeWorker } = nodeRequire('worker_threads');
    if (!nodeRequire('fs').existsSync(workerFile)) {
      throw new Error(`pbq-wasm: ${workerFile} not found: build it with \`npm run build:wasm\``);
    }
    return (data) => {
      const worker = new NodeWorker(workerFile, { workerData: data });
      worker.unref(); // an idle pool never keeps the process alive
      worker.on('exit', () => this.terminate()); // a worker gone: no later product uses the pool
      worker.on('error', () => undefined); // reported as its exit
      return { post: (m, transfer) => worker.postMessage(m, transfer), terminate: () => void worker.terminate() };
    };
  }

  /**
   * The ranges of a product of `groups` channel groups: one per thread, each at least one
   * group (fewer threads than `threads` when the weight has fewer groups).
   */
  boundsFor(groups: number): number[] {
    return splitGroups(groups, Math.min(this.threads, groups));
  }

  /**
   * Runs `p` on the threads: posts the workers' ranges, computes range 0 by `ownRange(g0, g1)`
   * on this thread, then waits for the workers and copies their outputs into p.out / p.ints.
   * A worker that fails or does not answer has its range computed by `ownRange` too; the pool
   * then stops, with the reason in `failure`.
   */
  run(memory: WebAssembly.Memory, p: ThreadedProduct, ownRange: (g0: number, g1: number) => void): void {
    if (!this.live) throw new Error('pbq-wasm: the thread pool was terminated');
    let share: Share;
    try {
      share = this.shareOf(memory, p.weight);
    } catch (e) {
      // a worker could not take its range: the whole product here, and no threads from now on
      this.terminate();
      this.failure = (e as Error).message;
      ownRange(0, p.weight.groups);
      return;
    }
    const { bounds } = share;
    const parts = bounds.length - 1;
    const channels = (i: number) => Math.min(p.weight.n, bounds[i + 1] * GROUP) - bounds[i] * GROUP;
    // io: codes | meta | per worker: out floats, then integers
    let at = align16(p.codesBytes) + align16(p.rows * 16);
    const outAt: number[] = [];
    const intsAt: number[] = [];
    for (let i = 1; i < parts; i++) {
      outAt[i] = at;
      at += align16(p.rows * channels(i) * 4);
      intsAt[i] = p.ints ? at : -1;
      if (p.ints) at += align16(p.rows * channels(i) * 8);
    }
    this.reserveIo(at);
    const io = this.io;
    new Uint8Array(io, 0, p.codesBytes).set(new Uint8Array(memory.buffer, p.codes, p.codesBytes));
    const metaAt = align16(p.codesBytes);
    new Uint8Array(io, metaAt, p.rows * 16).set(new Uint8Array(memory.buffer, p.meta, p.rows * 16));
    for (let i = 1; i < parts; i++) {
      Atomics.store(this.control, i - 1, IDLE);
      const request: RunProduct = {
        op: 'product', id: share.id, wBatch: p.wBatch, rows: p.rows, digits: p.digits, chunk: p.chunk,
        codesAt: 0, codesBytes: p.codesBytes, metaAt, outAt: outAt[i], intsAt: intsAt[i],
      };
      this.post(i - 1, request);
    }
    let ownError: unknown;
    try {
      ownRange(bounds[0], bounds[1]);
    } catch (e) {
      ownError = e ?? new Error('pbq-wasm: the product failed');
    }
    const n = p.weight.n;
    let failure: string | undefined;
    for (let i = 1; i < parts; i++) {
      const why = this.await(i - 1); // also after an error here: no worker may answer into a later product
      if (ownError !== undefined) continue;
      if (why !== undefined) {
        // the range is computed here instead, so the product is still whole and exact
        failure ??= why;
        ownRange(bounds[i], bounds[i + 1]);
        continue;
      }
      const c = channels(i);
      const n0 = bounds[i] * GROUP;
      const src = new Float32Array(io, outAt[i], p.rows * c);
      const dst = new Float32Array(memory.buffer, p.out, p.rows * n);
      for (let r = 0; r < p.rows; r++) dst.set(src.subarray(r * c, (r + 1) * c), r * n + n0);
      if (p.ints) {
        const isrc = new Float64Array(io, intsAt[i], p.rows * c);
        const idst = new Float64Array(memory.buffer, p.ints, p.rows * n);
        for (let r = 0; r < p.rows; r++) idst.set(isrc.subarray(r * c, (r + 1) * c), r * n + n0);
      }
    }
    if (failure !== undefined) {
      this.terminate();
      this.failure = failure;
    }
    if (ownError !== undefined) throw ownError;
  }

  /** Bytes each worker has allocated in its memory (shares and kept buffers), for leak tests. */
  workerBytes(): number[] {
    const at = 0;
    this.reserveIo(8);
    return this.workers.map((_, slot) => {
      Atomics.store(this.control, slot, IDLE);
      this.post(slot, { op: 'bytes', at });
      const why = this.await(slot);
      if (why !== undefined) throw new Error(`pbq-wasm: ${why}`);
      return new Float64Array(this.io, at, 1)[0];
    });
  }

  /** Weights shared with the workers now. */
  get sharedWeights(): number {
    return this.shares.size;
  }

  get terminated(): boolean {
    return !this.live;
  }

  terminate(): void {
    this.live = false;
    for (const worker of this.workers.splice(0)) worker.terminate();
    for (const w of this.shares.keys()) w.threadBytes = 0;
    this.shares.clear();
  }

  /**
   * The share of `w` (made now if new): each worker's groups of every weight batch, copied through
   * io, one worker at a time, each acknowledging before io is reused (a transferred buffer would
   * stay in the worker's heap until that thread next collects garbage, which an idle worker may
   * not do for a long while). Throws when a worker cannot take its range.
   */
  private shareOf(memory: WebAssembly.Memory, w: ShareableWeight): Share {
    const have = this.shares.get(w);
    if (have) return have;
    const share: Share = { id: this.nextId++, bounds: this.boundsFor(w.groups) };
    const { bounds } = share;
    const blockBytes = w.format * 4;
    const np = w.groups * GROUP;
    const groupBytes = w.blocks * GROUP * blockBytes;
    const forget = (workers: number) => {
      for (let i = 1; i <= workers; i++) this.post(i - 1, { op: 'forget', id: share.id });
    };
    for (let i = 1; i < bounds.length - 1; i++) {
      const g0 = bounds[i];
      const groups = bounds[i + 1] - g0;
      const codesBytes = w.batch * groups * groupBytes;
      const factorsAt = align16(codesBytes);
      const factorCount = w.batch * groups * GROUP;
      this.reserveIo(factorsAt + factorCount * 8);
      const codes = new Uint8Array(this.io, 0, codesBytes);
      const factors = new Float64Array(this.io, factorsAt, factorCount);
      for (let b = 0; b < w.batch; b++) {
        codes.set(new Uint8Array(memory.buffer, w.codesPtr + b * w.batchBytes + g0 * groupBytes, groups * groupBytes),
          b * groups * groupBytes);
        factors.set(new Float64Array(memory.buffer, w.factorsPtr + (b * np + g0 * GROUP) * 8, groups * GROUP),
          b * groups * GROUP);
      }
      const message: ShareWeight = {
        op: 'weight', id: share.id, format: w.format, blocks: w.blocks, batch: w.batch, groups,
        channels: Math.min(w.n, bounds[i + 1] * GROUP) - g0 * GROUP, codesBytes, factorsAt, factorCount,
      };
      Atomics.store(this.control, i - 1, IDLE);
      this.post(i - 1, message);
      const why = this.await(i - 1);
      if (why !== undefined) {
        forget(i - 1);
        throw new Error(why);
      }
    }
    for (let i = 1; i < bounds.length - 1; i++) {
      const groups = bounds[i + 1] - bounds[i];
      w.threadBytes += w.batch * groups * (groupBytes + GROUP * 8);
    }
    this.shares.set(w, share);
    w.onDispose(() => {
      w.threadBytes = 0;
      if (!this.live || this.shares.get(w) !== share) return;
      this.shares.delete(w);
      forget(bounds.length - 2);
    });
    return share;
  }

  private reserveIo(bytes: number): void {
    if (this.io.byteLength >= bytes) return;
    this.io = new SharedArrayBuffer(Math.max(bytes, Math.ceil(this.io.byteLength * 1.5)));
    for (let slot = 0; slot < this.workers.length; slot++) this.post(slot, { op: 'io', buffer: this.io });
  }

  private post(slot: number, message: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    this.workers[slot].post(message, transfer);
  }

  /** Blocks until worker `slot` reports: undefined when it is done, else why it is not. */
  private await(slot: number): string | undefined {
    const deadline = Date.now() + WORKER_TIMEOUT_MS;
    const timedOut = `worker thread ${slot + 1} did not answer within ${WORKER_TIMEOUT_MS / 1000} s`;
    while (Atomics.load(this.control, slot) === IDLE) {
      const left = deadline - Date.now();
      if (left <= 0) return timedOut;
      if (this.blocking) {
        if (Atomics.wait(this.control, slot, IDLE, left) === 'timed-out') return timedOut;
      } else {
        for (let i = 0; i < 4096 && Atomics.load(this.control, slot) === IDLE; i++); // spin, then look at the clock
      }
    }
    if (Atomics.load(this.control, slot) === FAILED) {
      return `worker thread ${slot + 1} failed: ${readError(this.errors, slot)}`;
    }
    return undefined;
  }
}
