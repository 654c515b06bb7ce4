/**
 * Simulated low-precision accumulators (Blumenfeld, Hubara, Soudry; papers/002_*), in integer
 * arithmetic only, so the GLSL kernels (kernels/accumulator_gpu.ts) agree bit for bit.
 *
 * WHAT IS ACCUMULATED. The exact dot product d = Σ_k u_k a_k (quantize.ts) is split into word
 * partials c_w = Σ_{k in word w} u_k a_k, one per 32 columns (w = 0, 1, …, W-1): what a popcount
 * adder tree produces exactly from one 32-bit word of every plane pair. The narrow register
 * adds the c_w in ascending w; y = step · m · 2^-t · (final register value).
 *
 * INT (bits B, 'wrap' | 'saturate'): acc ← fit(acc + c_w), starting at 0. 'wrap' reduces modulo
 * 2^B into [-2^(B-1), 2^(B-1)); 'saturate' clamps there. Each add that leaves the range counts
 * as an overflow.
 *
 * FLOAT (mantissa M, exponent E, chunk C, rounding 'floor' | 'nearest'): a value is 0 or
 * ±(1.f)·2^e with M fraction bits and e in [emin, emax]. The exponent bias is chosen per output
 * so the format covers that output's largest possible |d|, D = K·(2^t - 1)·(2^A - 1):
 * emax = floor(log2 D), emin = emax - (2^E - 2) (2^E - 1 exponent codes for normal numbers, one
 * for zero). After every add the sum is rounded to M fraction bits ('floor': truncate the
 * magnitude, as the paper's mantissa masking; 'nearest': to nearest, ties to even), then a
 * magnitude above the largest finite value saturates to it (an overflow) and a nonzero
 * magnitude below 2^emin flushes to 0 (an underflow). Chunking: the words are taken in chunks
 * of C; each chunk is summed in its own register from 0, then the chunk sum is added to the
 * running total register (both rounded as above). C = 1 is plain sequential accumulation.
 *
 * Simulation needs every value to be an exact 31-bit integer: D < 2^30 (else a clear error).
 */
import { AccumulatorConfig } from './config';

/** Events counted since the last reset. */
export interface AccumulatorStats {
  /** Narrow additions simulated (one per word per output, plus chunk merges). */
  additions: number;
  /** Int results outside the B-bit range (wrapped or saturated) or float results clamped to the largest value. */
  overflows: number;
  /** Float results flushed to zero. */
  underflows: number;
}

export const MAX_SIMULATED_BOUND = 2 ** 30;

const stats: AccumulatorStats = { additions: 0, overflows: 0, underflows: 0 };

export function accumulatorStats(): AccumulatorStats {
  return { ...stats };
}

export function resetAccumulatorStats(): void {
  stats.additions = 0;
  stats.overflows = 0;
  stats.underflows = 0;
}

/** Adds counts measured elsewhere (the GLSL path reads them back from the GPU). */
export function recordAccumulatorEvents(additions: number, overflows: number, underflows: number): void {
  stats.additions += additions;
  stats.overflows += overflows;
  stats.underflows += underflows;
}

/** Largest |d| of an output: K·(2^t - 1)·(2^A - 1). */
export function dotProductBound(k: number, weightPlanes: number, activationBits: number): number {
  return k * (2 ** weightPlanes - 1) * (2 ** activationBits - 1);
}

export function checkSimulable(k: number, weightPlanes: number, activationBits: number): void {
  const bound = dotProductBound(k, weightPlanes, activationBits);
  if (bound >= MAX_SIMULATED_BOUND) {
    throw new Error(`pbq: the accumulator simulation needs K·(2^weightBits-1)·(2^activationBits-1) < 2^30, ` +
      `got K=${k}, weightBits=${weightPlanes}, activationBits=${activationBits}: use fewer bits or the 'exact' accumulator`);
  }
}

/** floor(log2(x)) of a positive integer below 2^31. */
export function floorLog2(x: number): number {
  return 31 - Math.clz32(x);
}

/** Float format limits for an output whose |d| is at most `bound`. */
export function floatLimits(mantissa: number, exponent: number, bound: number): { emin: number; emax: number; maxFinite: number } {
  const emax = floorLog2(Math.max(1, bound));
  const emin = emax - (2 ** exponent - 2);
  // (2 - 2^-M)·2^emax, an integer when emax >= M; otherwise every integer up to the bound fits.
  const maxFinite = emax >= mantissa ? (2 ** (mantissa + 1) - 1) * 2 ** (emax - mantissa) : 2 ** (emax + 1) - 1;
  return { emin, emax, maxFinite };
}

/** One narrow register operation; `events[0]` counts overflows, `events[1]` underflows. */
export type NarrowAdd = (acc: number, value: number, events: Int32Array) => number;

export function intAdd(bits: number, overflow: 'wrap' | 'saturate'): NarrowAdd {
  const lo = -(2 ** (bits - 1));
  const hi = 2 ** (bits - 1) - 1;
  const span = 2 ** bits;
  return (acc, value, events) => {
    const sum = acc + value;
    if (sum >= lo && sum <= hi) return sum;
    events[0]++;
    if (overflow === 'saturate') return sum < lo ? lo : hi;
    return sum - span * Math.floor((sum - lo) / span);
  };
}

/** Rounds an integer magnitude to M fraction bits ('floor' truncates, 'nearest' ties to even). */
export function roundMagnitude(mag: number, mantissa: number, rounding: 'floor' | 'nearest'): number {
  if (mag === 0) return 0;
  const drop = floorLog2(mag) - mantissa;
  if (drop <= 0) return mag;
  const unit = 2 ** drop;
  const kept = Math.floor(mag / unit);
  if (rounding === 'floor') return kept * unit;
  const rest = mag - kept * unit;
  const half = unit / 2;
  const up = rest > half || (rest === half && kept % 2 === 1);
  return (up ? kept + 1 : kept) * unit;
}

export function floatAdd(mantissa: number, exponent: number, rounding: 'floor' | 'nearest', bound: number): NarrowAdd {
  const { emin, maxFinite } = floatLimits(mantissa, exponent, bound);
  const minNormal = emin > 0 ? 2 ** emin : 1; // integers below 1 do not exist
  return (acc, value, events) => {
    const sum = acc + value;
    let mag = roundMagnitude(Math.abs(sum), mantissa, rounding);
    if (mag > maxFinite) {
      events[0]++;
      mag = maxFinite;
    } else if (mag !== 0 && mag < minNormal) {
      events[1]++;
      mag = 0;
    }
    return sum < 0 ? -mag : mag;
  };
}

/**
 * Accumulates word partials in the configured register; returns the final value and counts
 * the events into `events` ([overflows, underflows]) and the additions made.
 */
export function accumulate(config: Exclude<AccumulatorConfig, { type: 'exact' }>, partials: ArrayLike<number>, bound: number, events: Int32Array): { value: number; additions: number } {
  if (config.type === 'int') {
    const add = intAdd(config.bits, config.overflow);
    let acc = 0;
    for (let w = 0; w < partials.length; w++) acc = add(acc, partials[w], events);
    return { value: acc, additions: partials.length };
  }
  const add = floatAdd(config.mantissa, config.exponent, config.rounding, bound);
  let total = 0;
  let additions = 0;
  for (let start = 0; start < partials.length; start += config.chunk) {
    let chunk = 0;
    const end = Math.min(partials.length, start + config.chunk);
    for (let w = start; w < end; w++) chunk = add(chunk, partials[w], events);
    total = add(total, chunk, events);
    additions += end - start + 1;
  }
  return { value: total, additions };
}
