/**
 * A worker thread of pbq-wasm's engine (Node worker_threads; thread_pool.ts starts it). It runs
 * the engine's module on a memory of its own, keeps its share (a range of channel groups) of
 * each weight the engine shares with it, and computes that range of a product when asked
 * (thread_protocol.ts). Bundled by `npm run build:wasm` into kernels/wasm/build/pbq_thread.js.
 */
import { parentPort, workerData } from 'worker_threads';
import type { MessagePort } from 'worker_threads';
import { KernelExports, runCodesProduct, SCRATCH_BLOCKS, sumsBytes } from './codes_product';
import { OwnHeap } from './heap';
import { GROUP } from './plan';
import { DONE, FAILED, RunProduct, ShareWeight, WorkerData, WorkerRequest } from './thread_protocol';

interface Share {
  format: number;
  blocks: number;
  groups: number;
  channels: number;
  batchBytes: number;
  codes: number;
  factors: number;
}

const data = workerData as WorkerData;
const port = data.port as MessagePort;
const control = new Int32Array(data.control);
const heap = new OwnHeap();
const kernels = new WebAssembly.Instance(data.module, { env: { memory: heap.memory } }).exports as unknown as KernelExports;
const shares = new Map<number, Share>();
/** Why a share could not be made (reported by the product that needs it). */
const shareErrors = new Map<number, string>();
const buffers = new Map<string, { ptr: number; bytes: number }>();
let io: SharedArrayBuffer | undefined;

function buffer(name: string, bytes: number): number {
  const have = buffers.get(name);
  if (have && have.bytes >= bytes) return have.ptr;
  if (have) heap.free(have.ptr);
  const size = Math.max(bytes, Math.ceil((have?.bytes ?? 0) * 1.5), 64);
  const ptr = heap.malloc(size);
  buffers.set(name, { ptr, bytes: size });
  return ptr;
}

function share(m: ShareWeight): void {
  const codes = heap.malloc(m.codes.byteLength);
  new Uint8Array(heap.memory.buffer, codes, m.codes.byteLength).set(m.codes);
  const factors = heap.malloc(m.factors.byteLength);
  new Float64Array(heap.memory.buffer, factors, m.factors.length).set(m.factors);
  shares.set(m.id, {
    format: m.format, blocks: m.blocks, groups: m.groups, channels: m.channels, batchBytes: m.codes.byteLength / m.batch,
    codes, factors,
  });
}

function forget(id: number): void {
  shareErrors.delete(id);
  const s = shares.get(id);
  if (!s) return;
  heap.free(s.codes);
  heap.free(s.factors);
  shares.delete(id);
}

function product(m: RunProduct): void {
  const s = shares.get(m.id);
  if (!s) throw new Error(shareErrors.get(m.id) ?? `no share of weight ${m.id}`);
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

function report(state: number): void {
  Atomics.store(control, data.slot, state);
  Atomics.notify(control, data.slot);
}

parentPort!.on('message', (m: WorkerRequest) => {
  switch (m.op) {
    case 'weight':
      try {
        share(m);
      } catch (e) {
        shareErrors.set(m.id, `sharing weight ${m.id} failed: ${(e as Error).message}`);
      }
      return;
    case 'forget':
      forget(m.id);
      return;
    case 'io':
      io = m.buffer;
      return;
    case 'bytes':
      new Float64Array(io!, m.at, 1)[0] = heap.allocatedBytes;
      report(DONE);
      return;
    case 'product':
      try {
        product(m);
        report(DONE);
      } catch (e) {
        port.postMessage({ error: (e as Error).message });
        report(FAILED);
      }
  }
});
