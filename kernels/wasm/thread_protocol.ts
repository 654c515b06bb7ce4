/**
 * What pbq-wasm's engine and its worker threads (thread_pool.ts, thread_worker.ts) say to each
 * other, in Node (worker_threads) and in browsers (Web Workers). Requests go by postMessage, in
 * order; the big operands of a product (activation codes, row meta, the workers' outputs) go
 * through one SharedArrayBuffer, `io`; a worker reports a finished product in its slot of the
 * shared `control` array (DONE or FAILED, then Atomics.notify), which the engine's thread waits
 * on (Atomics.wait, or a spin where a page's main thread may not block), and a failure's
 * message in its slot of the shared `errors` buffer.
 */

/** control[i]: worker i's state for the product in flight. */
export const IDLE = 0;
export const DONE = 1;
export const FAILED = 2;
/** Bytes of each worker's slot in `errors`: a uint32 length, then UTF-8. */
export const ERROR_BYTES = 1024;

export interface WorkerData {
  module: WebAssembly.Module;
  control: SharedArrayBuffer;
  errors: SharedArrayBuffer;
  /** this worker's slot in control and errors */
  slot: number;
}

/** A browser worker's first message (a Node worker gets the same as its workerData). */
export interface InitWorker {
  op: 'init';
  data: WorkerData;
}

/**
 * Groups [g0, g1) of every weight batch, packed codes and factors, in io (codes at 0), for the
 * worker to copy into its memory; it reports DONE (or FAILED) before io is used again.
 */
export interface ShareWeight {
  op: 'weight';
  id: number;
  format: number;
  blocks: number;
  batch: number;
  groups: number;
  channels: number;
  /** bytes of the codes, [batch][groups][blocks][GROUP][block bytes], at io offset 0 */
  codesBytes: number;
  /** io offset of the factors, [batch][groups · GROUP] float64 */
  factorsAt: number;
  factorCount: number;
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

export type WorkerRequest = InitWorker | ShareWeight | ForgetWeight | UseIo | RunProduct | ReportBytes;

/** Writes `message` into slot `slot` of `errors` (cut to fit). */
export function writeError(errors: SharedArrayBuffer, slot: number, message: string): void {
  const bytes = new TextEncoder().encode(message).subarray(0, ERROR_BYTES - 4);
  new Uint32Array(errors, slot * ERROR_BYTES, 1)[0] = bytes.length;
  new Uint8Array(errors, slot * ERROR_BYTES + 4, bytes.length).set(bytes);
}

/** The message in slot `slot` of `errors`. */
export function readError(errors: SharedArrayBuffer, slot: number): string {
  const length = Math.min(new Uint32Array(errors, slot * ERROR_BYTES, 1)[0], ERROR_BYTES - 4);
  // copied out first: TextDecoder does not read shared memory
  return new TextDecoder().decode(new Uint8Array(errors, slot * ERROR_BYTES + 4, length).slice());
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
