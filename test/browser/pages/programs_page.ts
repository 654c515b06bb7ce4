/**
 * Page of test/browser/webgl_programs_gpu.test.ts: how many programs pbq-webgl compiles (tfjs's
 * binary cache + the raw passes' RawResources), the bound of the raw program and scratch caches,
 * and the raw passes' timers in tf.time() / tf.profile().
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-webgl';
import * as pbq from '../../../src/index';
import type { PbqBackendWebGL } from '../../../src/backend_webgl';
import { rawResources } from '../../../kernels/webgl/raw_program';
import { seededValues } from '../../../tools/bench/bench_data';
import { lstmModel, TOKENS } from '../../lstm_fixture';

/** pbq's tfjs programs (class names, the first part of tfjs's cache keys). */
const PBQ_PROGRAMS = ['RowExponentProgram', 'ActivationCodesProgram', 'ActivationPlanesProgram', 'EpilogueProgram',
  'SamplerProductProgram', 'NarrowAccumulatorProgram', 'LstmCellProgram'];

/** Programs compiled so far: tfjs's binary cache (all, and pbq's) and pbq's raw passes. */
function compiled() {
  const backend = tf.backend() as unknown as { binaryCache: Record<string, unknown> };
  const keys = Object.keys(backend.binaryCache);
  const raw = tf.getBackend() === 'webgl' ? 0 : rawResources(tf.backend() as PbqBackendWebGL).compiled;
  return { all: keys.length + raw, pbq: keys.filter((k) => PBQ_PROGRAMS.some((p) => k.startsWith(`${p}_`))).length + raw };
}

function delta(after: ReturnType<typeof compiled>, before: ReturnType<typeof compiled>) {
  return { all: after.all - before.all, pbq: after.pbq - before.pbq };
}

/** A Dense MLP 100-64(relu)-10 with seeded weights. */
function mlp(): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ units: 64, activation: 'relu', inputShape: [100], kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  model.add(tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  return model;
}

/** Runs `run(size)` for each size and returns the programs each new size compiled. */
async function compiledPerCall(sizes: number[], run: (size: number) => Promise<void>) {
  const out = [];
  for (const size of sizes) {
    const before = compiled();
    await run(size);
    out.push({ size, ...delta(compiled(), before) });
  }
  return out;
}

const api = {
  /** Programs compiled by predictions of the MLP at each batch size, on `backend` ('webgl' or 'pbq'). */
  async mlpBatches(backend: string, product: pbq.WebGLProductFlag, batches: number[]) {
    await tf.setBackend(backend);
    pbq.configure({ weightBits: 4, activationBits: 8, webglProduct: product });
    const model = mlp();
    const out = await compiledPerCall(batches, async (batch) => {
      const x = tf.tensor2d(seededValues(batch * 100, batch, 1), [batch, 100]);
      const y = model.predict(x) as tf.Tensor;
      await y.data();
      tf.dispose([x, y]);
    });
    model.dispose();
    pbq.resetConfig();
    return out;
  },

  /** Programs compiled by the fused LSTM (tf.layers.lstm, 7 steps) at each batch size. */
  async lstmBatches(batches: number[]) {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const model = lstmModel('hardSigmoid', 40);
    const out = await compiledPerCall(batches, async (batch) => {
      const tokens = tf.tensor2d(Array.from({ length: batch }, (_, i) => TOKENS[i % TOKENS.length]));
      const y = model.predict(tokens) as tf.Tensor;
      await y.data();
      tf.dispose([tokens, y]);
    });
    model.dispose();
    pbq.resetConfig();
    return out;
  },

  /**
   * Matmuls with `ks.length` distinct K (then the first ones again) under a raw program cache of
   * `capacity`: cache sizes, evicted programs deleted, pbq's tfjs programs compiled per shape, and
   * outputs against the CPU engine (max |Δ| / max |y|) and against the first run of the same shape.
   */
  async boundedPrograms(capacity: number, ks: number[], revisit: number) {
    await tf.setBackend('pbq');
    const backend = tf.backend() as PbqBackendWebGL;
    const resources = rawResources(backend);
    const gl = backend.gpgpu.gl as WebGL2RenderingContext;
    resources.programs.capacity = capacity;
    pbq.configure({ weightBits: 4, activationBits: 8, webglProduct: 'planes' });
    const seen: WebGLProgram[] = [];
    const first = new Map<number, Float32Array>();
    const steps = [];
    for (const k of [...ks, ...ks.slice(0, revisit)]) {
      const before = compiled();
      const rawBefore = resources.compiled;
      const xv = seededValues(3 * k, k, 1);
      const wv = seededValues(k * 8, k + 1, 0.5);
      const y = tf.tidy(() => tf.matMul(tf.tensor2d(xv, [3, k]), tf.tensor2d(wv, [k, 8])));
      const gpu = await y.data() as Float32Array;
      y.dispose();
      const d = delta(compiled(), before);
      for (const b of resources.programs.values()) if (!seen.includes(b.program)) seen.push(b.program);
      await tf.setBackend('pbq-cpu');
      const yc = tf.tidy(() => tf.matMul(tf.tensor2d(xv, [3, k]), tf.tensor2d(wv, [k, 8])));
      const cpu = await yc.data();
      yc.dispose();
      await tf.setBackend('pbq');
      let err = 0;
      let scale = 0;
      for (let i = 0; i < cpu.length; i++) {
        err = Math.max(err, Math.abs(gpu[i] - cpu[i]));
        scale = Math.max(scale, Math.abs(cpu[i]));
      }
      const again = first.get(k);
      if (!again) first.set(k, gpu);
      steps.push({
        k, size: resources.programs.size, rawCompiled: resources.compiled - rawBefore,
        tfjsCompiled: d.pbq - (resources.compiled - rawBefore), relError: err / scale, sameAsFirst: again ? again.every((v, i) => Object.is(v, gpu[i])) : null,
      });
    }
    const live = new Set<WebGLProgram>([...resources.programs.values()].map((b) => b.program));
    const evicted = seen.filter((p) => !live.has(p));
    const result = {
      steps, capacity: resources.programs.capacity, evictions: resources.programs.evictions,
      programsSeen: seen.length, evictedStillPrograms: evicted.filter((p) => gl.isProgram(p)).length,
      liveArePrograms: [...live].every((p) => gl.isProgram(p)), evicted: evicted.length,
    };
    pbq.resetConfig();
    return result;
  },

  /** Matmuls at `batches` (distinct activation scratch sizes): scratch textures kept, and evicted ones deleted. */
  async boundedScratch(batches: number[]) {
    await tf.setBackend('pbq');
    const backend = tf.backend() as PbqBackendWebGL;
    const gl = backend.gpgpu.gl as WebGL2RenderingContext;
    const scratch = rawResources(backend).scratch;
    pbq.configure({ weightBits: 4, activationBits: 8, webglProduct: 'planes' });
    const w = tf.variable(tf.tensor2d(seededValues(64 * 8, 3, 0.5), [64, 8]));
    const seen: WebGLTexture[] = [];
    const sizes = [];
    for (const batch of batches) {
      const y = tf.tidy(() => tf.matMul(tf.tensor2d(seededValues(batch * 64, batch, 1), [batch, 64]), w));
      await y.data();
      y.dispose();
      for (const t of scratch.values()) if (!seen.includes(t.texture)) seen.push(t.texture);
      sizes.push(scratch.size);
    }
    w.dispose();
    const live = new Set([...scratch.values()].map((t) => t.texture));
    const evicted = seen.filter((t) => !live.has(t));
    pbq.resetConfig();
    return { sizes, capacity: scratch.capacity, seen: seen.length, evicted: evicted.length, evictedStillTextures: evicted.filter((t) => gl.isTexture(t)).length };
  },

  /** tf.time() and tf.profile() of one quantized matmul under `product`: kernel ms and the programs timed. */
  async timers(product: pbq.WebGLProductFlag) {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits: 4, activationBits: 8, webglProduct: product });
    const x = tf.tensor2d(seededValues(2 * 512, 1, 1), [2, 512]);
    const w = tf.variable(tf.tensor2d(seededValues(512 * 256, 2, 0.5), [512, 256]));
    const run = () => {
      const y = tf.matMul(x, w);
      y.dataSync();
      y.dispose();
    };
    run(); // compile and quantize first
    const time = await tf.time(run);
    const profile = await tf.profile(run);
    tf.dispose([x, w]);
    pbq.resetConfig();
    const timed = (info: string) => info.split(', ').filter(Boolean).map((entry) => {
      const [name, ms] = entry.split(': ');
      return { name, ms: Number(ms) };
    });
    const matmul = profile.kernels.find((k) => k.name === 'BatchMatMul');
    return {
      timerReliable: tf.env().getNumber('WEBGL_DISJOINT_QUERY_TIMER_EXTENSION_RELIABLE') > 0,
      time: { kernelMs: time.kernelMs as number, programs: timed((time as unknown as { getExtraProfileInfo(): string }).getExtraProfileInfo()) },
      profile: matmul ? { kernelMs: matmul.kernelTimeMs as number, programs: timed(matmul.extraInfo as string) } : null,
    };
  },
};

Object.assign(window, api);
