/**
 * Text generation with the bundled character LSTM LM. The model takes a whole window at a time;
 * for generation the page builds a stateful copy (batch 1, one character per call, the LSTM's
 * state kept between calls) with the same weights, so each new character costs one LSTM step.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mulberry32 } from '../../models/data/prng';

/** Character ids of `text` in the model's vocabulary (id 0 is the unknown character). */
export function encode(text: string, vocab: string[]): number[] {
  const index = new Map(vocab.map((c, i) => [c, i]));
  return Array.from(text.toLowerCase(), (c) => index.get(c) ?? 0);
}

export function decode(ids: number[], vocab: string[]): string {
  return ids.map((i) => vocab[i] ?? '?').join('');
}

/** The seeded PRNG (models/data/prng.ts), so a setting always generates the same text. */
export { mulberry32 };

/** Draws an index from probabilities sharpened by a temperature: p_i^(1/T), renormalized. */
export function sample(probs: ArrayLike<number>, temperature: number, rand: () => number): number {
  const w = Array.from(probs, (p) => Math.pow(Math.max(p, 0), 1 / temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let r = rand() * total;
  for (let i = 0; i < w.length; i++) {
    r -= w[i];
    if (r < 0) return i;
  }
  return w.length - 1;
}

interface LayerJson { class_name: string; config: Record<string, unknown> }

/** A stateful, batch-1, one-step copy of a Sequential Embedding → LSTM → Dense model, same weights. */
export async function statefulCopy(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  const topology = model.toJSON(null, false) as unknown as { config: { layers: LayerJson[] } };
  const layers = topology.config.layers;
  if (layers[0]?.class_name !== 'Embedding' || !layers.some((l) => l.class_name === 'LSTM')) {
    throw new Error('statefulCopy: expected an Embedding → LSTM → … Sequential model');
  }
  layers[0].config.batch_input_shape = [1, 1];
  for (const l of layers) if (l.class_name === 'LSTM') l.config.stateful = true;
  const copy = await tfl.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] } as never);
  copy.setWeights(model.getWeights());
  return copy;
}

/** Feeds the prompt, then samples `n` characters; returns their ids. */
export function generate(stateful: tfl.LayersModel, prompt: number[], n: number, temperature: number, seed: number): number[] {
  stateful.resetStates();
  const rand = mulberry32(seed);
  const step = (id: number): ArrayLike<number> => tf.tidy(() => {
    const probs = stateful.predict(tf.tensor2d([[id]])) as tf.Tensor;
    return probs.dataSync() as Float32Array;
  });
  let probs: ArrayLike<number> = [];
  for (const id of prompt.length ? prompt : [0]) probs = step(id);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const next = sample(probs, temperature, rand);
    out.push(next);
    if (i + 1 < n) probs = step(next);
  }
  return out;
}
