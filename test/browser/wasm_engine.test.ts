/**
 * The WebAssembly engine in headless Chromium equals the TypeScript engine bit for bit (the same
 * cases as test/wasm_engine.test.ts, run in the page), loading the module the browser ways:
 * fetched from a served folder (setWasmPaths), from bytes, from a compiled Module.
 */
import * as path from 'path';
import { closeBrowser, openPage, PageHandle } from '../../tools/harness/browser';

describe('wasm engine in Chromium', () => {
  let p: PageHandle;

  beforeAll(async () => {
    p = await openPage(path.join(__dirname, 'pages', 'wasm_engine_page.ts'), { callTimeoutMs: 300_000 });
  }, 180_000);

  afterAll(async () => {
    await p?.close();
    await closeBrowser();
  });

  for (const suite of ['everyWidth', 'randomShapes', 'extreme', 'specialRows', 'layouts']) {
    it(`${suite}: d and y equal the TypeScript engine`, async () => {
      const report = await p.call('wasmEngineSuite', suite);
      expect(report.outputs).toBeGreaterThan(0);
      expect(report.failed).toEqual([]);
    });
  }

  it('loads from bytes and from a compiled Module; a missing file is named', async () => {
    const reports = await p.call('wasmEngineSources');
    expect(reports).toHaveLength(2);
    for (const r of reports) {
      expect(r.cases).toBe(2);
      expect(r.failed).toEqual([]);
    }
    expect(await p.call('wasmEngineMissing')).toBe('pbq-wasm: fetching /fs/no/such.wasm failed: 404 Not Found');
  });
});
