/**
 * A worker thread of pbq-wasm's engine (thread_pool.ts starts it: a Node worker_threads Worker,
 * or a browser Web Worker). It runs the engine's module on a memory of its own, keeps its share
 * (a range of channel groups) of each weight the engine shares with it, and computes that range
 * of a product when asked (thread_protocol.ts). Bundled by `npm run build:wasm` into
 * kernels/wasm/build/pbq_thread.js, one script for both (no imports left: Node's worker_threads
 * is reached at run time).
 */
import { KernelExports, runCodesProduct, SCRATCH_BLOCKS, sumsBytes } from './codes_product';
import { OwnHeap } from './heap';
import { GROUP } from './plan';
import { DONE, FAILED, RunProduct, ShareWeight, WorkerData, WorkerRequest, writeError } from './thread_protocol';

interface Share {
  format: number;
  blocks: number;
  groups: number;
  channels: number;
  batchBytes: number;
  codes: number;
  factors: number;
}

interface State {
  data: WorkerData;
  control: Int32Array;
  heap: OwnHeap;
  kernels: KernelExports;
}

let state: State | undefined;
const shares = new Map<number, Share>();
const buffers = new Map<string, { ptr: number; bytes: number }>();
let io: SharedArrayBuffer | undefined;

function init(data: WorkerData): void {
  const heap = new OwnHeap();
  const kernels = new WebAssembly.Instance(data.module, { env: { memory: heap.memory } }).exports as unknown as KernelExports;
  state = { data, control: new Int32Array(data.control), heap, kernels };
}

function current(): State {
  if (!state) throw new Error('the worker was not initialized');
  return state;
}

function buffer(name: string, bytes: number): number {
  const { heap } = current();
  const have = buffers.get(name);
  if (have && have.bytes >= bytes) return have.ptr;
  if (have) heap.free(have.ptr);
  const size = Math.max(bytes, Math.ceil((have?.bytes ?? 0) * 1.5), 64);
  const ptr = heap.malloc(size);
  buffers.set(name, { ptr, bytes: size });
  return ptr;
}

function share(m: ShareWeight): void {
  const { heap } = current();
  if (!io) throw new Error('no io buffer');
  const codes = heap.malloc(m.codesBytes);
  let factors = 0;
  try {
    factors = heap.malloc(m.factorCount * 8);
  } catch (e) {
    heap.free(codes);
    throw e;
  }
  new Uint8Array(heap.memory.buffer, codes, m.codesBytes).set(new Uint8Array(io, 0, m.codesBytes));
  new Float64Array(heap.memory.buffer, factors, m.factorCount).set(new Float64Array(io, m.factorsAt, m.factorCount));
  shares.set(m.id, {
    format: m.format, blocks: m.blocks, groups: m.groups, channels: m.channels, batchBytes: m.codesBytes / m.batch,
    codes, factors,
  });
}

function forget(id: number): void {
  const { heap } = current();
  const s = shares.get(id);
  if (!s) return;
  heap.free(s.codes);
  heap.free(s.factors);
  shares.delete(id);
}

function product(m: RunProduct): void {
  const { heap, kernels } = current();
  const s = shares.get(m.id);
  if (!s) throw new Error(`no share of weight ${m.id}`);
  if (!io) throw new Error('no io buffer');
  const digitRows = m.rows * m.digits;
  const codes = buffer('codes', m.codesBytes);
  const meta = buffer('meta', m.rows * 16);
  const out = buffer('out', m.rows * s.channels * 4);
  const ints = m.intsAt >= 0 ? buffer('ints', m.rows * s.channels * 8) : 0;
  const sums = buffer('sums', sumsBytes(digitRows, s.groups));
  const scratch = buffer('scratch', SCRATCH_BLOCKS * GROUP * 64);
  const memory = heap.memory.buffer;
  new Uint8Array(memory, codes, m.codesBytes).set(new Uint8Array(io, m.codesAt, m.codesBytes));
  new Uint8Array(memory, meta, m.rows * 16).set(new Uint8Array(io, m.metaAt, m.rows * 16));
  runCodesProduct(kernels, {
    format: s.format, codes, rows: m.rows, digits: m.digits, blocks: s.blocks, chunk: m.chunk,
    weights: s.codes + m.wBatch * s.batchBytes, groups: s.groups, channels: s.channels, meta,
    factors: s.factors + m.wBatch * s.groups * GROUP * 8, out, ints, outStride: s.channels, sums, scratch,
  });
  new Float32Array(io, m.outAt, m.rows * s.channels).set(new Float32Array(memory, out, m.rows * s.channels));
  if (ints) new Float64Array(io, m.intsAt, m.rows * s.channels).set(new Float64Array(memory, ints, m.rows * s.channels));
}

function report(outcome: number): void {
  const { control, data } = current();
  Atomics.store(control, data.slot, outcome);
  Atomics.notify(control, data.slot);
}

function fail(message: string): void {
  const { data } = current();
  writeError(data.errors, data.slot, message);
  report(FAILED);
}

function handle(m: WorkerRequest): void {
  switch (m.op) {
    case 'init': // a browser's worker: tell the page it has started
      init(m.data);
      (globalThis as unknown as { postMessage(m: string): void }).postMessage('started');
      return;
    case 'weight':
      try {
        share(m);
        report(DONE);
      } catch (e) {
        fail(`sharing weight ${m.id} failed: ${(e as Error).message}`);
      }
      return;
    case 'forget':
      forget(m.id);
      return;
    case 'io':
      io = m.buffer;
      return;
    case 'bytes':
      new Float64Array(io!, m.at, 1)[0] = current().heap.allocatedBytes;
      report(DONE);
      return;
    case 'product':
      try {
        product(m);
        report(DONE);
      } catch (e) {
        fail((e as Error).message);
      }
  }
}

// Node: worker_threads (the init data is workerData); a browser: the first message is 'init'.
// (The check is written here rather than imported from node_env.ts, whose src/io/file_io would
// bring tfjs-core into this bundle.)
const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
if (isNode) {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const threads = require('worker_threads'); // left to Node by the bundle (external)
  init(threads.workerData as WorkerData);
  threads.parentPort.on('message', handle);
} else {
  (globalThis as unknown as { onmessage: (e: { data: WorkerRequest }) => void }).onmessage = (e) => handle(e.data);
}
