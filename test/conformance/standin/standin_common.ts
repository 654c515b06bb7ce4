/**
 * Stand-in for src/index.ts, used only while the real backend has not landed (or with
 * PBQ_STANDIN=1): re-registers a base backend's kernels under 'pbq' and replaces BatchMatMul /
 * _FusedMatMul by wrappers that quantize both operands (per tensor, symmetric) before calling
 * the base kernel. Same configure()/getConfig() flags as src/config.ts.
 */
import {
  env, getKernelsForBackend, KernelBackend, KernelConfig, NamedTensorInfoMap, registerBackend,
  registerKernel, TensorInfo,
} from '@tensorflow/tfjs-core';

export interface StandinConfig {weightBits: number; activationBits: number}

function registerFlags() {
  const e = env();
  if (!('PBQ_WEIGHT_BITS' in (e as unknown as {flagRegistry: object}).flagRegistry)) {
    e.registerFlag('PBQ_WEIGHT_BITS', () => 8);
    e.registerFlag('PBQ_ACTIVATION_BITS', () => 8);
  }
}

export function configure(p: Partial<StandinConfig>): StandinConfig {
  registerFlags();
  if (p.weightBits != null) env().set('PBQ_WEIGHT_BITS', p.weightBits);
  if (p.activationBits != null) env().set('PBQ_ACTIVATION_BITS', p.activationBits);
  return getConfig();
}

export function getConfig(): StandinConfig {
  registerFlags();
  return {weightBits: env().getNumber('PBQ_WEIGHT_BITS'), activationBits: env().getNumber('PBQ_ACTIVATION_BITS')};
}

function quantized(backend: KernelBackend, t: TensorInfo, bits: number): TensorInfo {
  const v = backend.readSync(t.dataId) as Float32Array;
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  const levels = 2 ** (bits - 1) - 1;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = m === 0 ? 0 : Math.round(v[i] / m * levels) / levels * m;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return (backend as any).makeTensorInfo(t.shape, 'float32', out);
}

export function registerStandin(baseName: string, factory: () => KernelBackend) {
  registerFlags();
  registerBackend('pbq', factory);
  for (const k of getKernelsForBackend(baseName)) {
    let cfg: KernelConfig = {...k, backendName: 'pbq'};
    if (k.kernelName === 'BatchMatMul' || k.kernelName === '_FusedMatMul') {
      const base = k.kernelFunc;
      cfg = {
        ...cfg,
        kernelFunc: ({inputs, backend, attrs}) => {
          const kb = backend as KernelBackend;
          const c = getConfig();
          const a = quantized(kb, inputs.a as TensorInfo, c.activationBits);
          const b = quantized(kb, inputs.b as TensorInfo, c.weightBits);
          const res = base({inputs: {...inputs, a, b} as NamedTensorInfoMap, backend, attrs});
          kb.disposeData(a.dataId);
          kb.disposeData(b.dataId);
          return res;
        },
      };
    }
    registerKernel(cfg);
  }
}
