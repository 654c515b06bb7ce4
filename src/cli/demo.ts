/**
 * `npm start` (until the bundled models land): a quantized matmul at several bit widths, with
 * its error against float32 and its time, on the pbq backend of this environment.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as pbq from '../index';

function relativeRms(got: Float32Array, want: Float32Array): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < want.length; i++) {
    err += (got[i] - want[i]) ** 2;
    ref += want[i] ** 2;
  }
  return Math.sqrt(err / ref);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const [m, k, n] = [1, 1024, 1024];
  await tf.setBackend('cpu');
  const x = tf.randomNormal([m, k], 0, 1, 'float32', 1);
  const w = tf.variable(tf.randomNormal([k, n], 0, 1 / Math.sqrt(k), 'float32', 2));
  const reference = tf.matMul(x, w).dataSync() as Float32Array;
  const floatMs = median(Array.from({ length: 5 }, () => {
    const t0 = performance.now();
    tf.matMul(x, w).dataSync();
    return performance.now() - t0;
  }));
  await tf.setBackend('pbq');
  console.log(`pbq ${pbq.BACKEND_NAME} on ${pbq.detectBaseKind()}: y = x·W, x ${m}×${k}, W ${k}×${n} (random normal)`);
  console.log(`float32 (tfjs cpu): ${floatMs.toFixed(2)} ms\n`);
  console.log('weight bits | activation bits | rel. RMS error vs float32 | weight bytes | ms (median of 5)');
  console.log('----------- | --------------- | ------------------------- | ------------ | ----------------');
  for (const activationBits of [8, 16]) {
    for (const weightBits of [1, 2, 4, 8, 16]) {
      pbq.configure({ weightBits, activationBits });
      const times: number[] = [];
      let y: Float32Array = new Float32Array(0);
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        y = tf.tidy(() => tf.matMul(x, w).dataSync() as Float32Array);
        times.push(performance.now() - t0);
      }
      const bytes = (weightBits * k * n) / 8 + 4 * n;
      console.log(`${String(weightBits).padStart(11)} | ${String(activationBits).padStart(15)} | ` +
        `${relativeRms(y, reference).toExponential(2).padStart(25)} | ${String(bytes).padStart(12)} | ${median(times).toFixed(2).padStart(16)}`);
    }
  }
  console.log(`\nfloat32 weights: ${4 * k * n} bytes. Fewer weight bits: fewer planes to read, more error.`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
