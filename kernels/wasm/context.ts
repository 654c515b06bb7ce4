/**
 * What pbq-wasm's kernels keep on their backend (PbqBackendWasm.kernelResources): the SIMD
 * engine on the module's memory, and per cached weight its packings (WasmWeight, the cache
 * entry's device copy), one per run width.
 */
import type { PbqBackendWasm } from '../../src/backend_wasm';
import type { CachedWeight, Disposable } from '../../src/weight_cache';
import type { QuantizedWeight } from '../../src/quantize';
import { Heap, OwnHeap } from './heap';
import { loadWasmEngine, PackedWeight, WasmEngine } from './engine';
import { moduleHeap } from './module_heap';
import { isNode } from './node_env';
import { threadsSupported } from './thread_pool';
import { getConfig } from '../../src/config';

export class WasmKernelContext implements Disposable {
  constructor(
    readonly engine: WasmEngine,
    /** True when the engine runs on the backend's memory: operands are read and written in place. */
    readonly inPlace: boolean,
  ) {}

  dispose(): void {
    this.engine.dispose();
  }
}

/**
 * Loads the engine (pbq_simd.wasm: setWasmPaths / setWasmSource) onto the backend's memory. In
 * a cross-origin isolated page it also starts the worker threads of `wasmThreads` (they can
 * start only now, not inside a kernel); a worker that cannot start leaves one thread, with a
 * warning. Node starts them on the first product that uses them.
 */
export async function attachKernelContext(backend: PbqBackendWasm): Promise<void> {
  const shared = moduleHeap(backend.wasm);
  const heap: Heap = shared ?? new OwnHeap();
  const engine = await loadWasmEngine(undefined, heap);
  const { wasmThreads } = getConfig();
  if (isNode() || !threadsSupported()) engine.setThreads(wasmThreads);
  else {
    try {
      await engine.startThreads(wasmThreads); // sets the count, then starts the workers
    } catch (e) {
      console.warn(`pbq-wasm: ${(e as Error).message}; products run on one thread`);
    }
  }
  backend.kernelResources = new WasmKernelContext(engine, shared !== undefined);
}

export function contextOf(backend: PbqBackendWasm): WasmKernelContext {
  const context = backend.kernelResources;
  if (!(context instanceof WasmKernelContext)) throw new Error('pbq-wasm: the backend has no engine (create it through tf.setBackend)');
  return context;
}

/** The engine's packings of one cached weight, one per run width, freed with the cache entry. */
export class WasmWeight implements Disposable {
  private readonly byWidth = new Map<number, PackedWeight>();

  constructor(private readonly engine: WasmEngine, private readonly weight: QuantizedWeight) {}

  atWidth(weightBits: number): PackedWeight {
    let packed = this.byWidth.get(weightBits);
    if (packed === undefined) {
      packed = this.engine.packWeight(this.weight, weightBits);
      this.byWidth.set(weightBits, packed);
    }
    return packed;
  }

  /** Bytes of every packing made so far. */
  get bytes(): number {
    let total = 0;
    for (const p of this.byWidth.values()) total += p.bytes;
    return total;
  }

  dispose(): void {
    for (const p of this.byWidth.values()) p.dispose();
    this.byWidth.clear();
  }
}

/** The packing of a cache entry's weight at `weightBits` (made on first use). */
export function packedWeight(engine: WasmEngine, entry: CachedWeight, weightBits: number): PackedWeight {
  if (entry.device instanceof WasmWeight) return entry.device.atWidth(weightBits);
  entry.device?.dispose();
  const device = new WasmWeight(engine, entry.weight);
  entry.device = device;
  return device.atWidth(weightBits);
}
