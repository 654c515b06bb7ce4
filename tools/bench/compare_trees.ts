/**
 * `npx ts-node --transpile-only tools/bench/compare_trees.ts <other checkout> [--only 1x4096x4096,mlp-784-4096-4096-10-b1,lstm] [--samples 5]`
 *
 * Before/after in one run: the bench page of this checkout and that of another one (e.g. a
 * `git archive main` with node_modules linked to this one's) open side by side in one headless
 * Chromium, their pbq-glsl contenders (and this checkout's webgl-f32 as the reference) measured
 * interleaved by bench.ts's measure(). Prints one line per figure and the ratios other/this of
 * the medians and of the minima (> 1: this checkout is faster; under load the minimum is the
 * steadier estimate: the noise is time taken by other jobs, which only adds). Shapes: those of bench.ts and the browser MLP (batch 1) and LM.
 */
import * as path from 'path';
import { openPage, closeBrowser, PageHandle } from '../harness/browser';
import { ALL_SETTINGS, FigureRecord, Item, measure, Options, Setting, shapesFor, wanted } from './bench';
import { LM_FIGURE } from './bench_data';

type Call = <T>(fn: string, ...args: unknown[]) => Promise<T>;

function caller(page: PageHandle): Call {
  return <T>(fn: string, ...args: unknown[]) => page.callWithTimeout<T>(30 * 60 * 1000, fn, ...args);
}

/** The contenders of one figure on both pages: (other, this) per setting, then this page's float reference. */
function items(pages: Array<{ name: string; call: Call }>, reference: Item, run: (call: Call, contender: string, s: Setting | null, reps: number) => Promise<number>): Item[] {
  const out: Item[] = [];
  for (const s of ALL_SETTINGS) {
    for (const p of pages) {
      out.push({ contender: `${p.name}:pbq-glsl`, setting: s, run: (reps) => run(p.call, 'pbq-glsl', s, reps), weightBytes: async () => 0 });
    }
  }
  return [...out, reference];
}

function ratios(records: FigureRecord[], names: string[]): void {
  for (const s of ALL_SETTINGS) {
    const [other, self] = names.map((n) => records.find((r) => r.contender === `${n}:pbq-glsl` && r.weightBits === s.weightBits && r.activationBits === s.activationBits)!);
    const min = (r: FigureRecord) => Math.min(...r.msSamples);
    process.stdout.write(`    W${s.weightBits}A${s.activationBits}: median ${names[0]} ${other.msMedian.toFixed(2)} ms, ${names[1]} ` +
      `${self.msMedian.toFixed(2)} ms, ${names[0]}/${names[1]} = ${(other.msMedian / self.msMedian).toFixed(2)}; min ` +
      `${min(other).toFixed(2)} / ${min(self).toFixed(2)} = ${(min(other) / min(self)).toFixed(2)}\n`);
  }
}

async function main() {
  const args = process.argv.slice(2);
  const value = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const otherTree = args[0];
  if (!otherTree || otherTree.startsWith('--')) throw new Error('usage: compare_trees.ts <other checkout> [--only a,b] [--samples n]');
  const opt: Options = { quick: false, samples: Number(value('--samples') ?? 5), targetMs: 60, only: value('--only')?.split(',') };
  const other = await openPage(path.resolve(otherTree, 'tools/bench/bench_page.ts'), { label: 'other', callTimeoutMs: 30 * 60 * 1000 });
  const self = await openPage(path.join(__dirname, 'bench_page.ts'), { label: 'this', callTimeoutMs: 30 * 60 * 1000 });
  const pages = [{ name: 'other', call: caller(other) }, { name: 'this', call: caller(self) }];
  const names = pages.map((p) => p.name);
  const both = (fn: string, ...a: unknown[]) => Promise.all(pages.map((p) => p.call(fn, ...a)));
  try {
    for (const sh of shapesFor(false).filter((x) => wanted(opt, x.name) && x.m === 1)) {
      await both('prepareMatMul', sh.name, sh.m, sh.k, sh.n, 7);
      const reference: Item = { contender: 'webgl-f32', setting: null, run: (reps) => pages[1].call('timeMatMul', sh.name, 'webgl-f32', null, reps), weightBytes: async () => 1 };
      ratios(await measure('browser', sh.name, items(pages, reference, (call, c, s, reps) => call('timeMatMul', sh.name, c, s, reps)), 'webgl-f32', opt, 1), names);
      await both('disposeMatMul', sh.name);
    }
    if (wanted(opt, 'mlp-784-4096-4096-10-b1')) {
      await both('prepareMLP', 1);
      const reference: Item = { contender: 'webgl-f32', setting: null, run: (reps) => pages[1].call('timeMLP', 1, 'webgl-f32', null, reps), weightBytes: async () => 1 };
      ratios(await measure('browser', 'mlp-784-4096-4096-10-b1', items(pages, reference, (call, c, s, reps) => call('timeMLP', 1, c, s, reps)), 'webgl-f32', opt, 1), names);
    }
    if (wanted(opt, LM_FIGURE)) {
      await both('prepareLM');
      const reference: Item = { contender: 'webgl-f32', setting: null, run: (reps) => pages[1].call('timeLM', 'webgl-f32', null, reps), weightBytes: async () => 1 };
      ratios(await measure('browser', LM_FIGURE, items(pages, reference, (call, c, s, reps) => call('timeLM', c, s, reps)), 'webgl-f32', opt, 1), names);
    }
  } finally {
    await other.close();
    await self.close();
    await closeBrowser();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
