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

/** A backend's copies of a quantized weight (e.g. GPU textures), released with it. */
export interface Disposable {
  dispose(): void;
}

export interface CachedWeight<D extends Disposable = Disposable> {
  weight: QuantizedWeight;
  /** The backend's copies of `weight` in the layouts its kernels read (made on first use). */
  device?: D;
  /** Installed by `seed` (stored planes): never re-quantized from the float values. */
  seeded?: boolean;
  /** Quantized under the 'nan' policy from values holding NaN/Inf (some ranges are NaN). */
  nonFinite?: boolean;
}

function layoutKey(l: WeightLayout): string {
  return `${l.batch}x${l.k}x${l.n}${l.transposed ? 'T' : ''}`;
}

/**
 * Planes stored with a model (pbq's compact format), attached to the model's weight tensors
 * when it is loaded. Every pbq backend instance looks here before quantizing a B operand, so
 * stored planes are used as they are, whichever backend instance runs the model.
 */
const storedPlanes = new WeakMap<DataId, Map<string, QuantizedWeight>>();

export function attachStoredPlanes(dataId: DataId, layout: WeightLayout, weight: QuantizedWeight): void {
  checkLayout(weight, layout);
  let byLayout = storedPlanes.get(dataId);
  if (byLayout === undefined) {
    byLayout = new Map();
    storedPlanes.set(dataId, byLayout);
  }
  byLayout.set(layoutKey(layout), weight);
}

/** Forgets the stored planes of `dataId` (the loader calls it when the model is disposed). */
export function detachStoredPlanes(dataId: DataId): void {
  storedPlanes.delete(dataId);
}

export function storedPlanesOf(dataId: DataId, layout: WeightLayout): QuantizedWeight | undefined {
  return storedPlanes.get(dataId)?.get(layoutKey(layout));
}

function checkLayout(weight: QuantizedWeight, layout: WeightLayout): void {
  if (weight.batch !== layout.batch || weight.k !== layout.k || weight.n !== layout.n) {
    throw new Error(`pbq: stored planes are ${weight.batch}×${weight.k}×${weight.n}, ` +
      `the weight is used as ${layout.batch}×${layout.k}×${layout.n}`);
  }
}

/**
 * Entries by (dataId, key) in a WeakMap (no reference keeps a dataId alive), each handed to
 * `release` when it is replaced, forgotten with its dataId, or cleared; counts what it holds (leak
 * tests). WeightCache keeps its quantized weights here; the WebGPU base its GPU-quantized ones.
 */
export class DataIdStore<E> {
  private entries = new WeakMap<DataId, Map<string, E>>();
  /** Every entry held (not their dataIds): counted for leak tests, emptied by clear(). */
  private readonly live = new Set<E>();

  constructor(private readonly release: (entry: E) => void) {}

  get(dataId: DataId, key: string): E | undefined {
    return this.entries.get(dataId)?.get(key);
  }

  /** Installs `entry` (releasing the one it replaces). */
  set(dataId: DataId, key: string, entry: E): void {
    let byKey = this.entries.get(dataId);
    if (byKey === undefined) {
      byKey = new Map();
      this.entries.set(dataId, byKey);
    }
    const old = byKey.get(key);
    if (old !== undefined) this.drop(old);
    byKey.set(key, entry);
    this.live.add(entry);
  }

  /** Releases every entry of `dataId` (called when the backend frees it). */
  forget(dataId: DataId): void {
    const byKey = this.entries.get(dataId);
    if (byKey === undefined) return;
    for (const entry of byKey.values()) this.drop(entry);
    this.entries.delete(dataId);
  }

  /** Releases every entry and forgets them all (the backend is disposed). */
  clear(): void {
    for (const entry of [...this.live]) this.drop(entry);
    this.entries = new WeakMap();
  }

  get size(): number {
    return this.live.size;
  }

  private drop(entry: E): void {
    this.release(entry);
    this.live.delete(entry);
  }
}

export class WeightCache<D extends Disposable = Disposable> {
  /** Quantized weights by dataId and layout; dropping one frees its device copies. */
  private readonly store = new DataIdStore<CachedWeight<D>>((entry) => {
    entry.device?.dispose();
    entry.device = undefined;
  });

  /**
   * The quantized form of `dataId`'s values with at least `bits` planes. Quantizes (reading the
   * float values through `read`) on first use, or when more planes are asked for than stored;
   * fewer planes are served from the stored ones (MSB first: truncation is exact).
   */
  get(
    dataId: DataId, layout: WeightLayout, bits: number, read: () => ArrayLike<number>,
    nonFinite: 'throw' | 'nan' = 'throw',
  ): CachedWeight<D> {
    const key = layoutKey(layout);
    const cached = this.store.get(dataId, key);
    // The NaN policy is the caller's, not the entry's: data quantized with NaN ranges as a plain
    // operand, now used as a weight (a Variable sharing the dataId), is the weight error.
    if (cached?.nonFinite && nonFinite === 'throw') quantizeWeights(read(), layout, bits, { nonFinite: 'throw' });
    // Stored planes are served as they are: a run asking for more bits uses all of them.
    if (cached !== undefined && (cached.weight.bits >= bits || cached.seeded)) return cached;
    const stored = storedPlanesOf(dataId, layout);
    if (stored !== undefined) {
      this.seed(dataId, layout, stored);
      return this.store.get(dataId, key) as CachedWeight<D>;
    }
    const weight = quantizeWeights(read(), layout, bits, { nonFinite });
    const entry: CachedWeight<D> = { weight, ...(weight.ranges.some(Number.isNaN) ? { nonFinite: true } : {}) };
    this.store.set(dataId, key, entry);
    return entry;
  }

  /**
   * Installs planes quantized elsewhere (e.g. loaded from a pbq model file) for `dataId`, so
   * matmuls use them as they are instead of quantizing the float values.
   */
  seed(dataId: DataId, layout: WeightLayout, weight: QuantizedWeight): void {
    checkLayout(weight, layout);
    this.store.set(dataId, layoutKey(layout), { weight, seeded: true });
  }

  /** Drops every quantized form of `dataId` (called when the backend frees it). */
  forget(dataId: DataId): void {
    this.store.forget(dataId);
  }

  /** Frees the device copies of every entry and forgets them all (the backend is disposed). */
  clear(): void {
    this.store.clear();
  }

  /** Number of quantized weights held (for leak tests). */
  get size(): number {
    return this.store.size;
  }
}
