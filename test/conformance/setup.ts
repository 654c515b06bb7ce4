/**
 * Imported first by every conformance bundle (Node and browser): runs the specs on the backend
 * under test (PBQ_BACKEND: 'pbq-cpu', 'pbq-wasm', or 'pbq' in the browser), configures 16/16 bits, sets the tfjs test environment, installs a probe on the
 * pbq matmul kernels (operand ranges for the error bound) and a jasmine reporter that collects
 * results into globalThis.__pbqConformance.
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
setTestEnvs([{
  name: 'pbq',
  backendName: PBQ_BACKEND,
  flags: {PBQ_WEIGHT_BITS: BITS.weightBits, PBQ_ACTIVATION_BITS: BITS.activationBits},
  isDataSync: true,
}]);

// ---- matmul probe ---------------------------------------------------------------------------
let calls: MatMulCall[] = [];

function maxAbs(backend: KernelBackend, t: TensorInfo): number {
  const v = backend.readSync(t.dataId) as ArrayLike<number>;
  let m = 0;
  for (let i = 0; i < v.length; i++) {
    const x = Math.abs(v[i]);
    if (x > m) m = x;
  }
  return m;
}

// The backend registers its kernels when it is first created: start creating it now (an async
// backend, pbq-wasm, finishes later; tfjs creates it again for every suite), then wrap them.
findBackend(PBQ_BACKEND);
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
        calls.push({kernel: name, k, maxA: maxAbs(backend as KernelBackend, a), maxB: maxAbs(backend as KernelBackend, b)});
      } catch (e) {
        calls.push({kernel: name + ' (probe failed: ' + (e as Error).message + ')', k: NaN, maxA: NaN, maxB: NaN});
      }
      return orig.kernelFunc(args);
    },
  };
  unregisterKernel(name, PBQ_BACKEND);
  registerKernel(wrapped);
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
    try {
      const c = pbq.getConfig();
      currentBits = {weightBits: c.weightBits, activationBits: c.activationBits};
    } catch {
      currentBits = undefined;
    }
  },
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  specDone(r: any) {
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
