/**
 * `npm run bench [-- --quick] [-- --json <file>] [-- --out <dir>] [-- --no-browser|--no-node] [-- --only lstm,mlp]
 *   [-- --contenders wasm,pbq-wasm] [-- --isolated]`
 *
 * Every contender side by side in one run (timings on shared VMs drift between runs: compare
 * only figures of the same run). Browser: headless Chromium (WebGL 2; SwiftShader here) with
 * pbq GLSL, the pbq-f32-ref shader, stock webgl f32, pbq-wasm and stock wasm; WebGPU (when the
 * page has an adapter): pbq-webgpu and stock webgpu. Node: pbq CPU engine, stock cpu, pbq-wasm,
 * stock wasm. 64x4096x4096 runs only wasm and pbq-wasm. `--isolated` serves the page cross-origin
 * isolated: stock wasm then runs tfjs-backend-wasm's threaded build and pbq-wasm its Web Workers.
 * Each figure: a warm-up call (shader compile, weight quantization), then `samples` rounds in
 * which every contender of the shape runs once (interleaved), each sample timing a batch of
 * back-to-back calls; the figure is the median. speedupVsFloat32 divides the float32
 * contender's median (webgl-f32 in the browser, cpu in Node) by the figure's median.
 *
 * Writes <out>/latest.json, <out>/results.md and <out>/speedup.svg (default tools/bench/results).
 * End to end: the MLP 784-4096-4096-10 (batch 1 and 64) and the bundled LSTM LM (models/lstm-lm),
 * time per token of a 64-character window at batch 1 (full run only).
 */
import * as fs from 'fs';
import * as path from 'path';
import { closeBrowser, openPage, PageHandle } from '../harness/browser';
import { runNode } from './node_bench';
import { LM_FIGURE, LM_TOKENS } from './bench_data';
import { writeReports } from './report';

export interface Setting { weightBits: number; activationBits: number; accumulator?: { type: 'int'; bits: number; overflow: 'wrap' | 'saturate' } }

export interface FigureRecord {
  side: 'browser' | 'node';
  contender: string;
  shape: string;
  weightBits: number | null;
  activationBits: number | null;
  accumulator: string;
  msMedian: number;
  msSamples: number[];
  reps: number;
  speedupVsFloat32: number | null;
  weightBytes: number | null;
  weightBytesVsFloat32: number | null;
}

export interface Item {
  contender: string;
  setting: Setting | null;
  run(reps: number): Promise<number>;
  weightBytes(): Promise<number>;
}

export interface Options {
  quick: boolean; samples: number; targetMs: number;
  /** `--only a,b`: only the figures whose name contains one of these (e.g. `lstm`, `mlp`, `1x1024`). */
  only?: string[];
  /** `--contenders a,b`: only these contenders (e.g. `wasm,pbq-wasm`); speed-ups need the float32 one. */
  contenders?: string[];
  /**
   * `--isolated`: the page cross-origin isolated, so both wasm contenders run threads:
   * tfjs-backend-wasm its threaded build, pbq-wasm its Web Workers (wasmThreads auto).
   */
  isolated?: boolean;
}

/** Whether a figure is wanted (`--only`). */
export function wanted(opt: Options, figure: string): boolean {
  return !opt.only || opt.only.some((part) => figure.includes(part));
}

const ALL_SETTINGS: Setting[] = [];
for (const activationBits of [8, 16]) for (const weightBits of [1, 2, 4, 8]) ALL_SETTINGS.push({ weightBits, activationBits });
export { ALL_SETTINGS };
export const INT16_WRAP: Setting = { weightBits: 4, activationBits: 8, accumulator: { type: 'int', bits: 16, overflow: 'wrap' } };

export function accName(s: Setting | null): string {
  return s?.accumulator ? `int${s.accumulator.bits}-${s.accumulator.overflow}` : 'exact';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A first call slower than this is not repeated to size reps (a contender that slow runs one call per sample anyway). */
const WARM_CALL_SKIP_MS = 5000;

/** Warm-up, then interleaved samples; returns one record per item. */
export async function measure(side: 'browser' | 'node', shape: string, allItems: Item[], floatContender: string, opt: Options, floatBytes: number): Promise<FigureRecord[]> {
  const items = allItems.filter((it) => !opt.contenders || opt.contenders.includes(it.contender));
  const reps: number[] = [];
  for (const it of items) {
    // The first call compiles shaders and quantizes the weight (≈ 0.5 s for a 2048×4096 weight on
    // SwiftShader), so reps come from a second, warm call. A 500 ms cut-off here once sized a
    // 5 ms contender with reps = 1 whenever its first call passed 500 ms, and a sample of one call
    // also times the read-back: W4A8 at 1x2048x4096 read 5.7 instead of 4.7 ms (tools/bench/README.md).
    let once = await it.run(1);
    if (once < WARM_CALL_SKIP_MS) once = await it.run(1);
    reps.push(Math.max(1, Math.min(200, Math.ceil(opt.targetMs / Math.max(once, 0.01)))));
  }
  const samples: number[][] = items.map(() => []);
  for (let s = 0; s < opt.samples; s++) {
    for (let i = 0; i < items.length; i++) samples[i].push(await items[i].run(reps[i]));
  }
  const records: FigureRecord[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    const bytes = await it.weightBytes();
    records.push({
      side, contender: it.contender, shape, weightBits: it.setting?.weightBits ?? null, activationBits: it.setting?.activationBits ?? null,
      accumulator: accName(it.setting), msMedian: median(samples[i]), msSamples: samples[i], reps: reps[i], speedupVsFloat32: null,
      weightBytes: bytes, weightBytesVsFloat32: bytes / floatBytes,
    });
  }
  const f = records.find((r) => r.contender === floatContender);
  for (const r of records) r.speedupVsFloat32 = f ? f.msMedian / r.msMedian : null;
  for (const r of records) {
    process.stdout.write(`  ${side} ${shape} ${r.contender} W${r.weightBits ?? '-'}A${r.activationBits ?? '-'} ${r.accumulator}: ` +
      `${r.msMedian.toFixed(2)} ms (${r.speedupVsFloat32 == null ? 'no float32 contender' : `x${r.speedupVsFloat32.toFixed(2)}`})\n`);
  }
  return records;
}

export interface MatMulShape { name: string; m: number; k: number; n: number }

/** Shapes only stock wasm and pbq-wasm (A8) run: the other contenders take seconds per call there. */
export const WASM_ONLY_SHAPES = new Set(['64x4096x4096']);

export function shapesFor(quick: boolean): MatMulShape[] {
  const all = [
    [1, 784, 4096], [1, 4096, 4096], [1, 1024, 1024], [16, 1024, 1024], [64, 1024, 1024],
    [1, 2048, 4096], // LSTM gate product: [x_t, h_{t-1}] (E = H = 1024) × [W; U] (4H)
    [64, 4096, 4096],
  ];
  const list = all.map(([m, k, n]) => ({ name: `${m}x${k}x${n}`, m, k, n }));
  return quick ? list.filter((s) => s.name === '1x4096x4096') : list;
}


/** The WebGPU contenders of a figure (none when the page has no WebGPU adapter). */
function webgpuItems(info: { webgpu?: boolean }, item: (contender: string, setting: Setting | null) => Item): Item[] {
  return info.webgpu ? [item('webgpu', null), ...ALL_SETTINGS.map((s) => item('pbq-webgpu', s))] : [];
}

async function runBrowser(opt: Options): Promise<{ records: FigureRecord[]; info: unknown }> {
  // a secure origin with WebGPU (its WebGL contenders are unaffected)
  const page = await openPage(path.join(__dirname, 'bench_page.ts'), {
    callTimeoutMs: 30 * 60 * 1000, label: 'bench', webgpu: true, isolated: opt.isolated,
  });
  const call = <T>(fn: string, ...args: unknown[]) => page.callWithTimeout<T>(30 * 60 * 1000, fn, ...args);
  const info = await call<{ webgpu?: boolean }>('info');
  const records: FigureRecord[] = [];
  try {
    for (const sh of shapesFor(opt.quick).filter((x) => wanted(opt, x.name))) {
      await call('prepareMatMul', sh.name, sh.m, sh.k, sh.n, 7);
      const item = (contender: string, setting: Setting | null): Item => ({
        contender, setting,
        run: (reps) => call<number>('timeMatMul', sh.name, contender, setting, reps),
        weightBytes: () => call<number>('weightBytes', sh.name, contender, setting),
      });
      const wasmOnly = WASM_ONLY_SHAPES.has(sh.name);
      const items = wasmOnly ? [item('wasm', null), ...ALL_SETTINGS.filter((s) => s.activationBits === 8).map((s) => item('pbq-wasm', s))] : [
        item('webgl-f32', null), item('webgl-f16', null), item('pbq-f32-ref', null), ...ALL_SETTINGS.map((s) => item('pbq-glsl', s)),
        item('wasm', null), ...ALL_SETTINGS.map((s) => item('pbq-wasm', s)),
      ];
      if (sh.name === '1x4096x4096') {
        items.push(item('pbq-glsl-legacy', { weightBits: 1, activationBits: 8 }), item('pbq-glsl-legacy', { weightBits: 4, activationBits: 8 }));
      }
      if (sh.name === '1x1024x1024') items.push(item('pbq-glsl', INT16_WRAP));
      if (!wasmOnly) items.push(...webgpuItems(info, item));
      records.push(...await measure('browser', sh.name, items, wasmOnly ? 'wasm' : 'webgl-f32',
        { ...opt, samples: wasmOnly ? Math.min(opt.samples, 3) : opt.samples }, 4 * sh.k * sh.n));
      if (wasmOnly) {
        await call('disposeMatMul', sh.name);
        continue;
      }
      const err = await call<number>('matMulError', sh.name, { weightBits: 8, activationBits: 16 });
      process.stdout.write(`  (W8A16 max relative error vs webgl: ${err.toExponential(2)})\n`);
      await call('disposeMatMul', sh.name);
    }
    // --quick: batch 1 only in the browser (a stock webgl batch-64 forward pass takes seconds here)
    for (const batch of (opt.quick ? [1] : [1, 64]).filter((b) => wanted(opt, `mlp-784-4096-4096-10-b${b}`))) {
      await call('prepareMLP', batch);
      const settings = ALL_SETTINGS;
      const item = (contender: string, setting: Setting | null): Item => ({
        contender, setting,
        run: (reps) => call<number>('timeMLP', batch, contender, setting, reps),
        weightBytes: () => call<number>('mlpWeightBytes', batch, contender, setting),
      });
      const floatBytes = 4 * (784 * 4096 + 4096 * 4096 + 4096 * 10);
      const wasmSettings = batch === 64 ? settings.filter((s) => s.activationBits === 8) : settings;
      records.push(...await measure('browser', `mlp-784-4096-4096-10-b${batch}`,
        [item('webgl-f32', null), item('webgl-f16', null), ...settings.map((s) => item('pbq-glsl', s)),
          item('wasm', null), ...wasmSettings.map((s) => item('pbq-wasm', s)), ...webgpuItems(info, item)], 'webgl-f32', opt, floatBytes));
    }
    if (!opt.quick && wanted(opt, LM_FIGURE)) {
      const vocab = await call<number>('prepareLM');
      const item = (contender: string, setting: Setting | null): Item => ({
        contender, setting,
        run: (reps) => call<number>('timeLM', contender, setting, reps),
        weightBytes: () => call<number>('lmWeightBytes', contender, setting),
      });
      process.stdout.write(`  (LSTM LM: vocabulary ${vocab}, ms per token of a ${LM_TOKENS}-character window)\n`);
      const floatBytes = await call<number>('lmWeightBytes', 'webgl-f32', null);
      records.push(...await measure('browser', LM_FIGURE,
        [item('webgl-f32', null), item('webgl-f16', null), ...ALL_SETTINGS.map((s) => item('pbq-glsl', s)),
          item('wasm', null), ...ALL_SETTINGS.map((s) => item('pbq-wasm', s)), ...webgpuItems(info, item)], 'webgl-f32', opt, floatBytes));
    }
  } finally {
    await page.close();
    await closeBrowser();
  }
  return { records, info };
}

/** A kernel variant of an ablation: a pbq-glsl contender with a webglProduct choice (bench_page `use`). */
export interface Variant { name: string; settings: Setting[] }

/**
 * `--ablation [shapes]`: kernel variants of pbq-glsl side by side with pbq-f32-ref, interleaved
 * in one run (no stock webgl: its 1×4096² call takes seconds here). Speed-ups are vs pbq-f32-ref.
 * Writes <out>/ablation.json and <out>/ablation.md.
 */
async function runAblation(opt: Options, shapeNames: string[], variants: Variant[]): Promise<FigureRecord[]> {
  const page = await openPage(path.join(__dirname, 'bench_page.ts'), { callTimeoutMs: 30 * 60 * 1000, label: 'bench', webgpu: true });
  const call = <T>(fn: string, ...args: unknown[]) => page.callWithTimeout<T>(30 * 60 * 1000, fn, ...args);
  const records: FigureRecord[] = [];
  await call('info');
  try {
    for (const name of shapeNames) {
      const [m, k, n] = name.split('x').map(Number);
      await call('prepareMatMul', name, m, k, n, 7);
      const item = (contender: string, setting: Setting | null): Item => ({
        contender, setting,
        run: (reps) => call<number>('timeMatMul', name, contender, setting, reps),
        weightBytes: () => call<number>('weightBytes', name, contender, setting),
      });
      const items = [item('pbq-f32-ref', null)];
      for (const v of variants) for (const s of v.settings) items.push(item(v.name, s));
      records.push(...await measure('browser', name, items, 'pbq-f32-ref', opt, 4 * k * n));
      await call('disposeMatMul', name);
    }
  } finally {
    await page.close();
    await closeBrowser();
  }
  return records;
}

function ablationMarkdown(records: FigureRecord[], meta: Record<string, unknown>): string {
  const lines = [`# pbq kernel ablation (${meta.date})`, '',
    `${meta.samples} interleaved samples per figure, median ms; speed-up vs pbq-f32-ref of the same shape and run.`, '',
    '| shape | contender | W | A | ms (median) | vs f32-ref | ms (min) | samples |', '|---|---|---|---|---|---|---|---|'];
  for (const r of records) {
    lines.push(`| ${r.shape} | ${r.contender} | ${r.weightBits ?? '–'} | ${r.activationBits ?? '–'} | ${r.msMedian.toFixed(2)} | ` +
      `${r.speedupVsFloat32?.toFixed(2)}x | ${Math.min(...r.msSamples).toFixed(2)} | ${r.msSamples.map((x) => x.toFixed(1)).join(' ')} |`);
  }
  return lines.join('\n') + '\n';
}

async function main() {
  const args = process.argv.slice(2);
  const flag = (name: string) => args.includes(name);
  const value = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const quick = flag('--quick');
  const opt: Options = {
    quick, samples: Number(value('--samples') ?? (quick ? 3 : 5)), targetMs: Number(value('--target-ms') ?? 60),
    only: value('--only')?.split(','),
    contenders: value('--contenders')?.split(','),
    isolated: flag('--isolated'),
  };
  const outDir = path.resolve(value('--out') ?? path.join(__dirname, 'results'));
  const started = Date.now();
  if (flag('--ablation')) {
    const shapes = (value('--shapes') ?? '1x4096x4096').split(',');
    const ws = (value('--bits') ?? '1,4,8').split(',').map(Number);
    const vs = (value('--variants') ?? 'product=planes;product=codes;product=pairs;product=sampler').split(';');
    // a variant naming its contender ('pbq-webgpu:product=dot4') is used as is, else it is pbq-glsl's
    const variants = vs.map((v) => ({ name: v.includes(':') ? v : `pbq-glsl:${v}`, settings: ws.map((weightBits) => ({ weightBits, activationBits: 8 })) }));
    const recs = await runAblation(opt, shapes, variants);
    const meta = { date: new Date().toISOString(), samples: opt.samples, seconds: (Date.now() - started) / 1000 };
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'ablation.json'), JSON.stringify({ meta, records: recs }, null, 1));
    fs.writeFileSync(path.join(outDir, 'ablation.md'), ablationMarkdown(recs, meta));
    process.stdout.write(`wrote ${outDir}/ablation.{json,md} in ${meta.seconds.toFixed(0)} s\n`);
    return;
  }
  const records: FigureRecord[] = [];
  let browserInfo: unknown = null;
  if (!flag('--no-browser')) {
    process.stdout.write('browser (headless Chromium, WebGL 2)\n');
    const b = await runBrowser(opt);
    records.push(...b.records);
    browserInfo = b.info;
  }
  if (!flag('--no-node')) {
    process.stdout.write('node\n');
    records.push(...await runNode(opt));
  }
  const meta = {
    date: new Date().toISOString(), quick, samples: opt.samples, targetMs: opt.targetMs, seconds: (Date.now() - started) / 1000,
    node: process.version, cpus: require('os').cpus().length, browser: browserInfo, isolated: opt.isolated,
  };
  fs.mkdirSync(outDir, { recursive: true });
  writeReports(outDir, meta, records);
  const jsonPath = value('--json');
  if (jsonPath) fs.writeFileSync(jsonPath, JSON.stringify(records, null, 1));
  process.stdout.write(`wrote ${outDir}/{latest.json,results.md,speedup.svg}${jsonPath ? ` and ${jsonPath}` : ''} in ${meta.seconds.toFixed(0)} s\n`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
