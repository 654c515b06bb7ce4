/**
 * The package as a user gets it, with no network: `npm pack` (which builds: `prepare`), the
 * tarball's file list, an offline install next to @tensorflow/tfjs in a fresh app
 * (test/consumer.ts), an LSTM LayersModel under 'pbq' from CommonJS and from an ES module,
 * `npx pbq convert` from the installed package, and every code block of README.md and
 * src/converter/README.md run in that app. About 2-4 minutes (packing builds the package,
 * three conversions of the bundled MNIST MLP).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import { Consumer, installConsumer, packRepo, REPO_ROOT } from './consumer';
import { convertedScript, lstmScript, ModuleKind } from './consumer_scripts';
import { CodeBlock, codeBlocks, NOT_RUN, README_FILES, shellCommands } from './readme_blocks';

jest.setTimeout(15 * 60 * 1000);

let packDir: string;
let files: string[];
let app: Consumer;

beforeAll(() => {
  packDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-pack-'));
  const packed = packRepo(packDir);
  files = packed.files;
  app = installConsumer(packed.tarball, packed.files);
});

afterAll(() => {
  for (const d of [packDir, app?.dir]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

interface Run { code: number | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], cwd: string): Run {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 10 * 60 * 1000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a program in the app; its last stdout line is JSON. */
function runScript(name: string, text: string, args: string[] = []): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  fs.writeFileSync(path.join(app.dir, name), text);
  const r = run('node', [name, ...args], app.dir);
  if (r.code !== 0) throw new Error(`${name} exited ${r.code}:\n${r.stderr}`);
  expect(r.stderr).not.toMatch(/already registered|fetch failed/);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

describe('the tarball', () => {
  it('holds the built library, the bundles, the CLI and the docs, and nothing else', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'bin/pbq.js', 'dist/src/node.js', 'dist/src/node.d.ts',
      'dist/src/index.js', 'dist/src/browser.js', 'dist/src/cli/pbq.js', 'dist/src/converter/index.js', 'dist/src/converter/index.d.ts',
      'dist/kernels/webgl/register_all_kernels.js', 'dist/esm/index.mjs', 'dist/esm/convert.mjs',
      'dist/tfjs-backend-pbq.esm.js', 'dist/tfjs-backend-pbq.min.js', 'dist/pbq_simd.wasm', 'dist/kernels/wasm/build/pbq_simd.wasm',
      'dist/pbq_thread.js', 'dist/kernels/wasm/build/pbq_thread.js']) {
      expect(files).toContain(f);
    }
    const shipped = /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|bin\/pbq\.js|dist\/(src|kernels)\/.+\.(js|d\.ts)|dist\/esm\/\w+\.mjs|dist\/tfjs-backend-pbq\.(esm|min)\.js|dist\/pbq_thread\.js|dist\/.+\.wasm)$/;
    expect(files.filter((f) => !shipped.test(f))).toEqual([]);
    // No training data, eval sets, models, results, tests or sources.
    expect(files.filter((f) => /(^|\/)(models|test|tools|results|\.ci)\/|\.(u8|bin|ts)$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs next to @tensorflow/tfjs with one copy of each tfjs package (peers)', () => {
    const nested = path.join(app.dir, 'node_modules', 'tfjs-backend-pbq', 'node_modules');
    expect(fs.existsSync(path.join(nested, '@tensorflow'))).toBe(false);
    const installed = JSON.parse(fs.readFileSync(path.join(app.dir, 'node_modules', 'tfjs-backend-pbq', 'package.json'), 'utf8'));
    expect(installed.dependencies['@tensorflow/tfjs-core']).toBeUndefined();
    expect(Object.keys(installed.peerDependencies).sort()).toEqual(
      ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgl', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers']);
    // Optional: wasm ('pbq' in Node runs on it when installed), converter (GraphModels only).
    expect(installed.peerDependenciesMeta).toEqual({ '@tensorflow/tfjs-backend-wasm': { optional: true }, '@tensorflow/tfjs-converter': { optional: true } });
  });
});

describe.each<ModuleKind>(['cjs', 'esm'])('an app using the installed package (%s)', (kind) => {
  const ext = kind === 'cjs' ? 'cjs' : 'mjs';
  let saved: string;
  let first: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  beforeAll(() => {
    saved = path.join(app.dir, `saved-${kind}`);
    first = runScript(`lstm.${ext}`, lstmScript(kind), [saved]);
  });

  it("runs an LSTM LayersModel through PbqLSTMStep on 'pbq', equal to the composed quantized path", () => {
    expect(first.backend).toBe('pbq');
    expect(first.base).toBe('wasm');
    expect(first.fused.kernels).toContain('PbqLSTMStep');
    expect(first.composed.kernels).not.toContain('PbqLSTMStep');
    expect(first.composed.kernels).toEqual(expect.arrayContaining(['_FusedMatMul']));
    expect(maxAbsDiff(first.fused.values, first.composed.values)).toBeLessThan(1e-5);
    // W4 weights change the probabilities, by a little.
    const quantizationError = maxAbsDiff(first.fused.values, first.float.values);
    expect(quantizationError).toBeGreaterThan(1e-5);
    expect(quantizationError).toBeLessThan(0.05);
    expect(first.sameConvert).toBe(true);
  });

  it("pbq-wasm's worker threads run from the installed package: equal to one thread, no warning", () => {
    expect(first.threads).toEqual({ count: 2, same: true, warnings: [] });
  });

  it("saves and loads with file:// through pbq's router on the app's tf", () => {
    expect(first.reloaded.kernels).toContain('PbqLSTMStep');
    expect(first.reloaded.values).toEqual(first.fused.values);
  });

  it('npx pbq convert works from the installed package; pbq.loadLayersModel runs the result', () => {
    const out = path.join(app.dir, `converted-${kind}`);
    const r = run('npx', ['pbq', 'convert', saved, out, '--weight-bits', '4', '--range', 'minmax'], app.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/lstm_LSTM\d+\/kernel\s+LSTM\s+4x64\s+4\b/);
    const loaded = runScript(`converted.${ext}`, convertedScript(kind), [saved, out]);
    expect(loaded.converted.kernels).toContain('PbqLSTMStep');
    // min-max ranges are pbq's run-time choice: the stored planes give the same outputs, bit for bit.
    expect(loaded.converted.values).toEqual(loaded.runtime.values);
  });
});

describe("the package's types", () => {
  const tsc = (file: string, text: string) => {
    fs.writeFileSync(path.join(app.dir, file), text);
    return run('node', [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--skipLibCheck',
      '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2020', file], app.dir);
  };

  it('resolve through exports for the entry and ./convert, and catch a misuse', () => {
    const good = tsc('types_ok.ts', `import * as pbq from 'tfjs-backend-pbq';
import { convert, ConvertOptions, ConversionReport } from 'tfjs-backend-pbq/convert';
const options: ConvertOptions = { input: 'model', output: 'out', weightBits: 4, range: 'mse' };
const report: Promise<ConversionReport> = pbq.convert(options);
const config: pbq.PbqConfig = pbq.configure({ weightBits: 4, accumulator: { type: 'int', bits: 16, overflow: 'wrap' } });
export const used = [report, config, convert === pbq.convert, pbq.loadLayersModel];
`);
    expect(good.stdout + good.stderr).toBe('');
    expect(good.code).toBe(0);
    const bad = tsc('types_bad.ts', `import * as pbq from 'tfjs-backend-pbq';\nexport const c = pbq.configure({ weightBits: 'four' });\n`);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toMatch(/types_bad\.ts.*error TS2322: Type 'string' is not assignable to type 'number'/);
  });
});

describe('the installed pbq command', () => {
  it('prints its usage with --help and bad input as one line with exit code 2', () => {
    const help = run('npx', ['pbq', 'convert', '--help'], app.dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: pbq convert \[options\] <model> <out-dir>/);
    expect(help.stdout).toMatch(/--weight-bits <n>/);
    const bad = run('npx', ['pbq', 'convert', 'no-such-model', 'out', '--weight-bits', '4'], app.dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual(['pbq convert: model.json not found: no-such-model']);
  });
});

/** A work folder in the app for one code block, with the repository's models/ linked in. */
function blockDir(block: CodeBlock): string {
  const dir = path.join(app.dir, 'readme', `${block.file.replace(/\W/g, '_')}_${block.line}`);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true });
    fs.symlinkSync(path.join(REPO_ROOT, 'models'), path.join(dir, 'models'));
  }
  return dir;
}

const BLOCKS = README_FILES.flatMap((f) => codeBlocks(REPO_ROOT, f));

describe('README code blocks, run in the app', () => {
  it('are all of a kind this test or the browser test runs (ts, js, sh, html) or plain text', () => {
    expect(BLOCKS.filter((b) => !['ts', 'js', 'sh', 'html', 'text'].includes(b.lang)).map((b) => `${b.file}:${b.line} '${b.lang}'`)).toEqual([]);
    expect(BLOCKS.filter((b) => b.lang === 'ts').length).toBeGreaterThanOrEqual(4);
  });

  it.each(BLOCKS.filter((b) => b.lang === 'ts' || b.lang === 'js').map((b) => [`${b.file}:${b.line}`, b]))('%s runs', (_name, block) => {
    const dir = blockDir(block as CodeBlock);
    const js = ts.transpileModule((block as CodeBlock).code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2020 } }).outputText;
    fs.writeFileSync(path.join(dir, 'block.mjs'), js);
    const r = run('node', ['block.mjs'], dir);
    if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stderr}`);
    expect(r.stderr).not.toMatch(/Error|already registered/);
  });

  it.each(BLOCKS.filter((b) => b.lang === 'sh').map((b) => [`${b.file}:${b.line}`, b]))('%s: its npx pbq commands run, the rest are install/repository commands', (_name, block) => {
    const commands = shellCommands(block as CodeBlock);
    expect(commands.filter((c) => !c.startsWith('npx pbq') && !NOT_RUN.test(c))).toEqual([]);
    for (const c of commands.filter((cmd) => cmd.startsWith('npx pbq'))) {
      const r = run('bash', ['-c', c], blockDir(block as CodeBlock));
      if (r.code !== 0) throw new Error(`${c}: exit ${r.code}\n${r.stderr}`);
    }
  });
});
