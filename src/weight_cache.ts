/**
 * Quantized B operands, cached by the tensor data they came from.
 *
 * tfjs tensors are immutable and a `Variable.assign` gives the variable a new dataId, so a
 * dataId identifies one set of values for its whole life: quantizing once per dataId is exact.
 * Entries live in a WeakMap (no reference keeps a dataId alive) and are dropped explicitly when
 * the backend frees the dataId, so GPU copies of the planes are released with the weight.
 */
import type { DataId } from '@tensorflow/tfjs-core';
import { QuantizedWeight, quantizeWeights } from './quantize';

/** Layout of a B operand as the matmul sees it. */
export interface WeightLayout {
  batch: number;
  k: number;
  n: number;
  transposed: boolean;
}

/** Resources derived from a quantized weight (e.g. GPU textures), released with it. */
export interface Disposable {
  dispose(): void;
}

export interface CachedWeight {
  weight: QuantizedWeight;
  /** Backend-specific copies of `weight` (the WebGL backend keeps its textures here). */
  derived: Map<string, Disposable>;
}

function layoutKey(l: WeightLayout): string {
  return `${l.batch}x${l.k}x${l.n}${l.transposed ? 'T' : ''}`;
}

export class WeightCache {
  private entries = new WeakMap<DataId, Map<string, CachedWeight>>();
  private live = 0;

  /**
   * The quantized form of `dataId`'s values with at least `bits` planes. Quantizes (reading the
   * float values through `read`) on first use, or when more planes are asked for than stored;
   * fewer planes are served from the stored ones (MSB first: truncation is exact).
   */
  get(dataId: DataId, layout: WeightLayout, bits: number, read: () => ArrayLike<number>): CachedWeight {
    let byLayout = this.entries.get(dataId);
    if (byLayout === undefined) {
      byLayout = new Map();
      this.entries.set(dataId, byLayout);
    }
    const key = layoutKey(layout);
    const cached = byLayout.get(key);
    if (cached !== undefined && cached.weight.bits >= bits) return cached;
    const weight = quantizeWeights(read(), layout, bits);
    if (cached !== undefined) disposeDerived(cached);
    else this.live++;
    const entry: CachedWeight = { weight, derived: new Map() };
    byLayout.set(key, entry);
    return entry;
  }

  /** Drops every quantized form of `dataId` (called when the backend frees it). */
  forget(dataId: DataId): void {
    const byLayout = this.entries.get(dataId);
    if (byLayout === undefined) return;
    for (const entry of byLayout.values()) {
      disposeDerived(entry);
      this.live--;
    }
    this.entries.delete(dataId);
  }

  /** Number of quantized weights held (for leak tests). */
  get size(): number {
    return this.live;
  }
}

function disposeDerived(entry: CachedWeight): void {
  for (const d of entry.derived.values()) d.dispose();
  entry.derived.clear();
}
