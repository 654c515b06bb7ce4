/**
 * `npm run eval:table`: every bundled model, float32 (stock tfjs cpu) and pbq at weight bits
 * 1..8 × activation bits 4/8/16 (Node CPU bitlayer engine): metric, model size in bits, time per
 * batch. Writes models/results/eval_table.{md,json,svg}.
 *
 *   npm run eval:table [-- --digits N] [-- --windows N]   (defaults: 500 digits, 16 LM windows)
 *   npm run eval:table -- --replot                         only redraw eval_table.svg from eval_table.json
 *
 * MNIST uses every 4th held-back digit (500 of 1,996) and the LM rows the first 16 windows of the eval set (1,024 next-char predictions of 4,096)
 * by default, to keep the run within minutes on 2 cores; `--digits 1996 --windows 64` evaluates everything.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadModel, loadTask, modelAvailable, RESULTS_DIR, useFastCpuSlices } from './node_models';
import {
  formatMetric, MODEL_NAMES, ModelName, Result, resultsTable, runSetting, Setting, Task,
} from './suite';
import { Panel, svgChart } from './svg';
import { Progress } from '../../src/cli/progress';

export interface GridSpec {
  weightBits: number[];
  activationBits: number[];
  /** float32 reference backend ('cpu' in Node, 'webgl' in the browser) */
  floatBackend: string;
}

export function gridSettings(spec: GridSpec): Setting[] {
  const out: Setting[] = [{ backend: spec.floatBackend }];
  for (const a of spec.activationBits) for (const w of spec.weightBits) out.push({ backend: 'pbq', weightBits: w, activationBits: a });
  return out;
}

/** Runs `settings` on each available model in Node; progress per setting. */
export async function runNodeGrid(models: ModelName[], limits: Partial<Record<ModelName, number>>,
                                  settings: Setting[], progress: Progress): Promise<Result[]> {
  useFastCpuSlices();
  const present = models.filter((m) => modelAvailable(m));
  for (const m of models) if (!present.includes(m)) progress.note(`(skipping ${m}: models/${m} is missing)`);
  progress.total += present.length * settings.length;
  const results: Result[] = [];
  for (const name of present) {
    const model: LayersModel = await loadModel(name);
    const task: Task = loadTask(name, limits[name]);
    for (const s of settings) {
      const r = await runSetting(model, name, task, s);
      results.push(r);
      progress.step(`${name} ${r.weightBits === null ? 'float32' : `W${r.weightBits}A${r.activationBits}`}: ${formatMetric(r)}`);
    }
    model.dispose();
  }
  return results;
}

export function byModel(results: Result[]): Map<string, Result[]> {
  const m = new Map<string, Result[]>();
  for (const r of results) m.set(r.model, [...(m.get(r.model) ?? []), r]);
  return m;
}

export function tablesMarkdown(results: Result[], where: string): string {
  const parts: string[] = [];
  for (const [model, rs] of byModel(results)) {
    parts.push(`### ${model} — ${rs[0].metricName} on ${rs[0].examples} (${where})\n`);
    parts.push(resultsTable(rs) + '\n');
  }
  return parts.join('\n');
}

/** Metric against weight bits, one line per activation width, float32 as a dashed level. */
export function metricSvg(results: Result[], title: string, note: string): string {
  const panels: Panel[] = [];
  for (const [model, rs] of byModel(results)) {
    const float = rs.find((r) => r.weightBits === null);
    const isAcc = rs[0].metricName === 'top-1 accuracy';
    const y = (r: Result) => (isAcc ? 100 * r.metric : r.metric);
    const acts = [...new Set(rs.filter((r) => r.activationBits !== null).map((r) => r.activationBits as number))];
    const series = acts.map((a) => ({
      name: `pbq A${a}`,
      points: rs.filter((r) => r.activationBits === a).map((r) => [r.weightBits as number, y(r)] as [number, number]),
    }));
    // Accuracy: a linear axis from just below the lowest point to 100 %. Perplexity: a log axis
    // over every point (the 1-bit LMs are 4-10x the float perplexity; a linear axis clipped them).
    const all = [...series.flatMap((s) => s.points.map((p) => p[1])), ...(float ? [y(float)] : [])];
    const yRange: [number, number] | undefined = isAcc ? [Math.max(0, Math.min(...all) - 2), 100] : undefined;
    panels.push({
      title: `${model} (${rs[0].examples})`,
      xLabel: 'weight bits',
      yLabel: isAcc ? 'top-1 accuracy, % (higher is better)' : 'perplexity, log scale (lower is better)',
      series, yRange, logY: !isAcc, legend: isAcc ? 'br' : 'tr',
      hlines: float ? [{ y: y(float), label: `float32 ${formatMetric(float)}` }] : [],
      xTicks: [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))],
    });
  }
  return svgChart(title, panels, Math.min(3, panels.length), note);
}

export function writeResults(results: Result[], base: string, title: string, header: string, meta: object): string[] {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const files = ['.md', '.json', '.svg'].map((e) => path.join(RESULTS_DIR, base + e));
  fs.writeFileSync(files[0], `# ${title}\n\n${header}\n\n${tablesMarkdown(results, 'Node')}`);
  fs.writeFileSync(files[1], JSON.stringify({ ...meta, results }, null, 1) + '\n');
  fs.writeFileSync(files[2], metricSvg(results, title, `Generated by ${header.split('\n')[0].replace(/[`.]/g, '')}`));
  return files;
}

const TITLE = 'pbq accuracy / perplexity vs bit widths';
const SVG_NOTE = 'Generated by npm run eval:table';

if (require.main === module) {
  (async () => {
    const argv = process.argv.slice(2);
    if (argv.includes('--replot')) {
      const file = path.join(RESULTS_DIR, 'eval_table.json');
      const { results } = JSON.parse(fs.readFileSync(file, 'utf8')) as { results: Result[] };
      fs.writeFileSync(path.join(RESULTS_DIR, 'eval_table.svg'), metricSvg(results, TITLE, SVG_NOTE));
      process.stderr.write(`redrew models/results/eval_table.svg from ${path.relative(process.cwd(), file)}\n`);
      return;
    }
    const num = (flag: string, d?: number) => { const i = argv.indexOf(flag); return i >= 0 ? Number(argv[i + 1]) : d; };
    const limits = { 'mnist-mlp': num('--digits', 500), 'lstm-lm': num('--windows', 16), 'gru-lm': num('--windows', 16) };
    const spec: GridSpec = { weightBits: [1, 2, 3, 4, 5, 6, 7, 8], activationBits: [4, 8, 16], floatBackend: 'cpu' };
    const progress = new Progress('eval:table');
    const results = await runNodeGrid(MODEL_NAMES, limits, gridSettings(spec), progress);
    progress.done();
    const header = 'Generated by `npm run eval:table` (Node: float32 on the stock tfjs `cpu` backend, pbq on its CPU bitlayer engine, ' +
      `exact accumulator). Model size: quantized matmul kernels at the weight bit width plus one float32 range per output channel, ` +
      `other parameters (biases, embeddings) float32. Time: wall-clock ms per batch after one warm-up call, on a shared 2-core machine ` +
      `(other jobs were running: compare times within one table only).`;
    const files = writeResults(results, 'eval_table', TITLE, header, { spec, limits });
    process.stdout.write(tablesMarkdown(results, 'Node') + '\n');
    process.stderr.write(`wrote ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
  })().catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exit(1);
  });
}
