/**
 * Imported first by every conformance bundle (Node and browser): runs the specs on the backend
 * under test (PBQ_BACKEND: 'pbq-cpu', 'pbq-wasm', or 'pbq' in the browser), configures 16/16 bits, sets the tfjs test environment, installs a probe on the
 * pbq matmul kernels (operand ranges for the error bound) and a jasmine reporter that collects
 * results into globalThis.__pbqConformance.
 *
 * 'pbq-webgpu' runs over the app's tfjs-backend-webgpu (pbq.useWebGPU) and is created
 * asynchronously (a GPUDevice), so its kernels are wrapped once globalThis.__pbqConformanceReady
 * resolves (run.ts awaits it before the specs). WebGPU has no synchronous read-back
 * (tfjs-webgpu's canvas readSync loses the device in headless Chromium): its specs run as an
 * async environment (isDataSync false, as tfjs's own webgpu specs would without a canvas), and
 * the probe reads a GPU-resident operand asynchronously, holding a reference until it is read.
 */
import {backend as activeBackend, findBackend, getKernel, KernelConfig, KernelBackend, NamedAttrMap, registerKernel, setBackend, TensorInfo, unregisterKernel} from '@tensorflow/tfjs-core';
import {setTestEnvs} from '@tensorflow/tfjs-core/dist/jasmine_util';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import {setWasmPaths as setTfjsWasmPaths} from '@tensorflow/tfjs-backend-wasm';
// Resolved by the bundler to src/index.ts, or to the stand-in (see build.ts).
import * as pbq from 'pbq-backend-under-test';
import {MatMulCall, parseNumericFailure, RunResult, SpecResult, specErrorBound} from './analysis';

declare const PBQ_ENV: 'node' | 'browser';
declare const PBQ_IMPLEMENTATION: string;
declare const PBQ_BACKEND: string;
const WEBGPU = PBQ_BACKEND === 'pbq-webgpu';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const jasmine: any;

// A bundle is not next to the .wasm files: tell both modules where they are (Node runs from
// the repository root).
if (PBQ_ENV === 'node') {
  setTfjsWasmPaths(`${process.cwd()}/node_modules/@tensorflow/tfjs-backend-wasm/dist/`);
  pbq.setWasmPaths(`${process.cwd()}/kernels/wasm/build/`);
}

export const BITS = {weightBits: 16, activationBits: 16};
pbq.configure(BITS);

// describeWithFlags() replaces *all* tf.env() flags with the test env's flags at every suite, so
// the pbq bit widths must travel as flags of the test env (configure() alone would be reset).
// A new backend per describe (tfjs resets the engine) recompiles nothing (shared pipelines), but
// SwiftShader compiles the first ones slowly: more than jasmine's 5 s (tfjs's specs set 20 s).
if (WEBGPU) jasmine.DEFAULT_TIMEOUT_INTERVAL = 120_000;
setTestEnvs([{
  name: 'pbq',
  backendName: PBQ_BACKEND,
  // tfjs's own webgpu test env runs every op on the GPU (no small-op CPU forwarding)
  flags: {PBQ_WEIGHT_BITS: BITS.weightBits, PBQ_ACTIVATION_BITS: BITS.activationBits, ...(WEBGPU ? {WEBGPU_CPU_FORWARD: false} : {})},
  isDataSync: !WEBGPU,
}]);

// ---- matmul probe ---------------------------------------------------------------------------
let calls: MatMulCall[] = [];

/** Operand maxima still being read back (GPU-resident operands on WebGPU): awaited in specDone. */
let pending: Array<Promise<void>> = [];

function maxOf(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) {
    const x = Math.abs(v[i]);
    if (x > m) m = x;
  }
  return m;
}

interface WebGPUData { tensorMap: {get(dataId: object): {values: unknown; resource: unknown} | undefined}; incRef(dataId: object): void }

/** max |t|, now, or (a GPU-resident operand on WebGPU) later into `set`. */
function maxAbs(backend: KernelBackend, t: TensorInfo, set: (m: number) => void): void {
  const data = WEBGPU ? (backend as unknown as WebGPUData).tensorMap.get(t.dataId) : undefined;
  if (data && data.values == null && data.resource != null) {
    (backend as unknown as WebGPUData).incRef(t.dataId);
    set(NaN);
    pending.push(backend.read(t.dataId).then((v) => set(maxOf(v as ArrayLike<number>)), () => undefined)
      .finally(() => backend.disposeData(t.dataId)));
    return;
  }
  set(maxOf(backend.readSync(t.dataId) as ArrayLike<number>));
}

/** Wraps the backend's registered matmul kernels with the probe. */
function installProbe(): void {
  for (const name of ['BatchMatMul', '_FusedMatMul']) {
    const orig = getKernel(name, PBQ_BACKEND);
    if (!orig) throw new Error(`backend under test registers no ${name} kernel for '${PBQ_BACKEND}'`);
    const wrapped: KernelConfig = {
      ...orig,
      kernelFunc: (args) => {
        try {
          const {inputs, backend, attrs} = args;
          const a = inputs.a as TensorInfo;
          const b = inputs.b as TensorInfo;
          const at = (attrs as NamedAttrMap)?.transposeA as boolean;
          const k = at ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
          const call: MatMulCall = {kernel: name, k, maxA: NaN, maxB: NaN};
          calls.push(call);
          maxAbs(backend as KernelBackend, a, (m) => { call.maxA = m; });
          maxAbs(backend as KernelBackend, b, (m) => { call.maxB = m; });
        } catch (e) {
          calls.push({kernel: name + ' (probe failed: ' + (e as Error).message + ')', k: NaN, maxA: NaN, maxB: NaN});
        }
        return orig.kernelFunc(args);
      },
    };
    unregisterKernel(name, PBQ_BACKEND);
    registerKernel(wrapped);
  }
}

// The backend registers its kernels when it is first created: start creating it now (an async
// backend, pbq-wasm, finishes later; tfjs creates it again for every suite), then wrap them.
// pbq-webgpu needs the app's tfjs-backend-webgpu first: the runner awaits this before the specs.
if (WEBGPU) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (globalThis as any).__pbqConformanceReady = import('@tensorflow/tfjs-backend-webgpu')
    .then((webgpu) => pbq.useWebGPU(webgpu))
    .then(() => setBackend(PBQ_BACKEND))
    .then((ok) => {
      if (!ok) throw new Error(`backend '${PBQ_BACKEND}' could not be created`);
      installProbe();
    });
} else {
  findBackend(PBQ_BACKEND);
  installProbe();
}

// ---- reporter -------------------------------------------------------------------------------
const MAX_MSG = 1500;
const result: RunResult = {
  env: PBQ_ENV,
  backend: PBQ_BACKEND,
  implementation: PBQ_IMPLEMENTATION,
  backendClass: '?',
  floatPrecision: 0,
  specs: [],
  suiteErrors: [],
  overallStatus: 'running',
  totalMs: 0,
  done: false,
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
(globalThis as any).__pbqConformance = result;
let t0 = 0;
let currentBits: SpecResult['bits'];

function trim(msg: string): string {
  return msg.length > MAX_MSG ? msg.slice(0, MAX_MSG) + ` … [${msg.length - MAX_MSG} more chars]` : msg;
}

// The backend's class and precision, once it exists (before every spec: the suites' beforeAll
// creates it).
beforeAll(async () => {
  if (!(await setBackend(PBQ_BACKEND))) throw new Error(`backend '${PBQ_BACKEND}' could not be created`);
  result.backendClass = activeBackend().constructor.name;
  result.floatPrecision = activeBackend().floatPrecision();
});

jasmine.getEnv().addReporter({
  jasmineStarted() {
    t0 = Date.now();
  },
  specStarted() {
    calls = [];
    pending = [];
    try {
      const c = pbq.getConfig();
      currentBits = {weightBits: c.weightBits, activationBits: c.activationBits};
    } catch {
      currentBits = undefined;
    }
  },
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async specDone(r: any) {
    await Promise.allSettled(pending);
    const failures: string[] = (r.failedExpectations ?? []).map((f: {message: string}) => f.message);
    const spec: SpecResult = {
      fullName: r.fullName,
      status: r.status,
      durationMs: r.duration ?? 0,
      failures: failures.map(trim),
      bits: currentBits,
      matMulCalls: calls.length,
    };
    if (r.status === 'failed' && failures.length > 0) {
      const parsed = failures.map(parseNumericFailure);
      if (parsed.every(p => p != null)) {
        const worst = parsed.reduce((w, p) => (p!.maxAbsErr > w!.maxAbsErr ? p : w))!;
        const bits = currentBits ?? {weightBits: 16, activationBits: 16};
        spec.numeric = {
          maxAbsErr: worst.maxAbsErr,
          expectedAt: worst.expectedAt,
          maxAbsExpected: worst.maxAbsExpected,
          bound: specErrorBound(calls, bits.weightBits, bits.activationBits),
          calls: calls.length,
        };
      }
    }
    result.specs.push(spec);
  },
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  suiteDone(r: any) {
    for (const f of r.failedExpectations ?? []) result.suiteErrors.push(`${r.fullName}: ${trim(f.message)}`);
  },
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  jasmineDone(r: any) {
    for (const f of r.failedExpectations ?? []) result.suiteErrors.push(`global: ${trim(f.message)}`);
    result.overallStatus = r.overallStatus;
    result.incompleteReason = r.incompleteReason;
    result.totalMs = Date.now() - t0;
    result.done = true;
  },
});
