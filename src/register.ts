/**
 * Registration of pbq's backends. Each base is a stock tfjs backend with pbq's kernels registered
 * over its own (kernels/<base>/register_all_kernels.ts):
 *
 *   'pbq-cpu'    tfjs-backend-cpu + the TypeScript engine (everywhere)
 *   'pbq-wasm'   tfjs-backend-wasm + the WebAssembly SIMD products (where WebAssembly has SIMD)
 *   'pbq-webgl'  tfjs-backend-webgl + the GLSL products (browsers with WebGL 2)
 *   'pbq-webgpu' tfjs-backend-webgpu + the WGSL products (browsers with WebGPU, secure contexts;
 *                over the app's tfjs-backend-webgpu: pbq.useWebGPU(module) first)
 *   'pbq'        the best base available here, chosen when it is first created: WebGL 2 in a
 *                browser, else WebGPU (if handed over), else WebAssembly SIMD (Node too), else the CPU
 *
 * All register with priority 0, so tfjs never picks one by itself: `await tf.setBackend('pbq')`.
 */
import { engine, env, findBackendFactory, getBackend, KernelBackend, registerBackend, setBackend } from '@tensorflow/tfjs-core';
import { registerFlags } from './config';
import { PbqBackendCPU } from './backend_cpu';
import { registerAllKernels as registerCpuKernels } from '../kernels/cpu/register_all_kernels';

export const BACKEND_NAME = 'pbq';

export type BaseName = 'webgl' | 'webgpu' | 'wasm' | 'cpu';

interface PbqBase {
  name: BaseName;
  /** Registered in browsers only. */
  browserOnly: boolean;
  /** Whether this environment can run the base (no backend is created). */
  available(): boolean;
  create(): KernelBackend | Promise<KernelBackend>;
  /** Registers the base's kernels and pbq's under `backendName`. */
  registerKernels(backendName: string): void;
}

/** True in a browser whose canvas gives a WebGL 2 context. */
function hasWebGL2(): boolean {
  if (!env().getBool('IS_BROWSER')) return false;
  try {
    const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1) : document.createElement('canvas');
    const gl = canvas.getContext('webgl2') as WebGL2RenderingContext | null;
    gl?.getExtension('WEBGL_lose_context')?.loseContext();
    return gl !== null;
  } catch {
    return false;
  }
}

/** A module of one function returning a v128: compiles only where WebAssembly has SIMD. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, // magic, version
  1, 5, 1, 0x60, 0, 1, 0x7b, // type section: () -> v128
  3, 2, 1, 0, // function section
  10, 22, 1, 20, 0, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b, // code: v128.const 0; end
]);

/**
 * True where tfjs-backend-wasm can load: its 'wasm' backend is registered (the browser builds:
 * imported by the ES module build, or tf-backend-wasm.js loaded before the script-tag build), or
 * Node resolves the package (an optional peer dependency there).
 */
function hasWasmBackendPackage(): boolean {
  if (findBackendFactory('wasm')) return true;
  if (!env().getBool('IS_NODE')) return false;
  try {
    (eval('require') as NodeRequire).resolve('@tensorflow/tfjs-backend-wasm');
    return true;
  } catch {
    return false;
  }
}

/** True where WebAssembly validates SIMD (Node ≥ 16.4, Chrome ≥ 91, Firefox ≥ 89, Safari ≥ 16.4). */
function hasWasmSimd(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/* eslint-disable @typescript-eslint/no-var-requires */
const BASES: readonly PbqBase[] = [
  {
    name: 'webgl',
    browserOnly: true,
    available: hasWebGL2,
    // Loaded on demand, so Node (the CommonJS build) never evaluates tfjs-backend-webgl. The
    // browser builds (tools/build/bundles.ts: esbuild, entry src/browser.ts) bundle these two
    // requires and import tfjs-backend-webgl up front, as a browser should; no build of pbq is
    // plain ES modules from tsc, which would have no `require`.
    create: () => new (require('./backend_webgl') as typeof import('./backend_webgl')).PbqBackendWebGL(),
    registerKernels: (name) =>
      (require('../kernels/webgl/register_all_kernels') as typeof import('../kernels/webgl/register_all_kernels')).registerAllKernels(name),
  },
  {
    name: 'webgpu',
    browserOnly: true,
    // After webgl: 'pbq' keeps WebGL 2 as its browser default until WebGPU is measured faster on
    // real GPUs. Runs over the app's tfjs-backend-webgpu, handed over with pbq.useWebGPU().
    available: () => {
      const m = require('./backend_webgpu') as typeof import('./backend_webgpu');
      return m.webgpuModuleGiven() && m.webgpuExposed();
    },
    create: () => (require('./backend_webgpu') as typeof import('./backend_webgpu')).createPbqBackendWebGPU(),
    registerKernels: (name) =>
      (require('../kernels/webgpu/register_all_kernels') as typeof import('../kernels/webgpu/register_all_kernels')).registerAllKernels(name),
  },
  {
    name: 'wasm',
    browserOnly: false,
    available: () => hasWasmSimd() && hasWasmBackendPackage(),
    // tfjs-backend-wasm is loaded (its kernels registered) before the first await.
    create: async () => {
      const { createPbqBackendWasm } = require('./backend_wasm') as typeof import('./backend_wasm');
      const { attachKernelContext } = require('../kernels/wasm/context') as typeof import('../kernels/wasm/context');
      const backend = await createPbqBackendWasm();
      await attachKernelContext(backend);
      return backend;
    },
    registerKernels: (name) =>
      (require('../kernels/wasm/register_all_kernels') as typeof import('../kernels/wasm/register_all_kernels')).registerAllKernels(name),
  },
  { name: 'cpu', browserOnly: false, available: () => true, create: () => new PbqBackendCPU(), registerKernels: registerCpuKernels },
];
/* eslint-enable @typescript-eslint/no-var-requires */

/** The base 'pbq' runs on here: the first available in order of preference. */
/** The bases that can run here, in order of preference ('pbq' runs on the first). */
export function availableBases(): BaseName[] {
  return BASES.filter((b) => b.available()).map((b) => b.name);
}

export function detectBaseKind(): BaseName {
  return (BASES.find((b) => b.available()) as PbqBase).name;
}

function baseNamed(name: BaseName): PbqBase {
  return BASES.find((b) => b.name === name) as PbqBase;
}

/** A backend factory that registers the base's kernels under `backendName` on first use. */
function factory(backendName: string, base: () => PbqBase): () => KernelBackend | Promise<KernelBackend> {
  let registeredFrom: PbqBase | undefined;
  return () => {
    const b = registeredFrom ?? base();
    // Create first: loading the base backend's module is what registers its kernels (WebGPU:
    // the app's module, handed over with useWebGPU(); creating throws at once without it).
    const backend = b.create();
    if (!registeredFrom) {
      b.registerKernels(backendName);
      registeredFrom = b;
    }
    return backend;
  };
}

let registered = false;

/** Registers 'pbq' and every 'pbq-<base>' this environment can run (idempotent). */
export function registerPbqBackends(): void {
  if (registered) return;
  registered = true;
  registerFlags();
  for (const base of BASES) {
    if (!base.browserOnly || env().getBool('IS_BROWSER')) registerBackend(`pbq-${base.name}`, factory(`pbq-${base.name}`, () => base), 0);
  }
  registerBackend(BACKEND_NAME, factory(BACKEND_NAME, () => baseNamed(detectBaseKind())), 0);
}

/**
 * Replaces the instance of backend `name` (default: the active one) by a fresh one and makes it
 * active, e.g. after the WebGL context was lost (PbqContextLostError): the old instance is
 * disposed, tensors on it are gone (dispose them; load models again).
 */
export async function recreateBackend(name: string = getBackend()): Promise<boolean> {
  const entry = engine().registryFactory[name];
  if (entry === undefined) throw new Error(`pbq: no backend named '${name}' is registered`);
  engine().removeBackend(name);
  registerBackend(name, entry.factory, entry.priority);
  return setBackend(name);
}

/**
 * Threads that a pbq backend on the wasm base shares a large product with now (README,
 * "Threads"): wasmThreads as resolved (auto, support, the workers a page started), 1 once threads
 * are off; 0 when no such backend has been created. Without a name: 'pbq-wasm', else 'pbq' when
 * that runs on wasm.
 */
export function wasmThreadCount(backendName?: string): number {
  const { WasmKernelContext } = require('../kernels/wasm/context') as typeof import('../kernels/wasm/context');
  for (const name of backendName !== undefined ? [backendName] : ['pbq-wasm', BACKEND_NAME]) {
    const resources = (engine().registry[name] as { kernelResources?: unknown } | undefined)?.kernelResources;
    if (resources instanceof WasmKernelContext) return resources.engine.threads;
  }
  return 0;
}

/** Where pbq-wasm finds its own module, pbq_simd.wasm (tfjs-backend-wasm's: its setWasmPaths). */
export { setWasmPaths, setWasmSource } from '../kernels/wasm/engine';
export type { WasmSource } from '../kernels/wasm/engine';
