/**
 * The load-time patches that `pbq.loadLayersModel` (src/converter/load.ts) applies to a model
 * whose weights come with stored planes, so every quantized matmul multiplies with those planes:
 *
 * - Dense on inputs of rank > 2: tfjs-layers multiplies with a transposed *copy* of the kernel (a
 *   new dataId, so no stored planes); the patched layer flattens such inputs to 2-D instead.
 * - GRU: GRUCell splits its recurrent kernel at every step (new tensors); the patched cell keeps
 *   the two column blocks as variables of their own, with their stored planes.
 *
 * Both patch the layer instance (its `call`), only for models pbq loads; inference only (training
 * keeps tfjs-layers' code). Stock models loaded with tf.loadLayersModel are never patched.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { QuantizedWeight } from '../quantize';
import { attachStoredPlanes, WeightLayout } from '../weight_cache';

/**
 * tfjs-layers' Dense on an input of rank > 2 multiplies with a transposed *copy* of the kernel
 * (K.dot's N-D path), which has a new dataId and so never finds the stored planes. This makes a
 * loaded Dense layer flatten such inputs to 2D instead (the same products, row for row), so its
 * matmul reads the kernel variable itself.
 */
export function routeDenseThroughVariable(layer: tfl.layers.Layer): void {
  const sub = (layer as unknown as { layers?: tfl.layers.Layer[] }).layers;
  if (Array.isArray(sub)) {
    sub.forEach(routeDenseThroughVariable);
    return;
  }
  if (layer.getClassName() !== 'Dense') return;
  type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
  const target = layer as unknown as { call: Call };
  const original = target.call.bind(layer) as Call;
  target.call = (inputs, kwargs) => {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!x || x.rank <= 2) return original(inputs, kwargs);
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const y = original(tf.reshape(x, [-1, x.shape[x.rank - 1]]), kwargs) as tf.Tensor;
      return tf.reshape(y, [...lead, y.shape[1] as number]);
    });
  };
}

/** Channels [from, to) of a quantized [1, K, N] weight, as a [1, K, to - from] weight. */
function sliceChannels(w: QuantizedWeight, from: number, to: number): QuantizedWeight {
  const per = w.bits * w.words;
  return {
    bits: w.bits, batch: 1, k: w.k, n: to - from, words: w.words,
    planes: w.planes.slice(from * per, to * per), ranges: w.ranges.slice(from, to),
    ...(w.channelBits ? { channelBits: w.channelBits.slice(from, to) } : {}),
  };
}

export type StoredPlanes = Map<string, { weight: QuantizedWeight; layout: WeightLayout }>;

/**
 * tfjs-layers' GRUCell splits its recurrent kernel into [z r] and [h] columns at every step
 * (new tensors, invisible to the stored-plane registry). For a loaded GRU with stored planes,
 * this keeps the two column blocks as variables of their own, with their stored planes, and
 * runs the cell's inference step with them: the same ops in the same order as GRUCell.call.
 * Training calls and cells with dropout keep tfjs-layers' own step.
 */
export function splitGruRecurrentKernel(layer: tfl.layers.Layer, planes: StoredPlanes, attached: string[], owned: tf.Variable[]): void {
  const sub = (layer as unknown as { layers?: tfl.layers.Layer[] }).layers;
  if (Array.isArray(sub)) {
    sub.forEach((l) => splitGruRecurrentKernel(l, planes, attached, owned));
    return;
  }
  if (layer.getClassName() !== 'GRU') return;
  type Act = { apply: (t: tf.Tensor) => tf.Tensor };
  type Var = { originalName: string; read: () => tf.Variable };
  const cell = (layer as unknown as { cell: Record<string, unknown> }).cell as {
    units: number; useBias: boolean; dropout: number; recurrentDropout: number; kernel: Var; recurrentKernel: Var;
    bias: Var | null; activation: Act; recurrentActivation: Act;
    call: (inputs: tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor[];
  };
  const stored = planes.get(cell.recurrentKernel.originalName);
  if (!stored || stored.layout.transposed || stored.weight.batch !== 1) return;
  const u = cell.units;
  const full = cell.recurrentKernel.read();
  const [v1, v2] = tf.split(full, [2 * u, u], 1);
  const rk1 = tf.variable(v1, false);
  const rk2 = tf.variable(v2, false);
  tf.dispose([v1, v2]);
  owned.push(rk1, rk2);
  attachStoredPlanes(rk1.dataId, { batch: 1, k: stored.weight.k, n: 2 * u, transposed: false }, sliceChannels(stored.weight, 0, 2 * u));
  attachStoredPlanes(rk2.dataId, { batch: 1, k: stored.weight.k, n: u, transposed: false }, sliceChannels(stored.weight, 2 * u, 3 * u));
  attached.push(`${cell.recurrentKernel.originalName} (split [z r] | [h])`);
  const original = cell.call.bind(cell);
  const dot = (a: tf.Tensor, b: tf.Tensor) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: false, transposeB: false });
  cell.call = (inputs, kwargs) => {
    const training = kwargs?.training ?? false;
    if (training || (cell.dropout > 0 && cell.dropout < 1) || (cell.recurrentDropout > 0 && cell.recurrentDropout < 1) ||
      inputs.length !== 2 || inputs[0].rank !== 2) {
      return original(inputs, kwargs);
    }
    return tf.tidy(() => {
      const [x, hTMinus1] = inputs;
      let matrixX = dot(x, cell.kernel.read());
      if (cell.useBias && cell.bias) matrixX = tf.add(matrixX, tf.reshape(cell.bias.read(), [1, -1]));
      const matrixInner = dot(hTMinus1, rk1);
      const [xZ, xR, xH] = tf.split(matrixX, 3, 1);
      const [recurrentZ, recurrentR] = tf.split(matrixInner, 2, 1);
      const z = cell.recurrentActivation.apply(tf.add(xZ, recurrentZ));
      const r = cell.recurrentActivation.apply(tf.add(xR, recurrentR));
      const recurrentH = dot(tf.mul(r, hTMinus1), rk2);
      const hh = cell.activation.apply(tf.add(xH, recurrentH));
      const h = tf.add(tf.mul(z, hTMinus1), tf.mul(tf.add(1, tf.neg(z)), hh));
      return [h, h];
    });
  };
}
