/**
 * Issue 13, soak (short version of `npm run soak`, tools/soak/soak.ts): long runs of the Node
 * pbq backend on the bundled models leave tensors and process memory flat after warm-up, and
 * give the same outputs at the end as at the start.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerFileRouters } from '../src/io/file_io';
import { soakLstm, soakMnist, SoakResult, soakThreads } from '../tools/soak/soak';

registerFileRouters();

/** Tensors, ArrayBuffers and heap flat after warm-up (tools/soak/soak.ts isFlat), outputs stable. */
function expectFlat(r: SoakResult): void {
  expect(r.after.tensors).toBe(r.before.tensors);
  expect(r.after.arrayBuffersMB - r.before.arrayBuffersMB).toBeLessThan(1);
  expect(r.after.heapMB - r.before.heapMB).toBeLessThan(5);
  expect(r.stableOutputs).toBe(true);
}

function report(r: SoakResult): void {
  // eslint-disable-next-line no-console
  console.log(`${r.name}: ${r.calls} calls after ${r.warmup} warm-up in ${r.seconds.toFixed(1)} s; tensors ${r.before.tensors} -> ${r.after.tensors}, ` +
    `arrayBuffers ${r.before.arrayBuffersMB.toFixed(2)} -> ${r.after.arrayBuffersMB.toFixed(2)} MB, heap ${r.before.heapMB.toFixed(1)} -> ${r.after.heapMB.toFixed(1)} MB`);
}

it('1,000 MNIST MLP predictions: flat, same outputs at the end', async () => {
  const r = await soakMnist(1000);
  report(r);
  expectFlat(r);
  expect(tf.getBackend()).toBe('pbq');
});

it('400 LSTM LM steps: flat, same outputs at the end', async () => {
  const r = await soakLstm(400);
  report(r);
  expect(r.calls).toBe(400);
  expectFlat(r);
});

it("300 products on pbq-wasm's worker threads, a new weight every 25: flat, workers' memory too", async () => {
  const r = await soakThreads(300);
  report(r);
  expectFlat(r);
  expect(r.workersMB![0]).toBeGreaterThan(0.5); // a 1024×1024 W4 share and the kept buffers
  expect(r.workersMB![1] - r.workersMB![0]).toBeLessThan(1);
});
