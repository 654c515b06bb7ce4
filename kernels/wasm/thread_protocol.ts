/**
 * What pbq-wasm's engine and its worker threads (thread_pool.ts, thread_worker.ts) say to each
 * other. Requests go by postMessage, in order; the big operands of a product (activation codes,
 * row meta, the workers' outputs) go through one SharedArrayBuffer, `io`; a worker reports a
 * finished product in its slot of the shared `control` array (DONE or FAILED, then
 * Atomics.notify), which the engine's thread waits on with Atomics.wait, and a failure's message
 * on its MessagePort.
 */

/** control[i]: worker i's state for the product in flight. */
export const IDLE = 0;
export const DONE = 1;
export const FAILED = 2;

export interface WorkerData {
  module: WebAssembly.Module;
  control: SharedArrayBuffer;
  /** this worker's slot in control */
  slot: number;
  /** where a failure's message goes (the engine reads it with receiveMessageOnPort) */
  port: unknown;
}

/** Groups [g0, g1) of every weight batch, packed codes and factors, copied into the worker. */
export interface ShareWeight {
  op: 'weight';
  id: number;
  format: number;
  blocks: number;
  batch: number;
  groups: number;
  channels: number;
  /** [batch][groups][blocks][GROUP][block bytes] */
  codes: Uint8Array;
  /** [batch][groups · GROUP] float64 */
  factors: Float64Array;
}

export interface ForgetWeight {
  op: 'forget';
  id: number;
}

export interface UseIo {
  op: 'io';
  buffer: SharedArrayBuffer;
}

/** One product on the worker's share of weight `id`; offsets are bytes into io. */
export interface RunProduct {
  op: 'product';
  id: number;
  wBatch: number;
  rows: number;
  digits: number;
  chunk: number;
  codesAt: number;
  codesBytes: number;
  metaAt: number;
  outAt: number;
  /** -1: no integers */
  intsAt: number;
}

/** Asks for the worker's allocated bytes, reported in io at `at` (float64), for leak tests. */
export interface ReportBytes {
  op: 'bytes';
  at: number;
}

export type WorkerRequest = ShareWeight | ForgetWeight | UseIo | RunProduct | ReportBytes;

export interface WorkerFailure {
  error: string;
}

/**
 * Splits `groups` channel groups into `parts` contiguous ranges as equal as the count allows
 * (the first ones one group larger): bounds[i]..bounds[i+1] is part i's range.
 */
export function splitGroups(groups: number, parts: number): number[] {
  const bounds = [0];
  for (let i = 0; i < parts; i++) bounds.push(bounds[i] + Math.floor(groups / parts) + (i < groups % parts ? 1 : 0));
  return bounds;
}

/** Byte offset rounded up to 16 (every region of io is 16-aligned). */
export function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
