/** Node loading of the bundled models and eval sets for the suite (tools/demo/suite.ts). */
import '../../src/chained_ops';
import * as tfl from '@tensorflow/tfjs-layers';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as pbqModule from '../../src/index';
import * as evalMod from '../../models/eval';
import { lmWindows, ModelName, subsetLm, subsetMnist, Task } from './suite';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const MODELS_DIR = path.join(REPO_ROOT, 'models');
export const RESULTS_DIR = path.join(MODELS_DIR, 'results');

/**
 * Bit-identical faster Slice/SplitV for the stock cpu backend (models/eval.ts), and for 'pbq'
 * on its Node CPU base too (pbq copies the cpu kernels at registration, before the patch; the
 * GRU's per-step gate slices are not matmuls, so this only speeds up evaluation).
 */
export function useFastCpuSlices(): void {
  const f = (evalMod as unknown as { useFastCpuSliceKernels?: () => void }).useFastCpuSliceKernels;
  if (!f) return;
  f();
  if (pbqModule.detectBaseKind() !== 'cpu') return;
  for (const name of ['Slice', 'SplitV']) {
    const fast = tf.getKernel(name, 'cpu');
    const cur = tf.getKernel(name, pbqModule.BACKEND_NAME);
    if (fast && cur && cur.kernelFunc !== fast.kernelFunc) {
      tf.unregisterKernel(name, pbqModule.BACKEND_NAME);
      tf.registerKernel({ ...fast, backendName: pbqModule.BACKEND_NAME });
    }
  }
}

export function modelAvailable(name: ModelName): boolean {
  return fs.existsSync(path.join(MODELS_DIR, name, 'model.json')) &&
    fs.existsSync(path.join(MODELS_DIR, name, 'eval.json'));
}

export async function loadModel(name: ModelName): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel('file://' + path.join(MODELS_DIR, name, 'model.json'));
}

/**
 * The eval task of a model. `limit`: MNIST digits (strided subset) or LM windows (prefix);
 * undefined = the whole committed eval set.
 */
export function loadTask(name: ModelName, limit?: number): Task {
  if (name === 'mnist-mlp') {
    const set = evalMod.loadMnistEvalSet(path.join(MODELS_DIR, name));
    return { kind: 'mnist', set: limit ? subsetMnist(set, limit) : set, batchSize: 500, fullSize: set.n };
  }
  const set = evalMod.loadLmEvalSet(path.join(MODELS_DIR, name));
  return { kind: 'lm', set: limit ? subsetLm(set, limit) : set, batchSize: 64, fullSize: lmWindows(set) };
}
