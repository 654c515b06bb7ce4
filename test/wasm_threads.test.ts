/**
 * pbq-wasm's worker threads (kernels/wasm/thread_pool.ts): a product shared by threads equals
 * the TypeScript engine and the one-thread engine bit for bit, on every case of the engine's
 * suite and on shapes that split unevenly; the threshold, the settings, the workers' memory and
 * a lost worker behave as documented.
 */
import { loadWasmEngineSync, THREAD_MIN_WORK, threadWorkerLocation, WasmEngine } from '../kernels/wasm/engine';
import { ThreadPool } from '../kernels/wasm/thread_pool';
import { splitGroups } from '../kernels/wasm/thread_protocol';
import { quantizeWeights } from '../src/quantize';
import { allCases, randomFloats, runCases } from './wasm_engine_cases';

function threadedEngine(threads: number): WasmEngine {
  const engine = loadWasmEngineSync();
  engine.setThreads(threads);
  engine.threadMinWork = 0; // every codes product of two groups or more is shared
  return engine;
}

describe('threaded products equal the TypeScript engine', () => {
  for (const threads of [2, 3]) {
    it(`every case of the engine suite on ${threads} threads`, () => {
      const engine = threadedEngine(threads);
      const report = runCases(engine, allCases());
      expect(report.cases).toBeGreaterThan(600);
      expect(report.failed).toEqual([]);
      expect(engine.threadPool?.sharedWeights).toBe(0); // each case's weight was forgotten with it
      engine.dispose();
    });
  }

  it('uneven splits, padded last group, batched weights, two-digit activations: equal to one thread', () => {
    const one = loadWasmEngineSync();
    one.setThreads(1);
    const three = threadedEngine(3);
    const k = 100;
    for (const n of [8, 9, 31, 45]) {
      const w = quantizeWeights(randomFloats(2 * k * n, n, 0.5), { batch: 2, k, n, transposed: false }, 16);
      for (const [weightBits, activationBits] of [[4, 8], [8, 8], [16, 8], [3, 16], [12, 15]]) {
        for (const rows of [1, 3, 6, 9]) {
          const x = randomFloats(rows * k, rows + n);
          const layout = { rows, k, rowStride: k, colStride: 1 };
          const p1 = one.packWeight(w, weightBits);
          const p3 = three.packWeight(w, weightBits);
          const want = one.matMul(x, layout, p1, 1, activationBits, { integers: true });
          const got = three.matMul(x, layout, p3, 1, activationBits, { integers: true });
          expect(three.lastThreads).toBe(Math.min(3, Math.ceil(n / 4)));
          expect(three.lastProduct).toBe(one.lastProduct);
          expect(got.integers).toEqual(want.integers);
          expect(got.values).toEqual(want.values);
          p1.dispose();
          p3.dispose();
        }
      }
    }
    one.dispose();
    three.dispose();
  });
});

describe('when threads share a product', () => {
  it('splitGroups: contiguous ranges, sizes differing by at most one', () => {
    expect(splitGroups(7, 3)).toEqual([0, 3, 5, 7]);
    expect(splitGroups(2, 2)).toEqual([0, 1, 2]);
    expect(splitGroups(1024, 4)).toEqual([0, 256, 512, 768, 1024]);
  });

  it('only products of THREAD_MIN_WORK multiply-adds or more, of two groups or more, and never table products', () => {
    const engine = loadWasmEngineSync();
    engine.setThreads(2);
    const served = (rows: number, k: number, n: number, bits = 4) => {
      const p = engine.packWeight(quantizeWeights(randomFloats(k * n, n, 0.1), { batch: 1, k, n, transposed: false }, 8), bits);
      engine.matMul(randomFloats(rows * k, k), { rows, k, rowStride: k, colStride: 1 }, p, 0, 8);
      p.dispose();
      return engine.lastThreads;
    };
    expect(THREAD_MIN_WORK).toBe(2 ** 22);
    expect([served(16, 512, 511), served(16, 512, 512), served(4, 1024, 1024), served(1, 64, 4)]).toEqual([1, 2, 2, 1]);
    engine.threadMinWork = 0;
    expect([served(1, 64, 8), served(1, 64, 8, 2), served(1, 64, 8, 1), served(1, 64, 4)]).toEqual([2, 1, 1, 1]);
    engine.dispose();
  });

  it('setThreads: 1 from the start runs no workers, 1 later leaves them idle, a new count restarts them, bad counts are refused', () => {
    const engine = threadedEngine(2);
    expect(engine.threads).toBe(2);
    const w = quantizeWeights(randomFloats(64 * 16, 1), { batch: 1, k: 64, n: 16, transposed: false }, 8);
    const p = engine.packWeight(w, 8);
    engine.matMul(randomFloats(64 * 5, 2), { rows: 5, k: 64, rowStride: 64, colStride: 1 }, p, 0, 8);
    const pool = engine.threadPool!;
    expect([pool.threads, pool.sharedWeights]).toEqual([2, 1]);
    engine.setThreads(3);
    expect(pool.terminated).toBe(true);
    engine.matMul(randomFloats(64 * 5, 2), { rows: 5, k: 64, rowStride: 64, colStride: 1 }, p, 0, 8);
    expect([engine.lastThreads, engine.threadPool!.threads]).toEqual([3, 3]);
    const three = engine.threadPool!;
    engine.setThreads(1); // idle, kept for a return to 3
    engine.matMul(randomFloats(64 * 5, 2), { rows: 5, k: 64, rowStride: 64, colStride: 1 }, p, 0, 8);
    expect([engine.lastThreads, engine.threads, three.terminated]).toEqual([1, 1, false]);
    engine.setThreads(3);
    engine.matMul(randomFloats(64 * 5, 2), { rows: 5, k: 64, rowStride: 64, colStride: 1 }, p, 0, 8);
    expect([engine.lastThreads, engine.threadPool === three]).toEqual([3, true]);
    const fresh = loadWasmEngineSync();
    fresh.setThreads(1);
    fresh.threadMinWork = 0;
    const pf = fresh.packWeight(w, 8);
    fresh.matMul(randomFloats(64 * 5, 2), { rows: 5, k: 64, rowStride: 64, colStride: 1 }, pf, 0, 8);
    expect(fresh.threadPool).toBeUndefined(); // one thread from the start: no workers at all
    pf.dispose();
    fresh.dispose();
    expect(() => engine.setThreads(17)).toThrow('pbq-wasm: threads must be an integer in 0..16, got 17');
    expect(() => engine.setThreads(1.5)).toThrow('pbq-wasm: threads must be an integer in 0..16, got 1.5');
    engine.setThreads(0);
    expect(engine.threads).toBe(Math.min(4, require('os').availableParallelism()));
    p.dispose();
    engine.dispose();
  });

  it('startThreads starts the workers ahead (what a page does at setBackend); 1 starts none', async () => {
    const engine = loadWasmEngineSync();
    await engine.startThreads(1);
    expect(engine.threadPool).toBeUndefined();
    await engine.startThreads(3);
    expect([engine.threadPool?.threads, engine.threadPool?.sharedWeights, engine.threads]).toEqual([3, 0, 3]);
    engine.dispose();
    expect(engine.threadPool).toBeUndefined();
  });

  it("the workers' memory: a weight's share is freed with it, kept buffers do not grow", () => {
    const engine = threadedEngine(3);
    const w = quantizeWeights(randomFloats(512 * 64, 3), { batch: 1, k: 512, n: 64, transposed: false }, 8);
    const cycle = () => {
      const p = engine.packWeight(w, 8);
      engine.matMul(randomFloats(8 * 512, 4), { rows: 8, k: 512, rowStride: 512, colStride: 1 }, p, 0, 8, { integers: true });
      p.dispose();
    };
    cycle();
    const after1 = engine.threadPool!.workerBytes();
    for (let i = 0; i < 5; i++) cycle();
    expect(engine.threadPool!.workerBytes()).toEqual(after1);
    const p = engine.packWeight(w, 8);
    engine.matMul(randomFloats(8 * 512, 4), { rows: 8, k: 512, rowStride: 512, colStride: 1 }, p, 0, 8);
    const held = engine.threadPool!.workerBytes();
    // worker i holds its groups' int8 codes (512 bytes a channel) and factors (8 bytes a channel)
    const bounds = splitGroups(64 / 4, 3);
    for (let i = 1; i <= 2; i++) expect(held[i - 1] - after1[i - 1]).toBe((bounds[i + 1] - bounds[i]) * 4 * (512 + 8));
    // the weight's bytes count those copies: 64 channels of codes and factors, of which the workers hold 2 ranges
    expect(p.threadBytes).toBe((bounds[3] - bounds[1]) * 4 * (512 + 8));
    expect(p.bytes).toBe(64 * (512 + 8) + p.threadBytes);
    p.dispose();
    expect(p.threadBytes).toBe(0);
    expect(engine.threadPool!.workerBytes()).toEqual(after1);
    engine.dispose();
  });

  it('a worker that exits turns threads off: the engine goes on, exactly, on one thread', async () => {
    const engine = threadedEngine(2);
    const w = quantizeWeights(randomFloats(64 * 16, 5), { batch: 1, k: 64, n: 16, transposed: false }, 8);
    const p = engine.packWeight(w, 8);
    const x = randomFloats(64 * 6, 6);
    const layout = { rows: 6, k: 64, rowStride: 64, colStride: 1 };
    const want = engine.matMul(x, layout, p, 0, 8).values;
    expect(engine.lastThreads).toBe(2);
    const pool = engine.threadPool!;
    (pool as unknown as { workers: Array<{ terminate(): void }> }).workers[0].terminate();
    for (let i = 0; i < 200 && !pool.terminated; i++) await new Promise((resolve) => setTimeout(resolve, 10)); // its 'exit' event
    expect(pool.terminated).toBe(true);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(engine.matMul(x, layout, p, 0, 8).values).toEqual(want);
    expect(warn).toHaveBeenCalledWith('pbq-wasm: a worker thread exited; products run on one thread from now on');
    warn.mockRestore();
    expect([engine.lastThreads, engine.threads, engine.threadPool]).toEqual([1, 1, undefined]);
    p.dispose();
    engine.dispose();
  });

  it('a worker that fails during a product: its range runs here, the output is whole and exact, threads go off', () => {
    const engine = threadedEngine(3);
    const w = quantizeWeights(randomFloats(64 * 40, 7), { batch: 1, k: 64, n: 40, transposed: false }, 8);
    const p = engine.packWeight(w, 8);
    const x = randomFloats(64 * 6, 8);
    const layout = { rows: 6, k: 64, rowStride: 64, colStride: 1 };
    const want = engine.matMul(x, layout, p, 0, 8, { integers: true });
    expect(engine.lastThreads).toBe(3);
    // the second worker loses its share behind the pool's back: its next product fails
    const pool = engine.threadPool as unknown as { workers: Array<{ post(m: unknown, transfer: ArrayBuffer[]): void }> };
    pool.workers[1].post({ op: 'forget', id: 1 }, []);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const got = engine.matMul(x, layout, p, 0, 8, { integers: true });
    expect(got.values).toEqual(want.values);
    expect(got.integers).toEqual(want.integers);
    expect(engine.threadsOffReason).toBe('worker thread 2 failed: no share of weight 1');
    expect(warn).toHaveBeenCalledWith('pbq-wasm: worker thread 2 failed: no share of weight 1; products run on one thread from now on');
    warn.mockRestore();
    expect([engine.threads, engine.threadPool]).toEqual([1, undefined]);
    expect(engine.matMul(x, layout, p, 0, 8).values).toEqual(want.values);
    expect(engine.lastThreads).toBe(1);
    p.dispose();
    engine.dispose();
  });

  it('a worker that cannot take its share of a weight: the product runs here, exact, and threads go off', async () => {
    const engine = threadedEngine(2);
    await engine.startThreads(2);
    // the worker loses its io buffer: the next share it is sent fails
    (engine.threadPool as unknown as { workers: Array<{ post(m: unknown, transfer: ArrayBuffer[]): void }> })
      .workers[0].post({ op: 'io', buffer: undefined }, []);
    const w = quantizeWeights(randomFloats(64 * 16, 11), { batch: 1, k: 64, n: 16, transposed: false }, 8);
    const x = randomFloats(64 * 5, 12);
    const layout = { rows: 5, k: 64, rowStride: 64, colStride: 1 };
    const one = loadWasmEngineSync();
    one.setThreads(1);
    const want = one.matMul(x, layout, one.packWeight(w, 8), 0, 8, { integers: true });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const p = engine.packWeight(w, 8);
    const got = engine.matMul(x, layout, p, 0, 8, { integers: true });
    expect([got.values, got.integers]).toEqual([want.values, want.integers]);
    expect(engine.threadsOffReason).toBe('worker thread 1 failed: sharing weight 1 failed: no io buffer');
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
    expect([engine.threads, p.threadBytes]).toEqual([1, 0]);
    p.dispose();
    engine.dispose();
    one.dispose();
  });

  it('an engine collected without dispose() stops its workers', async () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('v8').setFlagsFromString('--expose-gc');
    const gc = require('vm').runInNewContext('gc') as () => void;
    const pool = (() => {
      const engine = threadedEngine(2);
      const w = quantizeWeights(randomFloats(64 * 16, 9), { batch: 1, k: 64, n: 16, transposed: false }, 8);
      engine.matMul(randomFloats(64 * 5, 10), { rows: 5, k: 64, rowStride: 64, colStride: 1 }, engine.packWeight(w, 8), 0, 8);
      return engine.threadPool!;
    })();
    for (let i = 0; i < 50 && !pool.terminated; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(pool.terminated).toBe(true);
  });

  it('a missing worker bundle is reported by name', () => {
    expect(() => new ThreadPool(new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])), 2, '/nonexistent/pbq_thread.js'))
      .toThrow('pbq-wasm: /nonexistent/pbq_thread.js not found: build it with `npm run build:wasm`');
    expect(threadWorkerLocation()).toMatch(/kernels[/\\]wasm[/\\]build[/\\]pbq_thread\.js$/);
  });
});
