/**
 * pbq-webgl's programs as programs (headless Chromium, SwiftShader): a new batch size or a new
 * weight shape compiles no new pbq program (shapes are uniforms), the raw program and scratch
 * caches stay within their bounds and delete what they evict, and the raw passes show in
 * tf.time() / tf.profile(). Page: pages/programs_page.ts (one fresh page per measurement: tfjs's
 * binary cache is per page).
 */
import * as path from 'path';
import { closeBrowser, openPage, PageHandle } from '../../tools/harness/browser';
import * as pbq from '../../src/index';

const PAGE = path.join(__dirname, 'pages', 'programs_page.ts');

async function withPage<T>(run: (page: PageHandle) => Promise<T>): Promise<T> {
  const page = await openPage(PAGE);
  try {
    return await run(page);
  } finally {
    await page.close();
  }
}

afterAll(closeBrowser);

type Compiled = Array<{ size: number; all: number; pbq: number }>;


describe('programs compiled per new batch size', () => {
  it('MLP under every product: none of pbq\'s for a third batch size and beyond; fewer in all than stock webgl', async () => {
    const stock: Compiled = await withPage((p) => p.call('mlpBatches', 'webgl', 'auto', [1, 2, 3, 5]));
    process.stderr.write(`programs compiled at batch 1, 2, 3, 5 (all / pbq's): webgl ${stock.map((s) => s.all).join(', ')}\n`);
    // stock webgl compiles its matmul, bias and relu programs again for every batch size
    expect(stock.slice(2).every((s) => s.all >= 3)).toBe(true);
    for (const product of pbq.WEBGL_PRODUCTS) {
      const got: Compiled = await withPage((p) => p.call('mlpBatches', 'pbq', product, [1, 2, 3, 5]));
      process.stderr.write(`  pbq ${product}: ${got.map((s) => `${s.all} / ${s.pbq}`).join(', ')}\n`);
      // batch 2 compiles, once, the tfjs programs whose inputs had a dimension of 1 at batch 1
      // (tfjs's keys record size-1 dimensions) and, for the raw products, the multi-row variant
      // of each layer's product pass (batch 1 has its own: raw_layout.ts productCoordsGLSL)
      expect({ product, batch2: got[1].pbq }).toEqual({ product, batch2: product === 'sampler' ? 6 : 8 });
      expect({ product, later: got.slice(2).map((s) => s.pbq) }).toEqual({ product, later: [0, 0] });
      // what remains is tfjs's upload of the input and read-back of the output, which stock webgl compiles too
      expect({ product, later: got.slice(2).map((s) => s.all) }).toEqual({ product, later: [2, 2] });
      for (const i of [2, 3]) expect(got[i].all).toBeLessThan(stock[i].all);
    }
  });

  it('fused LSTM steps: none of pbq\'s for a third batch size and beyond', async () => {
    const got: Compiled = await withPage((p) => p.call('lstmBatches', [1, 2, 3, 4]));
    expect(got[0].pbq).toBeGreaterThan(0);
    expect(got.slice(2).map((s) => s.pbq)).toEqual([0, 0]);
  });
});

describe('bounded caches', () => {
  it('distinct weight shapes keep the raw program cache within its bound, delete evicted programs, stay right', async () => {
    const ks = [40, 72, 100, 130, 170, 200, 230, 260, 300, 333]; // 2..11 words: no two share a product pass
    const r = await withPage((p) => p.call('boundedPrograms', 6, ks, 3));
    expect(r.capacity).toBe(6);
    // every shape compiles its pack and product pass; the tfjs programs are shape-free
    expect(r.steps.map((s: { size: number }) => s.size)).toEqual([2, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6]);
    expect(r.steps.map((s: { rawCompiled: number }) => s.rawCompiled)).toEqual(Array(13).fill(2));
    expect(r.steps.slice(1).map((s: { tfjsCompiled: number }) => s.tfjsCompiled)).toEqual(Array(12).fill(0));
    expect(r.evictions).toBe(26 - 6);
    expect(r.programsSeen).toBe(26);
    expect(r.evicted).toBe(20);
    expect(r.evictedStillPrograms).toBe(0);
    expect(r.liveArePrograms).toBe(true);
    for (const s of r.steps) expect(s.relError).toBeLessThanOrEqual(4e-6);
    // the revisited shapes were evicted and compiled again: same results to the bit
    expect(r.steps.slice(ks.length).map((s: { sameAsFirst: boolean }) => s.sameAsFirst)).toEqual([true, true, true]);
  });

  it('scratch textures of distinct batch sizes stay within their bound and evicted ones are deleted', async () => {
    const batches = Array.from({ length: 14 }, (_, i) => i + 1);
    const r = await withPage((p) => p.call('boundedScratch', batches));
    expect(r.capacity).toBe(8);
    expect(Math.max(...r.sizes)).toBe(8);
    // 14 activation layouts and 9 product targets (batches 1..14 × 2 channel groups: 9 distinct grids)
    expect(r.seen).toBe(23);
    expect(r.evicted).toBe(23 - 8);
    expect(r.evictedStillTextures).toBe(0);
  });
});

describe('timers', () => {
  const RAW_PASSES: Record<string, string[]> = {
    planes: ['PlanesPack', 'PlanesProduct'], codes: ['CodesPack', 'CodesProduct'], pairs: ['PairsPack', 'PairsProduct'],
    auto: ['PairsPack', 'PairsProduct'], sampler: [],
  };

  it('tf.time() and tf.profile() of a pbq matmul include its raw passes', async () => {
    await withPage(async (page) => {
      for (const product of pbq.WEBGL_PRODUCTS) {
        const r = await page.call('timers', product);
        expect(r.timerReliable).toBe(true); // EXT_disjoint_timer_query_webgl2: GPU times
        for (const t of [r.time, r.profile]) {
          const names = t.programs.map((x: { name: string }) => x.name);
          expect({ product, names: names.filter((n: string) => RAW_PASSES[product].includes(n)) }).toEqual({ product, names: RAW_PASSES[product] });
          expect(names).toContain(product === 'sampler' ? 'SamplerProductProgram' : 'EpilogueProgram');
          const sum = t.programs.reduce((s: number, x: { ms: number }) => s + x.ms, 0);
          expect(t.kernelMs).toBeGreaterThan(0);
          if (t === r.time) expect(t.kernelMs).toBeCloseTo(sum, 3);
          for (const raw of t.programs.filter((x: { name: string }) => RAW_PASSES[product].includes(x.name))) expect(raw.ms).toBeGreaterThan(0);
        }
      }
    });
  });
});
