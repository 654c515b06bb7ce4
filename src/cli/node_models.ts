/** Node loading of the bundled models and eval sets for the suite (src/cli/suite.ts). */
import '../../models/chained_ops';
import * as tfl from '@tensorflow/tfjs-layers';
import * as fs from 'fs';
import * as path from 'path';
import '../index';
import * as evalMod from '../../models/eval';
import { ModelName, subsetLm, subsetMnist, Task } from './suite';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const MODELS_DIR = path.join(REPO_ROOT, 'models');
export const RESULTS_DIR = path.join(MODELS_DIR, 'results');

/** Bit-identical faster Slice/SplitV for the stock cpu backend, where models/eval.ts has it. */
export function useFastCpuSlices(): void {
  const f = (evalMod as unknown as { useFastCpuSliceKernels?: () => void }).useFastCpuSliceKernels;
  if (f) f();
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
    return { kind: 'mnist', set: limit ? subsetMnist(set, limit) : set, batchSize: 500 };
  }
  const set = evalMod.loadLmEvalSet(path.join(MODELS_DIR, name));
  return { kind: 'lm', set: limit ? subsetLm(set, limit) : set, batchSize: 64 };
}

export function floatMetricOf(name: ModelName): number | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(MODELS_DIR, name, 'metrics.json'), 'utf8'));
    return m.evalSetAccuracy ?? m.evalSetPerplexity;
  } catch {
    return undefined;
  }
}
