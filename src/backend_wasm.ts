/**
 * The pbq-wasm backend: tfjs-backend-wasm with pbq's kernels (kernels/wasm/) registered over
 * its own. State: the quantized-weight cache (each weight's packed codes live in the module's
 * memory, freed with it) and the kernels' SIMD engine (kernels/wasm/engine.ts).
 *
 * How it is built on tfjs-backend-wasm. That package keeps its tensors on the C++ side of one
 * emscripten module instance (a global map keyed by integer ids that every BackendWasm numbers
 * from 1), and its kernels bind the module's functions in setupFuncs, which tfjs-core runs again
 * for the active backend at every setBackend. It exports no way to make a module but its
 * backend factory, which is async. So pbq-wasm runs on a module instance of its own: the
 * registered 'wasm' factory makes one (with a BackendWasm that is never used), and
 * `takeOverModule` builds PbqBackendWasm on that module without initializing it again. Stock
 * 'wasm' and 'pbq-wasm' can then live in one process (the bench runs both): neither sees the
 * other's tensor ids, and each kernel call runs with the active backend's module bound.
 */
import '@tensorflow/tfjs-backend-wasm';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { findBackendFactory } from '@tensorflow/tfjs-core';
import type { DataId } from '@tensorflow/tfjs-core';
import { Disposable, WeightCache } from './weight_cache';

type WasmModule = BackendWasm['wasm'];

export class PbqBackendWasm extends BackendWasm {
  readonly weightCache = new WeightCache();
  /** The kernels' engine on this module's memory (kernels/wasm/engine.ts), set when created. */
  kernelResources?: Disposable;

  override disposeData(dataId: DataId, force = false): boolean {
    const freed = super.disposeData(dataId, force);
    if (freed) this.weightCache.forget(dataId);
    return freed;
  }

  override dispose(): void {
    this.weightCache.clear();
    this.kernelResources?.dispose();
    this.kernelResources = undefined;
    super.dispose();
  }
}

/** PbqBackendWasm on a module that a BackendWasm constructor has initialized already. */
export function takeOverModule(wasm: WasmModule): PbqBackendWasm {
  // BackendWasm's constructor initializes the module's thread pool and XNNPACK: done once.
  const init = wasm.tfjs.initWithThreadsCount;
  wasm.tfjs.initWithThreadsCount = () => undefined;
  try {
    return new PbqBackendWasm(wasm);
  } finally {
    wasm.tfjs.initWithThreadsCount = init;
  }
}

/** A new pbq-wasm backend on a module instance of its own (see the file comment). */
export async function createPbqBackendWasm(): Promise<PbqBackendWasm> {
  const factory = findBackendFactory('wasm');
  if (!factory) throw new Error("pbq-wasm: the 'wasm' backend of @tensorflow/tfjs-backend-wasm is not registered");
  const stock = await factory();
  if (!(stock instanceof BackendWasm)) throw new Error("pbq-wasm: the 'wasm' factory did not make a BackendWasm");
  return takeOverModule(stock.wasm);
}
