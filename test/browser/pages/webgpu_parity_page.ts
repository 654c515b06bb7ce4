/**
 * The model parity page (parity_page.ts) with pbq-webgpu available: the app hands pbq its
 * tfjs-backend-webgpu. Importing that module registers stock 'webgpu' as tfjs's highest-priority
 * backend, which is created asynchronously: the test selects 'pbq-webgpu' (useBackend) before
 * any tensor exists, as an app would `await tf.setBackend()` first.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as webgpu from '@tensorflow/tfjs-backend-webgpu';
import * as pbq from '../../../src/index';
import './parity_page';

pbq.useWebGPU(webgpu);

Object.assign(window, {
  async useBackend(name: string): Promise<string> {
    if (!(await tf.setBackend(name))) throw new Error(`backend '${name}' could not be initialized`);
    return tf.getBackend();
  },
});
