/**
 * Interleaved micro-bench of the WebAssembly SIMD engine (kernels/wasm/engine.ts) against
 * `tf.matMul` on stock tfjs-backend-wasm (XNNPACK float32), in one Node process:
 *
 *   npx ts-node --transpile-only tools/bench_wasm_engine.ts [--only 1x4096x4096,mlp-b1] [--reps 15]
 *   npx ts-node --transpile-only tools/bench_wasm_engine.ts --bandwidth
 *
 * Every round runs each contender once (order rotated per round); the table gives median ms and
 * the ratio wasm / pbq. The engine figures include copying the activations in and the outputs
 * out of its memory, as tfjs-wasm's include dataSync(). MLP figures are the three products of
 * 784-4096-4096-10 (bias and ReLU are not the engine's: tfjs does them on both sides).
 * --threads: W4A8 and W8A8 on one thread against the same on the engine's worker threads
 * (wasmThreads 2 or --count N), over shapes either side of THREAD_MIN_WORK, where the threaded
 * product's hand-off stops paying.
 * --bandwidth: read bandwidth of WebAssembly SIMD loads from buffers of 1 MiB to 512 MiB (a probe
 * compiled here with assemblyscript), the bytes-read limit the batch-1 figures are compared with.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadWasmEngineSync, PackedWeight, THREAD_MIN_WORK, WasmEngine } from '../kernels/wasm/engine';
import { quantizeWeights, QuantizedWeight } from '../src/quantize';

interface Contender {
  name: string;
  run(): void;
}

const SETTINGS = [
  { w: 1, a: 8 }, { w: 2, a: 8 }, { w: 4, a: 8 }, { w: 8, a: 8 },
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Deterministic values in [-scale, scale). */
function values(count: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs each contender once per round, rotating the order, after one warm-up call each. */
function interleave(contenders: Contender[], rounds: number, callsPerRound: number): Map<string, number> {
  const times = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (const c of contenders) c.run();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(i + r) % contenders.length];
      const start = performance.now();
      for (let j = 0; j < callsPerRound; j++) c.run();
      times.get(c.name)!.push((performance.now() - start) / callsPerRound);
    }
  }
  return new Map([...times].map(([name, t]) => [name, median(t)]));
}

function report(shape: string, medians: Map<string, number>): void {
  const base = medians.get('wasm')!;
  for (const [name, ms] of medians) {
    const ratio = name === 'wasm' ? '' : `  ${(base / ms).toFixed(2)}x`;
    process.stdout.write(`${shape.padEnd(22)} ${name.padEnd(10)} ${ms.toFixed(3).padStart(9)} ms${ratio}\n`);
  }
}

/** A chain of products (one layer after another) on both sides. */
function chain(engine: WasmEngine, m: number, dims: number[], rounds: number, label: string, calls: number): void {
  const weights: Float32Array[] = [];
  for (let i = 0; i + 1 < dims.length; i++) weights.push(values(dims[i] * dims[i + 1], 11 + i, 1 / Math.sqrt(dims[i])));
  const x = values(m * dims[0], 7, 1);
  const quantized: QuantizedWeight[] = weights.map((w, i) =>
    quantizeWeights(w, { batch: 1, k: dims[i], n: dims[i + 1], transposed: false }, 8));
  const tfWeights = weights.map((w, i) => tf.tensor2d(w, [dims[i], dims[i + 1]]));
  const tfX = tf.tensor2d(x, [m, dims[0]]);
  const contenders: Contender[] = [{
    name: 'wasm',
    run: () => {
      const y = tf.tidy(() => tfWeights.reduce((h: tf.Tensor2D, w) => tf.matMul(h, w), tfX));
      y.dataSync();
      y.dispose();
    },
  }];
  const packedAll: PackedWeight[] = [];
  for (const s of SETTINGS) {
    const packed = quantized.map((q) => engine.packWeight(q, s.w));
    packedAll.push(...packed);
    contenders.push({
      name: `W${s.w}A${s.a}`,
      run: () => {
        let h: Float32Array = x;
        for (let i = 0; i < packed.length; i++) {
          h = engine.matMul(h, { rows: m, k: dims[i], rowStride: dims[i], colStride: 1 }, packed[i], 0, s.a).values;
        }
      },
    });
  }
  report(label, interleave(contenders, rounds, calls));
  for (const p of packedAll) p.dispose();
  tf.dispose([...tfWeights, tfX]);
}

/** Sums a buffer with four v128 accumulators: a pure streaming read. */
const READ_PROBE = `
export function readSum(ptr: usize, bytes: usize): i32 {
  let a = i32x4.splat(0), b = a, c = a, d = a;
  for (let p = ptr; p < ptr + bytes; p += 64) {
    a = i32x4.add(a, v128.load(p)); b = i32x4.add(b, v128.load(p, 16));
    c = i32x4.add(c, v128.load(p, 32)); d = i32x4.add(d, v128.load(p, 48));
  }
  return i32x4.extract_lane(i32x4.add(i32x4.add(a, b), i32x4.add(c, d)), 0);
}`;

/** The probe compiled by assemblyscript's command line (an ES module: run as its own process). */
function compileProbe(): BufferSource {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-probe-'));
  try {
    fs.writeFileSync(path.join(dir, 'probe.ts'), READ_PROBE);
    execFileSync(process.execPath, [require.resolve('assemblyscript/bin/asc.js'), path.join(dir, 'probe.ts'), '-O3', '--enable', 'simd',
      '--runtime', 'stub', '--importMemory', '--noAssert', '--use', 'abort=', '-o', path.join(dir, 'probe.wasm')]);
    return fs.readFileSync(path.join(dir, 'probe.wasm'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function bandwidth(): Promise<void> {
  const binary = compileProbe();
  const mib = [1, 4, 8, 16, 32, 64, 128, 512];
  const memory = new WebAssembly.Memory({ initial: (mib[mib.length - 1] << 4) + 1 });
  new Uint8Array(memory.buffer).fill(1);
  const probe = new WebAssembly.Instance(new WebAssembly.Module(binary), { env: { memory } }).exports as { readSum(p: number, n: number): number };
  process.stdout.write('buffer MiB   median GB/s   best GB/s\n');
  for (const m of mib) {
    const bytes = m << 20;
    const times: number[] = [];
    for (let r = 0; r < Math.max(5, Math.floor(1024 / m)); r++) {
      const start = performance.now();
      probe.readSum(64, bytes);
      times.push(performance.now() - start);
    }
    const gbs = (ms: number) => (bytes / ms / 1e6).toFixed(1);
    process.stdout.write(`${String(m).padStart(10)}   ${gbs(median(times)).padStart(11)}   ${gbs(Math.min(...times)).padStart(9)}\n`);
  }
}

/** Shapes (rows × K × N) from well below THREAD_MIN_WORK multiply-adds to well above. */
const THREAD_SHAPES: Array<[number, number, number]> = [
  [1, 1024, 1024], [1, 2048, 2048], [1, 4096, 4096], [8, 512, 512], [16, 512, 512], [16, 1024, 1024],
  [64, 256, 1024], [64, 1024, 1024], [64, 4096, 4096],
];

function threadContenders(engines: Array<[string, WasmEngine]>, m: number, k: number, n: number): { contenders: Contender[]; packed: PackedWeight[] } {
  const w = values(k * n, 11, 1 / Math.sqrt(k));
  const q = quantizeWeights(w, { batch: 1, k, n, transposed: false }, 8);
  const x = values(m * k, 7, 1);
  const tfW = tf.tensor2d(w, [k, n]);
  const tfX = tf.tensor2d(x, [m, k]);
  const contenders: Contender[] = [{
    name: 'wasm',
    run: () => {
      const y = tf.matMul(tfX, tfW);
      y.dataSync();
      y.dispose();
    },
  }];
  const packed: PackedWeight[] = [];
  for (const bits of [4, 8]) {
    for (const [label, engine] of engines) {
      const p = engine.packWeight(q, bits);
      packed.push(p);
      contenders.push({ name: `W${bits}A8 ${label}`, run: () => engine.matMul(x, { rows: m, k, rowStride: k, colStride: 1 }, p, 0, 8) });
    }
  }
  packed.push({ dispose: () => tf.dispose([tfW, tfX]) } as PackedWeight);
  return { contenders, packed };
}

function threads(rounds: number): void {
  const count = Number(arg('count') ?? 2);
  const one = loadWasmEngineSync();
  one.setThreads(1);
  const many = loadWasmEngineSync();
  many.setThreads(count);
  many.threadMinWork = 0;
  process.stdout.write(`threads: 1 vs ${many.threads} (THREAD_MIN_WORK = ${THREAD_MIN_WORK} multiply-adds)\n`);
  for (const [m, k, n] of THREAD_SHAPES) {
    const { contenders, packed } = threadContenders([['1t', one], [`${count}t`, many]], m, k, n);
    const work = m * k * n;
    const calls = Math.max(1, Math.round(2 ** 24 / work));
    report(`${m}x${k}x${n} (2^${Math.log2(work).toFixed(0)})`, interleave(contenders, rounds, calls));
    for (const p of packed) p.dispose();
  }
  one.dispose();
  many.dispose();
}

async function main(): Promise<void> {
  if (process.argv.includes('--bandwidth')) return bandwidth();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const wasm = require('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), path.sep));
  await tf.setBackend('wasm');
  const engine = loadWasmEngineSync();
  const only = arg('only')?.split(',');
  const rounds = Number(arg('reps') ?? 15);
  const want = (name: string) => !only || only.includes(name);
  process.stdout.write(`tfjs ${tf.version_core}, backend ${tf.getBackend()}, ${rounds} interleaved rounds\n`);
  if (process.argv.includes('--threads')) return threads(rounds);
  if (want('1x4096x4096')) chain(engine, 1, [4096, 4096], rounds, '1x4096x4096', 5);
  if (want('64x4096x4096')) chain(engine, 64, [4096, 4096], Math.max(3, Math.floor(rounds / 3)), '64x4096x4096', 1);
  if (want('mlp-b1')) chain(engine, 1, [784, 4096, 4096, 10], rounds, 'mlp-784-4096-4096-10-b1', 5);
  if (want('mlp-b64')) chain(engine, 64, [784, 4096, 4096, 10], Math.max(3, Math.floor(rounds / 3)), 'mlp-784-4096-4096-10-b64', 1);
  engine.dispose();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
