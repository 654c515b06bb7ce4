/** Small deterministic models and utilities for the converter tests. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src/chained_ops';
import { fileHandler } from '../src/io/file_io';
import { main, CliIO } from '../src/cli/pbq';

export function tmpDir(prefix = 'pbq-conv-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The seeded PRNG shared by the tests (mulberry32). */
import { rng } from './helpers';
export { rng };

/** Heavy-ish tailed values (a mix of Gaussians), deterministic. */
export function weights(n: number, seed: number, scale: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
    out[i] = g * scale * (r() < 0.05 ? 3 : 1);
  }
  return out;
}

/** Sets every weight of a model to deterministic values, channel scales varying per column. */
export function setDeterministicWeights(model: tfl.LayersModel, seed: number): void {
  const values = model.getWeights().map((w, i) => {
    const shape = w.shape;
    const size = w.size;
    const fanIn = shape.length >= 2 ? shape[0] : 1;
    const v = weights(size, seed + i * 101, shape.length >= 2 ? 1 / Math.sqrt(fanIn) : 0.1);
    if (shape.length === 2) {
      const N = shape[1];
      const r = rng(seed + i * 7 + 3);
      const colScale = Array.from({ length: N }, () => 0.3 + 1.7 * r());
      for (let k = 0; k < shape[0]; k++) for (let n = 0; n < N; n++) v[k * N + n] *= colScale[n];
    }
    return tf.tensor(v, shape);
  });
  model.setWeights(values);
  tf.dispose(values);
}

export function mlp(inputDim = 48, seed = 1): tfl.LayersModel {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [inputDim], units: 40, activation: 'relu', name: 'dense_1' }),
      tfl.layers.dense({ units: 24, activation: 'relu', name: 'dense_2' }),
      tfl.layers.dense({ units: 10, activation: 'softmax', name: 'dense_3' }),
    ],
  });
  setDeterministicWeights(model, seed);
  return model;
}

export type RnnKind = 'lstm' | 'gru' | 'simpleRNN';

/** Embedding → RNN(return sequences) → [SimpleRNN] → Dense softmax over a small vocabulary. */
export function rnnLm(kind: RnnKind, vocab = 20, seed = 2, extraSimple = false): tfl.LayersModel {
  const layers: tfl.layers.Layer[] = [
    tfl.layers.embedding({ inputDim: vocab, outputDim: 8, inputShape: [null as unknown as number], name: 'embedding' }),
    tfl.layers[kind]({ units: 24, returnSequences: true, recurrentActivation: 'hardSigmoid', name: 'rnn' } as never),
  ];
  if (extraSimple) layers.push(tfl.layers.simpleRNN({ units: 16, returnSequences: true, name: 'simple' }));
  layers.push(tfl.layers.dense({ units: vocab, activation: 'softmax', name: 'out' }));
  const model = tfl.sequential({ layers });
  setDeterministicWeights(model, seed);
  return model;
}

export async function saveModel(model: tfl.LayersModel, dir: string): Promise<string> {
  await model.save(fileHandler(dir));
  return dir;
}

export function writeCalibration(dir: string, inputs: number[][] | number[][][]): string {
  const file = path.join(dir, 'calibration.json');
  fs.writeFileSync(file, JSON.stringify({ inputs }));
  return file;
}

export function randomRows(n: number, dim: number, seed: number): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: dim }, () => Math.max(0, r() * 2 - 0.4)));
}

export function randomIds(n: number, len: number, vocab: number, seed: number): number[][] {
  const r = rng(seed);
  // A skewed distribution, like characters.
  return Array.from({ length: n }, () => Array.from({ length: len }, () => Math.floor(vocab * r() * r())));
}

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the CLI in-process. */
export async function runCli(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = { stdout: (s) => { stdout += s; }, stderr: (s) => { stderr += s; }, isTTY: false };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

export async function predict(model: tfl.LayersModel, x: tf.Tensor): Promise<Float32Array> {
  const y = model.predict(x) as tf.Tensor;
  const v = (await y.data()) as Float32Array;
  y.dispose();
  return v;
}
