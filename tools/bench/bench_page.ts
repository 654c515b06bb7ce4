/**
 * Browser side of `npm run bench` (bundled by esbuild, driven by tools/bench/bench.ts through
 * tools/harness/browser.ts). Contenders on one page, one WebGL 2 context:
 *   pbq-glsl     pbq backend, tf.matMul / tf.layers on bitlayer shaders (activation quantization
 *                passes included)
 *   pbq-glsl-legacy  the same with the sampler product (the first exact kernel: 16-bit float
 *                texels, SWAR popcounts, tfjs samplers; webglProduct: 'sampler')
 *   pbq-glsl:product=<p>  pbq-glsl with webglProduct = p (ablations)
 *   pbq-f32-ref  plain float32 shader with the bitlayer kernel's layout and fragment mapping
 *   webgl-f32    stock tfjs 'webgl' backend
 *   pbq-wasm     pbq-wasm backend (WebAssembly SIMD engine on tfjs-backend-wasm)
 *   wasm         stock tfjs 'wasm' backend (XNNPACK)
 *   pbq-webgpu   pbq on WebGPU ('pbq-webgpu': WGSL products, kernels/webgpu/); `pbq-webgpu:product=<p>`
 *                with webgpuProduct = p (ablations)
 *   webgpu       stock tfjs 'webgpu' backend
 * (the WebGPU contenders exist when the page has a WebGPU adapter: a secure origin and Chromium's
 * --enable-unsafe-webgpu, tools/harness/browser.ts {webgpu: true}).
 * Each timing runs `reps` calls back to back and reads the last result with dataSync (the GPU
 * executes in order), so the ≥ 4.6 ms of an `await data()` never enters a figure. On WebGPU the
 * last result is read with `await data()` (its dataSync goes through a canvas copy).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { getThreadsCount as stockWasmThreads, setThreadsCount as setStockWasmThreads, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as webgpu from '@tensorflow/tfjs-backend-webgpu';
import * as pbq from '../../src/index';
import type { PbqBackendWasm } from '../../src/backend_wasm';
import { contextOf, WasmWeight } from '../../kernels/wasm/context';
import { autoThreadCount } from '../../kernels/wasm/thread_pool';
import '../../src/chained_ops';
import type { PbqBackendWebGL } from '../../src/backend_webgl';
import { deviceProfile } from '../../kernels/webgl/BatchMatMul_impl';
import { codeFieldBits, codeWordCount } from '../../kernels/webgl/codes_product_gpu';
import { pairsField } from '../../kernels/webgl/pairs_product_gpu';
import { selectProduct } from '../../kernels/webgl/select_product';
import { F32RefMatMul } from './f32_ref_gpu';
import type { PbqBackendWebGPU } from '../../src/backend_webgpu';
import { deviceProfile as webgpuProfile } from '../../kernels/webgpu/product_operands';
import { selectProduct as selectWebGPUProduct } from '../../kernels/webgpu/select_product';
import { codeField } from '../../kernels/webgpu/product_parts';
import { paddedChannels } from '../../kernels/webgpu/gpu_weight';
import { lmWindow, LM_TOKENS, mlpWeights, MLP_LAYERS, seededValues } from './bench_data';

export interface Setting { weightBits: number; activationBits: number; accumulator?: pbq.AccumulatorConfig }

interface MatMulCase {
  m: number; k: number; n: number;
  x: Record<string, tf.Tensor2D>;
  w: Record<string, tf.Tensor2D>;
  ref?: F32RefMatMul;
}

pbq.useWebGPU(webgpu);

const cases = new Map<string, MatMulCase>();
const models = new Map<string, Record<string, tfl.LayersModel>>();
const inputs = new Map<string, Record<string, tf.Tensor2D>>();

const BACKEND_OF: Record<string, string> = {
  'pbq-glsl': 'pbq', 'pbq-glsl-legacy': 'pbq', 'webgl-f32': 'webgl', 'webgl-f16': 'webgl-f16', 'pbq-f32-ref': 'pbq',
  'pbq-wasm': 'pbq-wasm', wasm: 'wasm',
  'pbq-webgpu': 'pbq-webgpu', 'webgpu': 'webgpu',
};

// the .wasm files, as the harness serves the repository
setWasmPaths('/fs/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
pbq.setWasmPaths('/fs/kernels/wasm/build/');
// cross-origin isolated (--isolated): stock wasm asks for as many threads as pbq-wasm's auto
// setting; info() reports what it got (tfjs-backend-wasm 4.22's pthread pool holds half the
// cores: 1 of 2 here, whatever is asked)
if (crossOriginIsolated) setStockWasmThreads(autoThreadCount());

/** Bytes of a k×n weight's pbq-wasm packing at `bits` (made by the runs so far). */
function pbqWasmBytes(w: tf.Tensor, bits: number): number {
  const [k, n] = w.shape as [number, number];
  const b = tf.engine().findBackend('pbq-wasm') as PbqBackendWasm;
  const { device } = b.weightCache.get(w.dataId, { batch: 1, k, n, transposed: false }, bits, () => { throw new Error('not cached'); });
  if (!(device instanceof WasmWeight)) throw new Error('pbq-wasm has not packed this weight');
  return device.atWidth(bits).bytes;
}

/** Whether the page has a WebGPU adapter (set by info()); the WebGPU contenders exist only then. */
let webgpuAvailable = false;

/** The backends every figure creates its operands on. */
function backends(): string[] {
  return ['webgl', 'webgl-f16', 'pbq', 'wasm', 'pbq-wasm', ...(webgpuAvailable ? ['webgpu', 'pbq-webgpu'] : [])];
}

/**
 * `webgl-f16`: stock tfjs webgl with WEBGL_FORCE_F16_TEXTURES, as a second backend instance (its
 * own texture cache; the kernels of 'webgl'). The flag (and the derived
 * WEBGL_RENDER_FLOAT32_ENABLED, which tfjs reads when it creates a texture) is on only while this
 * contender runs, so its tensors live in half-float textures and nobody else's do.
 */
tf.registerBackend('webgl-f16', () => new MathBackendWebGL());
for (const kernel of tf.getKernelsForBackend('webgl')) tf.registerKernel({ ...kernel, backendName: 'webgl-f16' });
const F32_FLAGS = { force: tf.env().getBool('WEBGL_FORCE_F16_TEXTURES'), render: tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') };
function halfFloatTextures(on: boolean): void {
  tf.env().set('WEBGL_FORCE_F16_TEXTURES', on ? true : F32_FLAGS.force);
  tf.env().set('WEBGL_RENDER_FLOAT32_ENABLED', on ? false : F32_FLAGS.render);
}

function baseOf(contender: string): string {
  return contender.split(':')[0];
}

async function use(contender: string, s?: Setting): Promise<void> {
  const [base, variant] = contender.split(':');
  let product: pbq.WebGLProductFlag = base === 'pbq-glsl-legacy' ? 'sampler' : 'auto';
  let webgpuProduct: pbq.WebGPUProductFlag = 'auto';
  const products: readonly string[] = base === 'pbq-webgpu' ? pbq.WEBGPU_PRODUCTS : pbq.WEBGL_PRODUCTS;
  for (const kv of (variant ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (k === 'product' && products.includes(v) && base === 'pbq-webgpu') webgpuProduct = v as pbq.WebGPUProductFlag;
    else if (k === 'product' && products.includes(v)) product = v as pbq.WebGLProductFlag;
    else throw new Error(`unknown kernel option ${kv} of ${base} (known: product=${products.join('|')})`);
  }
  const name = BACKEND_OF[base];
  halfFloatTextures(name === 'webgl-f16');
  if (tf.getBackend() !== name) await tf.setBackend(name);
  pbq.configure({ webglProduct: product, webgpuProduct });
  if (s) pbq.configure({ weightBits: s.weightBits, activationBits: s.activationBits, accumulator: s.accumulator ?? { type: 'exact' } });
}

async function syncLast(t: tf.Tensor): Promise<void> {
  if (/webgpu/.test(tf.getBackend())) await t.data();
  else t.dataSync();
  t.dispose();
}

/** Mean ms per call of `reps` back-to-back predictions (the last one read back). */
async function timePredict(model: tfl.LayersModel, x: tf.Tensor, reps: number): Promise<number> {
  const start = performance.now();
  let y: tf.Tensor | undefined;
  for (let i = 0; i < reps; i++) {
    y?.dispose();
    y = model.predict(x) as tf.Tensor;
  }
  await syncLast(y!);
  return (performance.now() - start) / reps;
}

/**
 * Bytes of a k×n weight on pbq-webgpu at a setting, in the layout of the product that serves it
 * (kernels/webgpu/gpu_weight.ts): planes (bits/32 of float32) or f-bit codes, channels padded to
 * 4, plus the float32 channel scales.
 */
function pbqWebGPUBytes(k: number, n: number, s: Setting): number {
  const t = s.weightBits;
  const product = selectWebGPUProduct({ weightPlanes: t, activationBits: s.activationBits, k, accumulator: s.accumulator ?? { type: 'exact' } },
    pbq.getConfig().webgpuProduct, webgpuProfile(tf.backend() as PbqBackendWebGPU));
  const words = Math.ceil(k / 32);
  const perChannel = product === 'dot4' ? words * codeField(t) : words * t;
  return 4 * perChannel * paddedChannels(n) + 4 * n;
}

/**
 * GPU bytes of a k×n weight for an exact pbq-glsl setting at t planes, in the layout of the
 * product that serves it (select_product.ts, auto): pair codes (+ one Q texel per 4 channels),
 * codes, or planes (+ one meta texel per 4 channels and plane, +1); plus the float32 channel
 * scales. Ignores texture-line padding. (The weight cache keeps every layout a run asked for.)
 */
function pbqGlslBytes(k: number, n: number, s: Setting, contender: string): number {
  const t = s.weightBits;
  const groups = Math.ceil(n / 4);
  const scales = 4 * n;
  const product = contender === 'pbq-glsl-legacy' ? 'sampler' : selectProduct(
    { weightPlanes: t, activationBits: s.activationBits, k, accumulator: { type: 'exact' } },
    'auto', deviceProfile(tf.backend() as PbqBackendWebGL));
  if (product === 'pairs' || product === 'codes') {
    const field = product === 'pairs' ? pairsField(t, s.activationBits, k) : codeFieldBits(t);
    return groups * (codeWordCount(k, field) + (product === 'pairs' ? 1 : 0)) * 16 + scales;
  }
  return groups * Math.ceil(k / 32) * t * 16 + groups * (t + 1) * 16 + scales;
}

const api = {
  async info() {
    await tf.setBackend('webgl');
    const gl = (tf.backend() as MathBackendWebGL).gpgpu.gl;
    const dbg = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    await tf.setBackend('pbq');
    const adapter = 'gpu' in navigator ? await navigator.gpu.requestAdapter() : null;
    webgpuAvailable = adapter !== null;
    const gpu = (adapter as (GPUAdapter & { info?: GPUAdapterInfo }) | null)?.info;
    await tf.setBackend('wasm');
    const stockThreads = stockWasmThreads(); // XNNPACK's pool (threaded build: isolated pages only)
    await tf.setBackend('pbq-wasm');
    const wasmThreads = contextOf(tf.backend() as PbqBackendWasm).engine.threads;
    return {
      renderer: String(renderer), userAgent: navigator.userAgent, base: pbq.detectBaseKind(), webgpu: webgpuAvailable,
      webgpuAdapter: gpu ? `${gpu.vendor} ${gpu.architecture} ${gpu.description}`.trim() : null,
      crossOriginIsolated, pbqWasmThreads: wasmThreads, wasmThreads: stockThreads,
      wasmThreadedBuild: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    };
  },

  /** Creates operands of one m×k×n matmul on every backend (weights as variables). */
  async prepareMatMul(id: string, m: number, k: number, n: number, seed: number) {
    const xv = seededValues(m * k, seed, 1);
    const wv = seededValues(k * n, seed + 1, 0.05);
    const c: MatMulCase = { m, k, n, x: {}, w: {} };
    for (const backend of backends()) {
      halfFloatTextures(backend === 'webgl-f16');
      await tf.setBackend(backend);
      c.x[backend] = tf.tensor2d(xv, [m, k]);
      c.w[backend] = tf.variable(tf.tensor2d(wv, [k, n])) as unknown as tf.Tensor2D;
    }
    halfFloatTextures(false);
    await tf.setBackend('pbq');
    c.ref = new F32RefMatMul(tf.backend() as PbqBackendWebGL, xv, wv, m, k, n);
    cases.set(id, c);
    return true;
  },

  disposeMatMul(id: string) {
    const c = cases.get(id);
    if (!c) return;
    // tfjs finds a texture's pool by the current texture flags: free each backend's under its own
    for (const backend of Object.keys(c.x)) {
      halfFloatTextures(backend === 'webgl-f16');
      tf.dispose([c.x[backend], c.w[backend]]);
    }
    halfFloatTextures(false);
    c.ref?.dispose();
    cases.delete(id);
  },

  /** Mean ms per call over `reps` back-to-back calls (last result read with dataSync). */
  async timeMatMul(id: string, contender: string, s: Setting | null, reps: number) {
    const c = cases.get(id);
    if (!c) throw new Error(`no case ${id}`);
    await use(contender, s ?? undefined);
    const backend = BACKEND_OF[baseOf(contender)];
    const start = performance.now();
    if (contender === 'pbq-f32-ref') {
      for (let i = 0; i < reps; i++) c.ref!.run(i === reps - 1);
    } else {
      let y: tf.Tensor | undefined;
      for (let i = 0; i < reps; i++) {
        y?.dispose();
        y = tf.matMul(c.x[backend], c.w[backend]);
      }
      await syncLast(y!);
    }
    return (performance.now() - start) / reps;
  },

  /** GPU bytes of the weight operand as each contender stores it. */
  async weightBytes(id: string, contender: string, s: Setting | null) {
    const c = cases.get(id)!;
    await use(contender, s ?? undefined); // the kernel options decide the layout
    contender = baseOf(contender);
    if (contender === 'webgl-f32' || contender === 'wasm' || contender === 'webgpu') return 4 * c.k * c.n;
    if (contender === 'pbq-webgpu') return pbqWebGPUBytes(c.k, c.n, s!);
    if (contender === 'webgl-f16') return 2 * c.k * c.n;
    if (contender === 'pbq-wasm') return pbqWasmBytes(c.w['pbq-wasm'], s!.weightBits);
    if (contender === 'pbq-f32-ref') return c.ref!.weightBytes;
    return pbqGlslBytes(c.k, c.n, s!, contender);
  },

  /** The MNIST MLP 784-4096-4096-10 (Dense relu, random weights) on every backend. */
  async prepareMLP(batch: number) {
    const key = `mlp-b${batch}`;
    const weights = mlpWeights();
    const byBackend: Record<string, tfl.LayersModel> = {};
    const xs: Record<string, tf.Tensor2D> = {};
    for (const backend of backends()) {
      halfFloatTextures(backend === 'webgl-f16');
      await tf.setBackend(backend);
      const model = tfl.sequential();
      MLP_LAYERS.forEach((units, i) => model.add(tfl.layers.dense({
        units, activation: i === MLP_LAYERS.length - 1 ? 'linear' : 'relu', inputShape: i === 0 ? [784] : undefined,
      })));
      model.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
      byBackend[backend] = model;
      xs[backend] = tf.tensor2d(seededValues(batch * 784, 99, 1).map(Math.abs), [batch, 784]);
    }
    halfFloatTextures(false);
    models.set(key, byBackend);
    inputs.set(key, xs);
    return true;
  },

  async timeMLP(batch: number, contender: string, s: Setting | null, reps: number) {
    const key = `mlp-b${batch}`;
    const backend = BACKEND_OF[baseOf(contender)];
    await use(contender, s ?? undefined);
    const model = models.get(key)![backend];
    const x = inputs.get(key)![backend];
    return timePredict(model, x, reps);
  },

  async mlpWeightBytes(batch: number, contender: string, s: Setting | null) {
    await use(contender, s ?? undefined);
    const model = models.get(`mlp-b${batch}`)![BACKEND_OF[baseOf(contender)]];
    const kernels = model.layers.map((l) => (l as unknown as { kernel: { read(): tf.Tensor } }).kernel.read());
    if (contender === 'webgl-f16') return kernels.reduce((s2, k) => s2 + 2 * k.size, 0);
    if (contender === 'pbq-wasm') return kernels.reduce((s2, k) => s2 + pbqWasmBytes(k, s!.weightBits), 0);
    if (baseOf(contender) === 'pbq-webgpu') return kernels.reduce((sum, k) => sum + pbqWebGPUBytes(k.shape[0] as number, k.shape[1] as number, s!), 0);
    if (baseOf(contender) !== 'pbq-glsl' && contender !== 'pbq-glsl-legacy') return kernels.reduce((s2, k) => s2 + 4 * k.size, 0);
    return kernels.reduce((sum, k) => sum + pbqGlslBytes(k.shape[0] as number, k.shape[1] as number, s!, contender), 0);
  },

  /** The bundled LSTM LM (models/lstm-lm) on every backend; returns its vocabulary size. */
  async prepareLM() {
    const byBackend: Record<string, tfl.LayersModel> = {};
    const xs: Record<string, tf.Tensor2D> = {};
    let vocab = 0;
    for (const backend of backends()) {
      halfFloatTextures(backend === 'webgl-f16');
      await tf.setBackend(backend);
      byBackend[backend] = await tfl.loadLayersModel('/fs/models/lstm-lm/model.json');
      vocab = byBackend[backend].outputs[0].shape[2] as number;
      xs[backend] = tf.tensor2d(lmWindow(vocab), [1, LM_TOKENS]);
    }
    halfFloatTextures(false);
    models.set('lm', byBackend);
    inputs.set('lm', xs);
    return vocab;
  },

  /** Mean ms per token: `reps` predictions of one window, divided by its length. */
  async timeLM(contender: string, s: Setting | null, reps: number) {
    const backend = BACKEND_OF[baseOf(contender)];
    await use(contender, s ?? undefined);
    const model = models.get('lm')![backend];
    const x = inputs.get('lm')![backend];
    return (await timePredict(model, x, reps)) / LM_TOKENS;
  },

  /** Bytes of the LM's matmul weights (Dense and LSTM kernels) as each contender stores them. */
  async lmWeightBytes(contender: string, s: Setting | null) {
    await use(contender, s ?? undefined);
    const model = models.get('lm')![BACKEND_OF[baseOf(contender)]];
    const kernels = model.weights.filter((w) => w.shape.length === 2 && /kernel/.test(w.originalName ?? w.name));
    const size = (w: { shape: number[] }) => (w.shape[0] as number) * (w.shape[1] as number);
    if (baseOf(contender) === 'pbq-glsl') return kernels.reduce((sum, k) => sum + pbqGlslBytes(k.shape[0] as number, k.shape[1] as number, s!, contender), 0);
    if (baseOf(contender) === 'pbq-webgpu') return kernels.reduce((sum, k) => sum + pbqWebGPUBytes(k.shape[0] as number, k.shape[1] as number, s!), 0);
    if (contender === 'pbq-wasm') {
      // by formula: the fused LSTM step caches its own [W; U] weight, not these
      const format = s!.weightBits <= 4 ? 4 : s!.weightBits <= 8 ? 8 : 16;
      return kernels.reduce((sum, k) => sum + Math.ceil((k.shape[1] as number) / 4) * 4 * (Math.ceil((k.shape[0] as number) / 32) * format * 4 + 8), 0);
    }
    return kernels.reduce((sum, k) => sum + (contender === 'webgl-f16' ? 2 : 4) * size(k as { shape: number[] }), 0);
  },

  /** Max |pbq − webgl| / max |webgl| of one matmul (a sanity check printed with the table). */
  async matMulError(id: string, s: Setting) {
    const c = cases.get(id)!;
    await use('webgl-f32');
    const ref = await tf.matMul(c.x.webgl, c.w.webgl).data();
    await use('pbq-glsl', s);
    const got = await tf.matMul(c.x.pbq, c.w.pbq).data();
    let err = 0;
    let scale = 0;
    for (let i = 0; i < ref.length; i++) {
      err = Math.max(err, Math.abs(got[i] - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    return err / scale;
  },
};

Object.assign(window, api);
