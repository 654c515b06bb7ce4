/**
 * `npm run sweep:accumulator`: accuracy of the MNIST MLP and perplexity of the LSTM LM
 * at W8A8 against simulated narrow accumulators (src/accumulator.ts):
 *   int 8..24 bits, wrap and saturate; float M3..M10 with E4/E5, chunk 1/16/64 (rounding floor).
 * W8A8 because it is lossless against float32 on both models, so every change is the
 * accumulator's; the simulation needs K·(2^W-1)·(2^A-1) < 2^30: K ≤ 784 here, 784·255·255 ≈ 2^25.6.
 * The simulation is slow (integer-exact JS per 32-column word), so the eval sets are subsets:
 * about every 10th MNIST digit (200 of 1,996) and the first 3 LM windows (192 next-char predictions).
 * Writes models/results/accumulator_sweep.{md,json,svg}.
 *
 *   npm run sweep:accumulator [-- --quick] [-- --digits N --windows N]
 */
import * as fs from 'fs';
import * as path from 'path';
import type { AccumulatorConfig } from '../../src/index';
import { loadModel, loadTask, RESULTS_DIR, useFastCpuSlices } from './node_models';
import { formatMetric, markdownTable, ModelName, Result, runSetting, Setting } from './suite';
import { Panel, svgChart } from './svg';
import { Progress } from '../../src/cli/progress';

export interface SweepOptions { digits: number; windows: number; quick: boolean }

export function sweepGrid(quick: boolean): AccumulatorConfig[] {
  const grid: AccumulatorConfig[] = [{ type: 'exact' }];
  const intBits = quick ? [16, 18, 19, 20, 21, 22, 23, 24] : Array.from({ length: 17 }, (_, i) => 8 + i);
  for (const overflow of ['wrap', 'saturate'] as const) {
    for (const bits of intBits) grid.push({ type: 'int', bits, overflow });
  }
  const mantissas = quick ? [3, 5, 7, 10] : [3, 4, 5, 6, 7, 8, 9, 10];
  for (const exponent of quick ? [4] : [4, 5]) {
    for (const chunk of quick ? [1, 64] : [1, 16, 64]) {
      for (const mantissa of mantissas) grid.push({ type: 'float', mantissa, exponent, chunk, rounding: 'floor' });
    }
  }
  return grid;
}

export interface SweepRow extends Result { overflowRate: number; underflowRate: number; acc: AccumulatorConfig }

export async function runSweep(opts: SweepOptions, progress: Progress): Promise<SweepRow[]> {
  useFastCpuSlices();
  const grid = sweepGrid(opts.quick);
  const rows: SweepRow[] = [];
  const models: Array<[ModelName, number]> = [['mnist-mlp', opts.digits], ['lstm-lm', opts.windows]];
  progress.total += models.length * grid.length;
  for (const [name, limit] of models) {
    const model = await loadModel(name);
    const task = loadTask(name, limit);
    for (const acc of grid) {
      const s: Setting = { backend: 'pbq', weightBits: 8, activationBits: 8, accumulator: acc };
      const r = await runSetting(model, name, task, s, { stats: true });
      const st = r.stats!;
      rows.push({
        ...r, acc,
        overflowRate: st.additions ? st.overflows / st.additions : 0,
        underflowRate: st.additions ? st.underflows / st.additions : 0,
      });
      progress.step(`${name} ${r.accumulator}: ${formatMetric(r)}`);
    }
    model.dispose();
  }
  return rows;
}

const pct = (x: number) => (x === 0 ? '0' : x < 1e-4 ? x.toExponential(1) : (100 * x).toFixed(x < 0.01 ? 3 : 2) + ' %');

function delta(r: SweepRow, exact: SweepRow): string {
  if (r.metricName === 'top-1 accuracy') {
    const d = 100 * (r.metric - exact.metric);
    return `${d >= 0 ? '+' : ''}${d.toFixed(1)} pt`;
  }
  const d = 100 * (r.metric / exact.metric - 1);
  return Number.isFinite(d) ? `${d >= 0 ? '+' : ''}${d.toFixed(1)} %` : '∞';
}

/** Is a row within tolerance of exact (0.5 points top-1, 1 % perplexity)? */
function ok(r: SweepRow, exact: SweepRow): boolean {
  return r.metricName === 'top-1 accuracy'
    ? exact.metric - r.metric <= 0.005 + 1e-9
    : r.metric / exact.metric - 1 <= 0.01 + 1e-9;
}

/** Per family: the narrowest width from which on (all wider widths too) the metric is within tolerance. */
export function cliffs(rows: SweepRow[]): Array<{ model: string; family: string; first: string; last: string }> {
  const out: Array<{ model: string; family: string; first: string; last: string }> = [];
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    const mr = rows.filter((r) => r.model === model);
    const exact = mr.find((r) => r.acc.type === 'exact')!;
    const fams = new Map<string, SweepRow[]>();
    for (const r of mr) {
      if (r.acc.type === 'exact') continue;
      const key = r.acc.type === 'int' ? `int ${r.acc.overflow}` : `float E${r.acc.exponent} chunk ${r.acc.chunk}`;
      fams.set(key, [...(fams.get(key) ?? []), r]);
    }
    for (const [family, fr] of fams) {
      const width = (r: SweepRow) => (r.acc.type === 'int' ? r.acc.bits : r.acc.type === 'float' ? r.acc.mantissa : 0);
      const sorted = [...fr].sort((a, b) => width(a) - width(b));
      let i = sorted.length;
      while (i > 0 && ok(sorted[i - 1], exact)) i--;
      const name = (r: SweepRow | undefined) => !r ? 'none' :
        r.acc.type === 'int' ? `${r.acc.bits} bits` : r.acc.type === 'float' ? `M${r.acc.mantissa}` : '';
      out.push({ model, family, first: name(sorted[i]), last: i > 0 ? `${name(sorted[i - 1])} (${formatMetric(sorted[i - 1])})` : '—' });
    }
  }
  return out;
}

export function sweepMarkdown(rows: SweepRow[], opts: SweepOptions): string {
  const parts: string[] = [];
  parts.push(`# Accumulator sweep (W8A8, pbq Node CPU engine)\n`);
  parts.push(`Generated by \`npm run sweep:accumulator${opts.quick ? ' -- --quick' : ''}\`. Eval subsets: MNIST every ` +
    `${Math.round(1996 / opts.digits)}th held-back digit (${opts.digits} digits), LSTM LM first ${opts.windows} windows ` +
    `(${opts.windows * 64} next-char predictions). "exact" is pbq's exact integer accumulation (= W8A8 without a narrow accumulator). ` +
    `Overflow / underflow rates: events per simulated narrow addition (pbq.accumulatorStats()). ` +
    `Float formats: M mantissa (fraction) bits, E exponent bits, exponent bias per output from the largest possible |d|, ` +
    `rounding floor (mantissa masking); chunk C = words summed in a fresh register before joining the running total.\n`);
  parts.push(`## Where the cliff is\n`);
  parts.push(markdownTable(['model', 'accumulator family', 'narrowest width within tolerance*', 'last width below it (metric)'],
    cliffs(rows).map((c) => [c.model, c.family, c.first, c.last])));
  parts.push(`\n\\* tolerance: top-1 at most 0.5 points below exact, perplexity at most 1 % above exact, at that width and every wider one.\n`);
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    const mr = rows.filter((r) => r.model === model);
    const exact = mr.find((r) => r.acc.type === 'exact')!;
    parts.push(`## ${model} (${exact.examples}, ${exact.metricName})\n`);
    parts.push(markdownTable(['accumulator', exact.metricName, 'vs exact', 'overflow rate', 'underflow rate', 'ms / batch'],
      mr.map((r) => [r.accumulator ?? '', formatMetric(r), r === exact ? '—' : delta(r, exact), pct(r.overflowRate), pct(r.underflowRate), r.msPerBatch.toFixed(0)])));
    parts.push('');
  }
  return parts.join('\n');
}

export function sweepSvg(rows: SweepRow[]): string {
  const panels: Panel[] = [];
  for (const model of [...new Set(rows.map((r) => r.model))]) {
    const mr = rows.filter((r) => r.model === model);
    const exact = mr.find((r) => r.acc.type === 'exact')!;
    const isAcc = exact.metricName === 'top-1 accuracy';
    const y = (r: SweepRow) => (isAcc ? 100 * r.metric : r.metric);
    const yLabel = isAcc ? 'top-1 accuracy, %' : 'perplexity (clipped)';
    const yRange: [number, number] | undefined = isAcc ? [0, 100] : [exact.metric * 0.95, exact.metric * 3];
    const hl = [{ y: y(exact), label: `exact ${formatMetric(exact)}` }];
    const legend = isAcc ? 'tl' as const : 'bl' as const;
    const ints = (ov: string) => mr.filter((r) => r.acc.type === 'int' && r.acc.overflow === ov)
        .map((r) => [(r.acc as { bits: number }).bits, y(r)] as [number, number]);
    panels.push({ title: `${model}: int accumulator`, xLabel: 'accumulator bits', yLabel, yRange, hlines: hl, legend,
      series: [{ name: 'wrap', points: ints('wrap') }, { name: 'saturate', points: ints('saturate'), dash: true }] });
    const fl = new Map<string, Array<[number, number]>>();
    for (const r of mr) {
      if (r.acc.type !== 'float') continue;
      const k = `E${r.acc.exponent} chunk ${r.acc.chunk}`;
      fl.set(k, [...(fl.get(k) ?? []), [r.acc.mantissa, y(r)]]);
    }
    const fy = [...fl.values()].flatMap((pts) => pts.map((p) => p[1]));
    const fRange: [number, number] = isAcc
      ? [Math.min(y(exact) - 3, ...fy) - 0.5, Math.min(100, Math.max(y(exact) + 2, ...fy) + 0.5)]
      : [exact.metric * 0.99, Math.max(exact.metric * 1.05, ...fy) * 1.01];
    panels.push({ title: `${model}: float accumulator (zoomed)`, xLabel: 'mantissa bits M', yLabel, yRange: fRange, hlines: hl,
      legend: isAcc ? 'bl' : 'tr',
      series: [...fl].map(([name, points]) => ({ name, points, dash: name.startsWith('E5') })) });
  }
  return svgChart('pbq W8A8 with simulated narrow accumulators', panels, 2,
    'Generated by npm run sweep:accumulator; values off the axis are drawn at its edge.');
}

export function writeSweep(rows: SweepRow[], opts: SweepOptions, dir = RESULTS_DIR): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files = ['accumulator_sweep.md', 'accumulator_sweep.json', 'accumulator_sweep.svg'].map((f) => path.join(dir, f));
  fs.writeFileSync(files[0], sweepMarkdown(rows, opts));
  fs.writeFileSync(files[1], JSON.stringify({ options: opts, weightBits: 8, activationBits: 8, rows }, null, 1) + '\n');
  fs.writeFileSync(files[2], sweepSvg(rows));
  return files;
}

export function parseSweepArgs(argv: string[]): SweepOptions {
  const quick = argv.includes('--quick');
  const num = (flag: string, dflt: number) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  return { quick, digits: num('--digits', quick ? 100 : 200), windows: num('--windows', quick ? 2 : 3) };
}

if (require.main === module) {
  (async () => {
    const opts = parseSweepArgs(process.argv.slice(2));
    const progress = new Progress('sweep');
    const rows = await runSweep(opts, progress);
    progress.done();
    const files = writeSweep(rows, opts);
    process.stdout.write(sweepMarkdown(rows, opts) + '\n');
    process.stderr.write(`wrote ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
  })().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
}
