#!/usr/bin/env node
/**
 * `npm run build:wasm`: compiles the AssemblyScript engine (kernels/wasm/simd/) to
 * kernels/wasm/build/pbq_simd.wasm and bundles the engine's worker thread
 * (kernels/wasm/thread_worker.ts, esbuild) to kernels/wasm/build/pbq_thread.js (both gitignored),
 * and copies both next to the compiled wrapper in dist/kernels/wasm/build/ when dist/ exists.
 * Skips the compile when the .wasm is newer than every source. Nothing is downloaded:
 * `assemblyscript` and `esbuild` are devDependencies.
 */
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'kernels', 'wasm', 'simd');
const OUT = path.join(ROOT, 'kernels', 'wasm', 'build', 'pbq_simd.wasm');
const DIST = path.join(ROOT, 'dist', 'kernels', 'wasm', 'build', 'pbq_simd.wasm');
const WORKER_SRC = path.join(ROOT, 'kernels', 'wasm', 'thread_worker.ts');
const WORKER_OUT = path.join(ROOT, 'kernels', 'wasm', 'build', 'pbq_thread.js');
const WORKER_DIST = path.join(ROOT, 'dist', 'kernels', 'wasm', 'build', 'pbq_thread.js');

const FLAGS = [
  '-O3', '--enable', 'simd', '--runtime', 'stub', '--importMemory', '--noExportMemory',
  '--initialMemory', '0', '--noAssert', '--use', 'abort=',
];

function newestSource() {
  const files = fs.readdirSync(SRC).map((f) => path.join(SRC, f));
  return Math.max(...files.map((f) => fs.statSync(f).mtimeMs), fs.statSync(__filename).mtimeMs);
}

async function main() {
  const force = process.argv.includes('--force');
  const fresh = fs.existsSync(OUT) && fs.statSync(OUT).mtimeMs >= newestSource();
  if (force || !fresh) {
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    const asc = (await import('assemblyscript/asc')).default;
    const { error, stderr } = await asc.main([path.join(SRC, 'index.ts'), ...FLAGS, '-o', OUT]);
    if (error) {
      process.stderr.write(stderr.toString());
      throw new Error(`build:wasm failed: ${error.message}`);
    }
    process.stdout.write(`build:wasm: ${path.relative(ROOT, OUT)} (${fs.statSync(OUT).size} bytes)\n`);
  }
  // the worker: one classic script for Node's worker_threads and browsers' Web Workers (a few ms)
  await require('esbuild').build({
    entryPoints: [WORKER_SRC], bundle: true, platform: 'neutral', format: 'iife', target: ['node18', 'chrome91'],
    outfile: WORKER_OUT, external: ['worker_threads'], logLevel: 'warning', legalComments: 'none',
  });
  if (fs.existsSync(path.join(ROOT, 'dist'))) {
    fs.mkdirSync(path.dirname(DIST), { recursive: true });
    fs.copyFileSync(OUT, DIST);
    fs.copyFileSync(WORKER_OUT, WORKER_DIST);
  }
}

main().catch((e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
