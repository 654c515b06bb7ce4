/**
 * The converter runs its float model on tfjs' `cpu` backend, but the backend is global: if it
 * stayed switched across an `await`, pbq inference running in another async task would silently
 * run unquantized on `cpu`. So the converter switches only around synchronous blocks, and
 * switches back before any other task can run.
 *
 * tfjs-core's Engine.setBackend does all its work synchronously for a backend that is already
 * initialized (the promise only reports it); `switchNow` relies on that and checks it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

function switchNow(name: string): void {
  if (tf.getBackend() === name) return;
  if (tf.findBackend(name) === null) throw new Error(`pbq convert: backend '${name}' cannot be initialized synchronously`);
  tf.setBackend(name).catch(() => undefined);
  if (tf.getBackend() !== name) throw new Error(`pbq convert: could not switch to backend '${name}' synchronously`);
}

/** Runs the synchronous `fn` on the cpu backend and restores the previous backend before returning. */
export function onCpuBackend<T>(fn: () => T): T {
  const previous = tf.getBackend();
  switchNow('cpu');
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('pbq convert: onCpuBackend takes a synchronous function');
    return result;
  } finally {
    switchNow(previous);
  }
}
