/**
 * Pure functions shared by the in-runtime reporter (Node and browser bundles) and the Jest side:
 * parsing tfjs/jasmine failure messages into a measured max abs error, and the quantization
 * error bound of pbq's matmul.
 */

/** One BatchMatMul/_FusedMatMul call observed during a spec (see setup.ts probe). */
export interface MatMulCall {
  kernel: string;
  /** contraction length */
  k: number;
  /** max |A| (activation operand) and max |B| (weight operand), over the whole tensor */
  maxA: number;
  maxB: number;
}

/**
 * Worst-case |ŷ - y| of one output of a pbq matmul, following src/quantize.ts:
 *   weights    |ŵ - w| ≤ m_n · 2^-wb            (m_n ≤ max|B|)
 *   activations |x̂ - x| ≤ max|x_r| · 2^(1-ab)    (max|x_r| ≤ max|A|)
 *   |Σ x̂ŵ - Σ xw| ≤ K·max|A|·max|B|·(2^-wb + 2^(1-ab) + 2^(1-ab-wb))
 * plus a float32 rounding allowance of K·max|A|·max|B|·2^-22 (scale products, bias add).
 * For 16/16 bits this is ≈ 1.5 · K·max|A|·max|B|·2^-15.
 */
export function matMulErrorBound(call: MatMulCall, weightBits: number, activationBits: number): number {
  const rel = 2 ** -weightBits + 2 ** (1 - activationBits) + 2 ** (1 - activationBits - weightBits) + 2 ** -22;
  return call.k * call.maxA * call.maxB * rel;
}

/**
 * Bound for a whole spec: the sum over its matmul calls (errors of independent outputs do not
 * add, so the sum is conservative; it also covers a gradient being computed from a forward
 * result). Activations applied by _FusedMatMul in the specs (relu, relu6, elu, prelu/leakyrelu
 * with |alpha| ≤ 1, sigmoid) are 1-Lipschitz, so they do not enlarge the bound.
 */
export function specErrorBound(calls: MatMulCall[], weightBits: number, activationBits: number): number {
  return calls.reduce((s, c) => s + matMulErrorBound(c, weightBits, activationBits), 0);
}

export interface ParsedError {
  /** max |actual - expected| over all elements (finite pairs) */
  maxAbsErr: number;
  /** index (flat) of the worst element, expected value there, and max |expected| */
  index: number;
  expectedAt: number;
  maxAbsExpected: number;
  /** element count compared */
  n: number;
}

function parseList(s: string): number[] {
  return s.split(',').map(x => Number(x.trim()));
}

/**
 * Parses the failure messages tfjs-core's test_util and jasmine produce for numeric mismatches:
 *   "Arrays differ: actual[i] = a, expected[i] = e.\nActual:   …\nExpected: …."
 *   "Numbers differ: actual === a, expected === e"
 *   "Expected a to be close to e, p."
 * Returns null for any other message (shape errors, exceptions, …).
 */
export function parseNumericFailure(message: string): ParsedError | null {
  let m = /Arrays differ: actual\[\d+\] = [^,]*, expected\[\d+\] = [^\n]*\n\s*Actual:\s*([^\n]*)\.\n\s*Expected:\s*([^\n]*)\./.exec(message);
  if (m) {
    const a = parseList(m[1]);
    const e = parseList(m[2]);
    if (a.length !== e.length || a.length === 0) return null;
    let best = {maxAbsErr: 0, index: 0, expectedAt: e[0], maxAbsExpected: 0, n: a.length};
    for (let i = 0; i < a.length; i++) {
      if (Number.isFinite(e[i])) best.maxAbsExpected = Math.max(best.maxAbsExpected, Math.abs(e[i]));
      if (!Number.isFinite(a[i]) && !Number.isFinite(e[i])) continue;  // both non-finite: "close"
      const d = Math.abs(a[i] - e[i]);
      if (Number.isNaN(d) || !Number.isFinite(d)) return null;  // NaN/Inf mismatch: not a rounding issue
      if (d > best.maxAbsErr) best = {...best, maxAbsErr: d, index: i, expectedAt: e[i]};
    }
    return best;
  }
  m = /Numbers differ: actual === ([^,]+), expected === (\S+)/.exec(message) ??
      /Expected (\S+) to be close to (\S+?),/.exec(message);
  if (m) {
    const a = Number(m[1]);
    const e = Number(m[2]);
    if (!Number.isFinite(a) || !Number.isFinite(e)) return null;
    return {maxAbsErr: Math.abs(a - e), index: 0, expectedAt: e, maxAbsExpected: Math.abs(e), n: 1};
  }
  return null;
}

/** Result record of one spec, as collected by the in-runtime reporter. */
export interface SpecResult {
  fullName: string;
  status: 'passed' | 'failed' | 'pending' | 'excluded' | string;
  durationMs: number;
  /** failure messages, each truncated */
  failures: string[];
  /** present when the spec failed and every failure is a numeric mismatch */
  numeric?: {maxAbsErr: number; expectedAt: number; maxAbsExpected: number; bound: number; calls: number};
  /** pbq config in force when the spec ran */
  bits?: {weightBits: number; activationBits: number};
  matMulCalls: number;
}

export interface RunResult {
  env: 'node' | 'browser' | 'webgpu';
  backend: string;
  /** The module that registered the backend under test (src/index.ts). */
  implementation: string;
  /** class of the backend instance registered as 'pbq' (e.g. PbqBackendWebGL) and its float precision */
  backendClass: string;
  floatPrecision: number;
  specs: SpecResult[];
  /** errors reported at suite level (beforeAll/afterAll) or globally */
  suiteErrors: string[];
  overallStatus: string;
  incompleteReason?: string;
  totalMs: number;
  done: boolean;
}
