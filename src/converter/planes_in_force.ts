/**
 * How many weight planes a loaded pbq model runs with. A converted model runs at the planes it
 * was converted for: loading raises pbq's weightBits to the model's widest channel unless the
 * user chose weightBits (then fewer bits truncate the stored planes, exactly: src/quantize.ts).
 */
import { env } from '@tensorflow/tfjs-core';
import type { QuantizedWeight } from '../quantize';
import { getConfig, isWeightBitsChosen, raiseWeightBits } from '../config';

export interface PlanesInForce {
  /** Planes per quantized weight stored in the file, on average (multipoint: the true size). */
  avgBits: number;
  /** The widest channel's planes: the weightBits that uses every stored plane. */
  maxBits: number;
  /** pbq's weightBits after loading. */
  weightBits: number;
  /** weightBits before this load, when the load raised it (it was not chosen by the user). */
  raisedFrom: number | null;
  /** weightBits (chosen by the user) is below maxBits: the widest channels run truncated. */
  truncated: boolean;
}

/** Average and maximum planes of the stored weights (per-channel counts for multipoint). */
export function storedPlaneCounts(weights: Iterable<QuantizedWeight>): { avgBits: number; maxBits: number } {
  let planes = 0;
  let count = 0;
  let maxBits = 0;
  for (const w of weights) {
    const channels = w.batch * w.n;
    for (let c = 0; c < channels; c++) {
      const b = w.channelBits ? w.channelBits[c] : w.bits;
      planes += b * w.k;
      maxBits = Math.max(maxBits, b);
    }
    count += channels * w.k;
  }
  return { avgBits: count > 0 ? planes / count : 0, maxBits };
}

/** Raises weightBits to the model's widest channel unless the user chose it; warns when that truncates. */
export function planesInForce(weights: Iterable<QuantizedWeight>): PlanesInForce {
  const { avgBits, maxBits } = storedPlaneCounts(weights);
  const before = getConfig().weightBits;
  const weightBits = maxBits > 0 ? raiseWeightBits(maxBits) : before;
  const truncated = weightBits < maxBits;
  if (truncated && !env().getBool('PROD')) {
    console.warn(`pbq: this model stores up to ${maxBits} planes per weight (${avgBits.toFixed(2)} on average); ` +
      `weightBits ${weightBits}${isWeightBitsChosen() ? ' (set by you)' : ''} truncates them: ` +
      `pbq.configure({weightBits: ${maxBits}}) runs it as converted`);
  }
  return { avgBits, maxBits, weightBits, raisedFrom: weightBits > before ? before : null, truncated };
}
