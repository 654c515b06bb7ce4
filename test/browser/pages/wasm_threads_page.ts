/**
 * Page entry for wasm_threads.test.ts: pbq-wasm's worker threads (Web Workers) in a page, which
 * the test serves cross-origin isolated or not.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths as setTfjsWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as pbq from '../../../src/index';
import type { PbqBackendWasm } from '../../../src/backend_wasm';
import { contextOf } from '../../../kernels/wasm/context';
import { loadWasmEngine, setWasmPaths, WasmEngine } from '../../../kernels/wasm/engine';
import { threadsSupported } from '../../../kernels/wasm/thread_pool';
import { quantizeWeights } from '../../../src/quantize';
import { allCases, randomFloats, runCases } from '../../wasm_engine_cases';

declare global {
  interface Window {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    [k: string]: any;
  }
}

setWasmPaths('/fs/kernels/wasm/build/');
setTfjsWasmPaths('/fs/node_modules/@tensorflow/tfjs-backend-wasm/dist/');

async function threadedEngine(threads: number): Promise<WasmEngine> {
  const engine = await loadWasmEngine();
  await engine.startThreads(threads);
  engine.threadMinWork = 0;
  return engine;
}

window.threadsInfo = async () => {
  const engine = await threadedEngine(2);
  const info = { isolated: crossOriginIsolated, supported: threadsSupported(), threads: engine.threads };
  engine.dispose();
  return info;
};

/** The engine's whole case suite on `threads` threads against the TypeScript engine. */
window.threadedSuite = async (threads: number) => {
  const engine = await threadedEngine(threads);
  const report = runCases(engine, allCases());
  const result = { cases: report.cases, failed: report.failed, threads: engine.threads, shared: engine.threadPool?.sharedWeights };
  engine.dispose();
  return result;
};

/** One product of 9 rows × 45 channels (uneven ranges, a padded group) on 1 and 3 threads. */
window.threadedProduct = async () => {
  const one = await loadWasmEngine();
  const three = await threadedEngine(3);
  const k = 100;
  const w = quantizeWeights(randomFloats(2 * k * 45, 3, 0.5), { batch: 2, k, n: 45, transposed: false }, 8);
  const x = randomFloats(9 * k, 4);
  const layout = { rows: 9, k, rowStride: k, colStride: 1 };
  const [p1, p3] = [one.packWeight(w, 8), three.packWeight(w, 8)];
  const want = one.matMul(x, layout, p1, 1, 8, { integers: true });
  const got = three.matMul(x, layout, p3, 1, 8, { integers: true });
  const result = {
    lastThreads: [one.lastThreads, three.lastThreads],
    sameValues: want.values.every((v, i) => Object.is(v, got.values[i])),
    sameIntegers: want.integers!.every((v, i) => v === got.integers![i]),
  };
  one.dispose();
  three.dispose();
  return result;
};

/** A worker script that is not there: startThreads rejects with its URL. */
window.missingWorker = async () => {
  const bytes = await (await fetch('/fs/kernels/wasm/build/pbq_simd.wasm')).arrayBuffer();
  setWasmPaths('/fs/no/such/');
  const engine = await loadWasmEngine({ bytes });
  try {
    await engine.startThreads(2);
    return 'started';
  } catch (e) {
    return (e as Error).message;
  } finally {
    setWasmPaths('/fs/kernels/wasm/build/');
    engine.dispose();
  }
};

/** tf.matMul on pbq-wasm (threads from wasmThreads at setBackend) equals pbq-cpu bit for bit. */
window.backendProduct = async (wasmThreads: number) => {
  pbq.configure({ wasmThreads, weightBits: 4 });
  const a = randomFloats(24 * 520, 5);
  const b = randomFloats(520 * 403, 6, 0.2);
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const w = tf.variable(tf.tensor2d(b, [520, 403]));
    const y = tf.matMul(tf.tensor2d(a, [24, 520]), w);
    const values = await y.data();
    tf.dispose([y, w]);
    return values;
  };
  const cpu = await run('pbq-cpu');
  const wasm = await run('pbq-wasm');
  const engine = contextOf(tf.engine().findBackend('pbq-wasm') as PbqBackendWasm).engine;
  return { same: cpu.every((v, i) => Object.is(v, wasm[i])), lastThreads: engine.lastThreads, threads: pbq.wasmThreadCount() };
};
