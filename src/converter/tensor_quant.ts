/**
 * Quantization of one [K, N] matmul weight for the converter: per-channel ranges, multipoint
 * plane allocation, and the rounding (nearest or GPTQ), judged per channel by the output error
 * on the calibration inputs of that channel's matmul (quant_math.ts, gptq.ts).
 */
import { quantizeWeights, dequantizeWeight, QuantizedWeight } from '../quantize';
import type { WeightLayout } from '../weight_cache';
import {
  RangeMode, column, maxAbs, chooseRange, channelDelta, outputError, quadForm, searchRange, InputStats,
} from './quant_math';
import {
  crossValidatedDampening, FALLBACK_DAMPENING, GptqGroup, GptqSettings, Rounding, ValidationChannel,
} from './gptq';

/** What channel n's error is measured against. */
export interface ChannelContext {
  /** Statistics of the rows multiplied by this channel, if there was calibration data. */
  stats: InputStats | undefined;
  /** The bias absorbs the mean shift E[x]·δ: judge the variance of the output error. */
  centered: boolean;
}

export interface TensorQuantSpec {
  /** Row-major [K, N]. */
  values: Float32Array;
  k: number;
  n: number;
  bits: number;
  range: RangeMode;
  channel: (n: number) => ChannelContext;
  /** Multipoint: extra planes to hand out (0: uniform bits), at most `maxBits` per channel. */
  extraPlanes: number;
  maxBits: number;
  rounding: Rounding;
  gptq: GptqSettings;
}

export interface TensorQuantResult {
  weight: QuantizedWeight;
  layout: WeightLayout;
  /** Dequantized values, row-major [K, N]. */
  deq: Float32Array;
  bitsOf: Int32Array;
  /** E[x]·δ_n per channel (0 without statistics): what bias correction adds to bias n. */
  meanShift: Float64Array;
  /** Σ w², Σ (w − ŵ)². */
  weightEnergy: number;
  weightError: number;
  /** Σ_n E[(x·δ_n)²] (variance part for centered channels) and Σ_n E[(x·w_n)²]; null without statistics. */
  outputError: number | null;
  outputEnergy: number | null;
  /** Channels whose codes GPTQ chose (the others: nearest rounding). */
  gptqChannels: number;
  /** The dampening λ of each GPTQ group (one per H: a GRU's recurrent kernel has two). */
  gptqDampening: number[];
}

/**
 * Multipoint (greedy, as in the multipoint paper): `extra` planes, one at a time, each to the
 * channel whose error drops most with one more plane (its range re-chosen for the wider grid).
 * Updates `bitsOf` and `rangeOf` in place.
 */
export function allocateExtraPlanes(
  N: number, extra: number, maxBits: number, bitsOf: Int32Array, rangeOf: Float64Array,
  rangeFor: (n: number, bits: number) => number, err: (n: number, bits: number, m: number) => number,
): void {
  const cur = new Float64Array(N);
  const nextRange = new Float64Array(N);
  const next = new Float64Array(N);
  const prepNext = (n: number) => {
    if (bitsOf[n] >= maxBits) {
      next[n] = cur[n];
      return;
    }
    nextRange[n] = rangeFor(n, bitsOf[n] + 1);
    next[n] = err(n, bitsOf[n] + 1, nextRange[n]);
  };
  for (let n = 0; n < N; n++) {
    cur[n] = err(n, bitsOf[n], rangeOf[n]);
    prepNext(n);
  }
  for (let left = extra; left > 0; left--) {
    let best = -1;
    let gain = 0;
    for (let n = 0; n < N; n++) {
      const g = cur[n] - next[n];
      if (bitsOf[n] < maxBits && g > gain) {
        gain = g;
        best = n;
      }
    }
    if (best < 0) break;
    bitsOf[best]++;
    rangeOf[best] = nextRange[best];
    cur[best] = next[best];
    prepNext(best);
  }
}

export function quantizeTensor(spec: TensorQuantSpec): TensorQuantResult {
  const { values: W, k: K, n: N, bits, range } = spec;
  const tensorMax = maxAbs(W);
  const cols = Array.from({ length: N }, (_, n) => column(W, K, N, n));
  const ctx = Array.from({ length: N }, (_, n) => spec.channel(n));
  const nearestRange = (n: number, b: number) => chooseRange(cols[n], b, range, tensorMax, ctx[n].stats, ctx[n].centered);
  const { groupOf, dampenings } = spec.rounding === 'gptq'
    ? gptqGroups(ctx, spec.gptq, (channels) => validationChannels(channels, (n) => ({ col: cols[n], m: nearestRange(n, bits), bits })))
    : { groupOf: new Array<GptqGroup | null>(N).fill(null), dampenings: [] };
  // 'mse' with GPTQ: the range is searched with GPTQ in the loop, by the output error it leaves
  // (GPTQ compensates part of the clipping error, so its best grid is often narrower).
  const rangeFor = (n: number, b: number) => {
    const g = groupOf[n];
    if (g === null || range !== 'mse') return nearestRange(n, b);
    return searchRange(maxAbs(cols[n]), (m) => g.round(cols[n], m, b).error);
  };
  const err = (n: number, b: number, m: number) => {
    const g = groupOf[n];
    if (g !== null) return g.round(cols[n], m, b).error;
    const d = channelDelta(cols[n], m, b);
    const st = ctx[n].stats;
    return st ? outputError(st, d, ctx[n].centered) : d.reduce((s, v) => s + v * v, 0);
  };

  const bitsOf = new Int32Array(N).fill(bits);
  const rangeOf = new Float64Array(N);
  for (let n = 0; n < N; n++) rangeOf[n] = rangeFor(n, bits);
  if (spec.extraPlanes > 0) allocateExtraPlanes(N, spec.extraPlanes, spec.maxBits, bitsOf, rangeOf, rangeFor, err);

  let planesBits = 0;
  for (let n = 0; n < N; n++) planesBits = Math.max(planesBits, bitsOf[n]);
  const uniform = bitsOf.every((b) => b === planesBits);
  const layout: WeightLayout = { batch: 1, k: K, n: N, transposed: false };
  // GPTQ's values are level centres of the channel's grid: quantizeWeights recovers their codes.
  let codesFrom: ArrayLike<number> = W;
  let gptqChannels = 0;
  for (let n = 0; n < N; n++) {
    const g = groupOf[n];
    if (g === null) continue;
    if (codesFrom === W) codesFrom = Float64Array.from(W);
    const v = g.round(cols[n], rangeOf[n], bitsOf[n]).values;
    for (let k = 0; k < K; k++) (codesFrom as Float64Array)[k * N + n] = v[k];
    gptqChannels++;
  }
  const weight = quantizeWeights(codesFrom, layout, planesBits, { ranges: rangeOf, ...(uniform ? {} : { channelBits: bitsOf }) });
  const deq = new Float32Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) deq[k * N + n] = dequantizeWeight(weight, 0, k, n);

  let weightEnergy = 0;
  let weightError = 0;
  let outErr: number | null = null;
  let outRef: number | null = null;
  const meanShift = new Float64Array(N);
  const d = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      d[k] = W[k * N + n] - deq[k * N + n];
      weightEnergy += W[k * N + n] * W[k * N + n];
      weightError += d[k] * d[k];
    }
    const st = ctx[n].stats;
    if (st === undefined) continue;
    let shift = 0;
    for (let k = 0; k < K; k++) shift += st.mean[k] * d[k];
    meanShift[n] = shift;
    outErr = (outErr ?? 0) + quadForm(st, d) - (ctx[n].centered ? shift * shift : 0);
    outRef = (outRef ?? 0) + quadForm(st, cols[n]);
  }
  return {
    weight, layout, deq, bitsOf, meanShift, weightEnergy, weightError,
    outputError: outErr, outputEnergy: outRef, gptqChannels, gptqDampening: dampenings,
  };
}

/**
 * GPTQ for the channels of a tensor: one factorization per (statistics, centered) pair shared by
 * its channels, λ cross-validated on `validation(channels)` when the dampening is 'auto'
 * (0.01 without folds). Channels without a full second moment get none (nearest rounding).
 */
export function gptqGroups(
  ctx: ChannelContext[], settings: GptqSettings, validation: (channels: number[]) => ValidationChannel[],
): { groupOf: Array<GptqGroup | null>; dampenings: number[] } {
  const members = new Map<InputStats, Map<boolean, number[]>>();
  ctx.forEach(({ stats, centered }, n) => {
    if (stats === undefined || stats.second === null) return; // diagonal H: GPTQ is nearest rounding
    if (!members.has(stats)) members.set(stats, new Map());
    const byCentered = members.get(stats) as Map<boolean, number[]>;
    if (!byCentered.has(centered)) byCentered.set(centered, []);
    (byCentered.get(centered) as number[]).push(n);
  });
  const groupOf: Array<GptqGroup | null> = new Array(ctx.length).fill(null);
  const dampenings: number[] = [];
  for (const [stats, byCentered] of members) {
    for (const [centered, channels] of byCentered) {
      let lambda = settings.dampening === 'auto' ? FALLBACK_DAMPENING : settings.dampening;
      if (settings.dampening === 'auto' && stats.folds) {
        lambda = crossValidatedDampening(stats.folds, centered, validation(channels), settings.order).dampening;
      }
      const group = new GptqGroup(stats, centered, lambda, settings.order);
      dampenings.push(group.factor.dampening);
      for (const n of channels) groupOf[n] = group;
    }
  }
  return { groupOf, dampenings };
}

/** At most `limit` channels, evenly spread, for the dampening's cross-validation. */
export function validationChannels(channels: number[], of: (n: number) => ValidationChannel, limit = 64): ValidationChannel[] {
  const count = Math.min(limit, channels.length);
  return Array.from({ length: count }, (_, i) => of(channels[Math.floor((i * channels.length) / count)]));
}
