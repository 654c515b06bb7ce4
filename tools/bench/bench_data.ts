/** Deterministic operands of the benchmark (shared by the Node and browser sides). */

/** Uniform values in [-scale, scale) from a small LCG (fast, reproducible, no tf dependency). */
export function seededValues(count: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(count);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 16777216 * 2 - 1) * scale;
  }
  return out;
}

/** Units of the paper's MNIST MLP 784-4096-4096-10 (input 784). */
export const MLP_LAYERS = [4096, 4096, 10];

/** Random (Glorot-uniform-like) kernels and small biases of the MLP, as setWeights() takes them. */
export function mlpWeights(): Array<{ values: Float32Array; shape: number[] }> {
  const out: Array<{ values: Float32Array; shape: number[] }> = [];
  let fanIn = 784;
  MLP_LAYERS.forEach((units, i) => {
    const limit = Math.sqrt(6 / (fanIn + units));
    out.push({ values: seededValues(fanIn * units, 100 + i, limit), shape: [fanIn, units] });
    out.push({ values: seededValues(units, 200 + i, 0.01), shape: [units] });
    fanIn = units;
  });
  return out;
}

/** The bundled LSTM LM's per-token figure: one window of this many characters, batch 1. */
export const LM_TOKENS = 64;
export const LM_FIGURE = 'lstm-lm-b1-per-token';

/** Character ids of the LM figure's input window (any ids in the vocabulary will do for speed). */
export function lmWindow(vocab: number): Float32Array {
  return Float32Array.from({ length: LM_TOKENS }, (_, t) => (t * 7 + 3) % vocab);
}
