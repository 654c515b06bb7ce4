/**
 * `npm start`: the bundled trained models (MNIST MLP, LSTM and GRU character language models)
 * evaluated in float32 and with pbq at several weight/activation bit widths, on their held-back
 * eval sets. Prints one table per model (metric, model size in bits, time per batch) and writes
 * an SVG plot of accuracy / perplexity against weight bits to models/results/start_plot.svg.
 *
 *   npm start                  Node: float32 on the stock tfjs cpu backend, pbq on its fastest base
 *                              here (WebAssembly SIMD, else the TypeScript engine), named in the output
 *   npm start -- --browser     the same in headless Chromium: float32 on stock tfjs webgl, pbq GLSL
 *   npm start -- --sweep       also re-measure a quick accumulator sweep (default: show the committed one)
 *   npm start -- --full        all LM eval windows (slower)
 *
 * Progress goes to stderr (a bar on a TTY); tables to stdout.
 */
import * as fs from 'fs';
import * as path from 'path';
import { gridSettings, GridSpec, metricSvg, runNodeGrid, tablesMarkdown } from './eval_table';
import { MODEL_NAMES, ModelName, Result, Setting } from './suite';
import { modelAvailable, RESULTS_DIR, REPO_ROOT } from './node_models';
import { Progress } from '../../src/cli/progress';
import { detectBaseKind } from '../../src/index';
import { parseSweepArgs, runSweep, sweepMarkdown, writeSweep } from './sweep_accumulator';

const argv = process.argv.slice(2);
const BROWSER = argv.includes('--browser');
const SWEEP = argv.includes('--sweep');
const FULL = argv.includes('--full');

if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(fs.readFileSync(__filename, 'utf8').split('*/')[0].replace(/^\/\*\*?|^ \* ?/gm, '') + '\n');
  process.exit(0);
}

const SPEC: GridSpec = { weightBits: [1, 2, 3, 4, 6, 8], activationBits: [8], floatBackend: BROWSER ? 'webgl' : 'cpu' };
/** Extra settings after the A8 sweep: 16-bit activations at the two ends. */
const EXTRA: Setting[] = [{ backend: 'pbq', weightBits: 2, activationBits: 16 }, { backend: 'pbq', weightBits: 8, activationBits: 16 }];

/** Eval-set sizes: Node evaluates MNIST fully and 16 of 64 LM windows; the browser (SwiftShader: GLSL on the CPU) 250 digits and 4 windows. */
const LIMITS: Record<ModelName, number | undefined> = BROWSER
  ? { 'mnist-mlp': 250, 'lstm-lm': 4, 'gru-lm': 4 }
  : { 'mnist-mlp': undefined, 'lstm-lm': FULL ? undefined : 16, 'gru-lm': FULL ? undefined : 16 };

async function runBrowserGrid(models: ModelName[], settings: Setting[], progress: Progress): Promise<Result[]> {
  const harness = await import('../harness/browser');
  const { EVAL_PAGE_BUILD } = await import('./browser_build');
  if (!harness.chromiumAvailable()) {
    throw new Error(`--browser needs Chromium at ${harness.CHROMIUM_PATH} (set PBQ_CHROMIUM, or apt-get install -y chromium)`);
  }
  const present = models.filter((m) => modelAvailable(m));
  progress.total += 1 + present.length * settings.length;
  const page = await harness.openPage(path.join(REPO_ROOT, 'test', 'browser', 'pages', 'parity_page.ts'),
    { build: EVAL_PAGE_BUILD, callTimeoutMs: 600_000, label: 'npm start' });
  const results: Result[] = [];
  try {
    const info = await page.call('pbqInfo');
    progress.step(`Chromium up, pbq on ${info.base}`);
    if (info.base !== 'webgl') progress.note(`warning: pbq runs on '${info.base}' in this browser (no WebGL 2?)`);
    for (const name of present) {
      for (const s of settings) {   // one call per setting: progress per step
        const [r] = await page.call('evalSettings', name, LIMITS[name] ?? null, [s]);
        results.push(r);
        progress.step(`${name} ${r.weightBits === null ? 'float32' : `W${r.weightBits}A${r.activationBits}`}`);
      }
    }
  } finally {
    await page.close();
    await harness.closeBrowser();
  }
  return results;
}

/** Which part of each eval set this run uses (the tables' numbers are for these subsets). */
function subsetNote(): string {
  const parts = MODEL_NAMES.map((m) => {
    const limit = LIMITS[m];
    if (m === 'mnist-mlp') return limit ? `${m}: ${limit} evenly spaced of the 1,996 held-back digits` : `${m}: all 1,996 held-back digits`;
    return limit ? `${m}: the first ${limit} of 64 windows (${(limit * 64).toLocaleString('en-US')} of 4,096 held-back chars)` : `${m}: all 64 windows (4,096 held-back chars)`;
  });
  const more = BROWSER ? '' : FULL ? '' : ' `npm start -- --full` evaluates the LMs on all 64 windows (the README\'s accuracy table).';
  return `Eval sets of this run: ${parts.join('; ')}.${more}`;
}

function explain(): string {
  return [
    subsetNote(),
    'How to read this: pbq stores each matmul weight matrix as `weight bits` bit planes per output channel',
    '(plus one float32 range per channel) and quantizes activations per row to `activation bits`; "WnAm" = n',
    'weight bits, m activation bits. Top-1 accuracy: higher is better; perplexity: lower is better (exp of the',
    'mean next-character negative log-likelihood). "vs float32": accuracy points / perplexity percent.',
    'Model size counts all parameters in bits; time is wall-clock per batch after one warm-up call.',
  ].join('\n');
}

async function main(): Promise<void> {
  const progress = new Progress(BROWSER ? 'npm start --browser' : 'npm start');
  const settings = [...gridSettings(SPEC), ...EXTRA];
  const nodeEngine = detectBaseKind() === 'wasm' ? 'WebAssembly SIMD engine (pbq-wasm)' : 'TypeScript CPU engine (pbq-cpu)';
  const where = BROWSER ? 'headless Chromium: float32 = stock tfjs webgl, pbq = GLSL bitlayer shaders (SwiftShader)'
    : `Node: float32 = stock tfjs cpu backend, pbq = ${nodeEngine}`;
  progress.note(`Evaluating ${MODEL_NAMES.join(', ')} at ${settings.length} settings each (${where})...`);
  const results = BROWSER
    ? await runBrowserGrid(MODEL_NAMES, settings, progress)
    : await runNodeGrid(MODEL_NAMES, LIMITS, settings, progress);
  progress.done();

  process.stdout.write(`\n# pbq on the bundled models (${where})\n\n${explain()}\n\n`);
  process.stdout.write(tablesMarkdown(results, BROWSER ? 'browser' : 'Node'));
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const svgPath = path.join(RESULTS_DIR, BROWSER ? 'start_plot_browser.svg' : 'start_plot.svg');
  fs.writeFileSync(svgPath, metricSvg(results.filter((r) => r.activationBits === null || r.activationBits === 8),
    `pbq: metric vs weight bits (activation bits 8; ${BROWSER ? 'GLSL, Chromium' : `Node, ${nodeEngine}`})`,
    `Generated by npm start${BROWSER ? ' -- --browser' : ''}. Dashed line: float32.`));
  process.stdout.write(`\nPlot: ${path.relative(process.cwd(), svgPath)}\n`);

  // Accumulator sweep: committed results, or a quick live re-measurement.
  if (SWEEP) {
    const opts = parseSweepArgs(['--quick']);
    const sp = new Progress('accumulator sweep (quick)');
    const rows = await runSweep(opts, sp);
    sp.done();
    const files = writeSweep(rows, opts, path.join(RESULTS_DIR, 'quick'));
    process.stdout.write(`\n${sweepMarkdown(rows, opts)}\nWritten: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
  } else {
    const md = path.join(RESULTS_DIR, 'accumulator_sweep.md');
    if (fs.existsSync(md)) {
      const text = fs.readFileSync(md, 'utf8');
      const cliff = text.split('## Where the cliff is')[1]?.split(/\n## /)[0] ?? '';
      process.stdout.write(`\n## Narrow accumulators (committed sweep, W8A8; full table ${path.relative(process.cwd(), md)}, ` +
        `re-measure with \`npm start -- --sweep\` or \`npm run sweep:accumulator\`)\n${cliff}`);
    }
  }
}

main().catch((e) => {
  process.stderr.write(`\nnpm start failed: ${e instanceof Error ? e.stack ?? e.message : e}\n`);
  process.exit(1);
});
