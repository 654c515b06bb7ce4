/**
 * The engine's Heap on a tfjs-backend-wasm module: the module's own WebAssembly.Memory and its
 * emscripten allocator, so the products read the backend's tensors and write its outputs in
 * place. A module whose memory is shared (the threaded build, in a cross-origin isolated page)
 * cannot be imported by the engine, which declares an unshared memory: it gets a heap of its own
 * instead, and the operands are copied in and out (WasmContext.inPlace false).
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Heap } from './heap';

/** The parts of an emscripten module the heap uses (tfjs-backend-wasm's types omit them). */
interface EmscriptenHeap {
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  asm?: { memory?: unknown };
}

/** The module's memory and allocator, or undefined when the engine cannot run on them. */
export function moduleHeap(module: BackendWasm['wasm']): Heap | undefined {
  const wasm = module as unknown as EmscriptenHeap;
  const memory = wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) return undefined;
  return {
    memory,
    malloc: (bytes: number) => {
      const ptr = wasm._malloc(Math.max(1, bytes)) >>> 0; // >>> 0: addresses above 2 GiB
      if (ptr === 0) throw new Error(`pbq-wasm: out of memory allocating ${bytes} bytes`);
      return ptr;
    },
    free: (ptr: number) => wasm._free(ptr),
  };
}
