/**
 * Registration of the 'pbq' backend: every kernel of the base backend ('webgl' in a browser with
 * WebGL 2, 'cpu' elsewhere) is registered again under 'pbq', with BatchMatMul and _FusedMatMul
 * replaced by bitlayer kernels that fall back to the base kernel when they cannot serve a call.
 */
import {
  BatchMatMul, env, getKernelsForBackend, KernelBackend, registerBackend, registerKernel, _FusedMatMul,
} from '@tensorflow/tfjs-core';
import { bitlayerKernel } from '../kernels/matmul_dispatch';
import { lstmStepConfig } from '../kernels/lstm_step';
import { registerFlags } from './config';

export const BACKEND_NAME = 'pbq';

export type BaseKind = 'webgl' | 'cpu';

const BITLAYER_KERNELS = new Set<string>([BatchMatMul, _FusedMatMul]);

/** Copies the base backend's kernels to 'pbq', swapping in the bitlayer matmuls. */
export function registerKernelsFrom(base: BaseKind): void {
  for (const kernel of getKernelsForBackend(base)) {
    const kernelFunc = BITLAYER_KERNELS.has(kernel.kernelName) ? bitlayerKernel(kernel.kernelFunc) : kernel.kernelFunc;
    registerKernel({ ...kernel, backendName: BACKEND_NAME, kernelFunc });
  }
  registerKernel(lstmStepConfig);
}

/** The base that this environment supports: WebGL 2 in a browser, the CPU elsewhere. */
export function detectBaseKind(): BaseKind {
  if (!env().getBool('IS_BROWSER')) return 'cpu';
  try {
    const canvas = typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(1, 1) : document.createElement('canvas');
    const gl = canvas.getContext('webgl2') as WebGL2RenderingContext | null;
    gl?.getExtension('WEBGL_lose_context')?.loseContext();
    return gl ? 'webgl' : 'cpu';
  } catch {
    return 'cpu';
  }
}

let registered = false;

/**
 * Registers 'pbq' (idempotent). The base is chosen when the backend is first created, and its
 * kernels are copied then, so importing pbq costs nothing until `tf.setBackend('pbq')`.
 */
export function registerPbqBackend(create: (base: BaseKind) => KernelBackend, priority = 0): void {
  if (registered) return;
  registered = true;
  registerFlags();
  let kernelsFrom: BaseKind | undefined;
  registerBackend(BACKEND_NAME, () => {
    const base = kernelsFrom ?? detectBaseKind();
    // Create first: loading the base backend's module is what registers its kernels.
    const backend = create(base);
    if (kernelsFrom === undefined) {
      registerKernelsFrom(base);
      kernelsFrom = base;
    }
    return backend;
  }, priority);
}
