/**
 * Registration of pbq's backends. Each base is a stock tfjs backend with pbq's kernels registered
 * over its own (kernels/<base>/register_all_kernels.ts):
 *
 *   'pbq-cpu'    tfjs-backend-cpu + the TypeScript engine (everywhere)
 *   'pbq-webgl'  tfjs-backend-webgl + the GLSL products (browsers with WebGL 2)
 *   'pbq-webgpu' tfjs-backend-webgpu + the WGSL products (browsers with WebGPU, secure contexts;
 *                over the app's tfjs-backend-webgpu: pbq.useWebGPU(module) first)
 *   'pbq'        the best base available here, chosen when it is first created: WebGL 2 in a
 *                browser, else the CPU
 *
 * All register with priority 0, so tfjs never picks one by itself: `await tf.setBackend('pbq')`.
 */
import { env, KernelBackend, registerBackend } from '@tensorflow/tfjs-core';
import { registerFlags } from './config';
import { PbqBackendCPU } from './backend_cpu';
import { registerAllKernels as registerCpuKernels } from '../kernels/cpu/register_all_kernels';

export const BACKEND_NAME = 'pbq';

export type BaseName = 'webgl' | 'webgpu' | 'cpu';

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
  { name: 'cpu', browserOnly: false, available: () => true, create: () => new PbqBackendCPU(), registerKernels: registerCpuKernels },
];
/* eslint-enable @typescript-eslint/no-var-requires */

/** The base 'pbq' runs on here: the first available in order of preference. */
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
    // Create first: loading the base backend's module is what registers its kernels (an async
    // base, WebGPU: once it is created, so a failed creation registers nothing).
    const backend = b.create();
    const register = () => {
      if (registeredFrom) return;
      b.registerKernels(backendName);
      registeredFrom = b;
    };
    if (backend instanceof Promise) return backend.then((created) => { register(); return created; });
    register();
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
