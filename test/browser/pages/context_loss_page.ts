/**
 * Page of test/browser/context_loss_gpu.test.ts: a pbq-webgl model, then the WebGL context lost
 * through WEBGL_lose_context. Every later call must fail with PbqContextLostError (no hang, no
 * zeros), disposal must work, and pbq.recreateBackend() must give a backend that computes again.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../../../src/index';
import type { PbqBackendWebGL } from '../../../src/backend_webgl';
import { seededValues } from '../../../tools/bench/bench_data';

/** A Dense MLP 50-32(relu)-6 with seeded weights (the same model every time). */
function mlp(): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ units: 32, activation: 'relu', inputShape: [50], kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  model.add(tfl.layers.dense({ units: 6, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  return model;
}

/** What a call did within `ms`: its value, the error's name and message, or 'timeout' (a hang). */
async function outcome<T>(f: () => T | Promise<T>, ms = 10_000): Promise<{ value?: T; error?: string; message?: string; timeout?: true }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  try {
    const r = await Promise.race([Promise.resolve().then(f), timeout]);
    return r === 'timeout' ? { timeout: true } : { value: r as T };
  } catch (e) {
    return { error: (e as Error).name, message: (e as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

const api = {
  async loseContext() {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const x = tf.tensor2d(seededValues(3 * 50, 5, 1), [3, 50]);
    const model = mlp();
    const y = model.predict(x) as tf.Tensor;
    const before = Array.from(await y.data());
    const backend = tf.backend() as PbqBackendWebGL;
    const gl = backend.gpgpu.gl as WebGL2RenderingContext;

    const y2 = model.predict(x) as tf.Tensor; // on the GPU, not read yet
    const pending = outcome(() => y2.data()); // read in flight when the context goes
    gl.getExtension('WEBGL_lose_context')!.loseContext();
    const after = {
      pendingRead: await pending,
      predictSync: await outcome(() => Array.from((model.predict(x) as tf.Tensor).dataSync())),
      predictAsync: await outcome(async () => Array.from(await (model.predict(x) as tf.Tensor).data())),
      readOldResult: await outcome(async () => Array.from(await y.data())),
      matMul: await outcome(() => tf.matMul(x, tf.ones([50, 2])).dataSync()),
      isContextLost: backend.isContextLost(),
    };
    const dispose = await outcome(() => {
      tf.dispose([x, y, y2]);
      model.dispose();
      return tf.memory().numTensors;
    });

    const recreated = await outcome(() => pbq.recreateBackend('pbq'));
    const fresh = tf.backend() as PbqBackendWebGL;
    const x3 = tf.tensor2d(seededValues(3 * 50, 5, 1), [3, 50]);
    const model3 = mlp();
    const again = await outcome(async () => Array.from(await (model3.predict(x3) as tf.Tensor).data()));
    tf.dispose([x3]);
    model3.dispose();
    return {
      before, after, dispose, recreated, again, newBackend: fresh !== backend, newContextLost: fresh.isContextLost(),
      backend: tf.getBackend(),
    };
  },
};

Object.assign(window, api);
