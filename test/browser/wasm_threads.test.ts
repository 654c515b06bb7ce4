/**
 * pbq-wasm's worker threads in Chromium: in a cross-origin isolated page Web Workers share the
 * large products and the results equal the TypeScript engine and the one-thread engine bit for
 * bit (engine and backend); a page that is not isolated runs one thread.
 */
import * as path from 'path';
import { closeBrowser, openPage, PageHandle } from '../../tools/harness/browser';

const PAGE = path.join(__dirname, 'pages', 'wasm_threads_page.ts');

describe('pbq-wasm threads in a cross-origin isolated page', () => {
  let p: PageHandle;

  beforeAll(async () => {
    p = await openPage(PAGE, { isolated: true, callTimeoutMs: 300_000 });
  }, 180_000);

  afterAll(async () => {
    await p?.close();
    await closeBrowser();
  });

  it('the page is isolated and the engine starts its workers', async () => {
    expect(await p.call('threadsInfo')).toEqual({ isolated: true, supported: true, threads: 2 });
  });

  for (const threads of [2, 3]) {
    it(`every case of the engine suite on ${threads} threads equals the TypeScript engine`, async () => {
      const r = await p.call('threadedSuite', threads);
      expect(r.cases).toBeGreaterThan(600);
      expect(r.failed).toEqual([]);
      expect([r.threads, r.shared]).toEqual([threads, 0]);
    });
  }

  it('uneven ranges, batched weights, integers: 3 threads equal 1', async () => {
    expect(await p.call('threadedProduct')).toEqual({ lastThreads: [1, 3], sameValues: true, sameIntegers: true });
  });

  it('a worker script that is not there is named', async () => {
    expect(await p.call('missingWorker')).toBe('pbq-wasm: the worker thread /fs/no/such/pbq_thread.js did not start');
  });

  it('tf.matMul on pbq-wasm with wasmThreads 2 equals pbq-cpu bit for bit, on 2 threads', async () => {
    expect(await p.call('backendProduct', 2)).toEqual({ same: true, lastThreads: 2, threads: 2 });
  });
});

describe('pbq-wasm threads in a page that is not isolated', () => {
  it('one thread: no shared memory', async () => {
    const p = await openPage(PAGE);
    try {
      expect(await p.call('threadsInfo')).toEqual({ isolated: false, supported: false, threads: 1 });
    } finally {
      await p.close();
      await closeBrowser();
    }
  }, 180_000);
});
