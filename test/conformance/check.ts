/**
 * Compares a conformance RunResult with the committed expectations
 * (test/conformance/expected_failures.json) and renders summaries / REPORT.md.
 *
 * Rules (per target: an environment and the backend run there, test/conformance/targets.ts):
 *  - a failing spec not listed                          -> unexpected failure
 *  - a listed spec that passes                          -> unexpected pass (the list must stay true)
 *  - a listed spec that did not run at all              -> stale entry
 *  - a spec listed with kind 'quantization' must fail only with numeric mismatches
 *    (tfjs "Arrays differ"/"Numbers differ") whose max |actual - expected| is within the
 *    pbq error bound computed from the operands of the spec's matmul calls (analysis.ts)
 *                                                       -> otherwise a bound violation
 *  - a spec listed with kind 'inherited' must fail on the target's stock base backend too
 *    (targets.ts; the base runs the same specs)         -> otherwise 'not inherited'
 */
import * as fs from 'fs';
import * as path from 'path';
import {RunResult, SpecResult} from './analysis';
import {SpecSetName} from './spec_sets';
import {TargetName} from './targets';

export const EXPECTATIONS_FILE = path.join(__dirname, 'expected_failures.json');

export type ExpectationKind = 'quantization' | 'behaviour' | 'inherited';

export interface Expectation {
  kind: ExpectationKind;
  reason: string;
  /** last measured values (documentation; refreshed by `npm run conformance -- --update`) */
  measured?: {maxAbsErr: number; bound: number; expectedAt: number};
}

export interface ExpectationsFile {
  description: string;
  bits: {weightBits: number; activationBits: number};
  node: Record<string, Expectation>;
  'node-wasm': Record<string, Expectation>;
  browser: Record<string, Expectation>;
  /** 'pbq-webgpu' in headless Chromium (the matmul specs). */
  webgpu?: Record<string, Expectation>;
}

export function loadExpectations(file = EXPECTATIONS_FILE): ExpectationsFile {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Spec key: the full name without the test-env part (" pbq {flags}"). */
export function specKey(fullName: string): string {
  return fullName.replace(/ pbq \{[^}]*\}/, '');
}

export interface Keyed {key: string; spec: SpecResult; set: SpecSetName}

export function keyedSpecs(runs: Array<{set: SpecSetName; result: RunResult}>): Keyed[] {
  const seen = new Map<string, number>();
  const out: Keyed[] = [];
  for (const {set, result} of runs) {
    for (const spec of result.specs) {
      let key = specKey(spec.fullName);
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      if (n > 1) key += ` (#${n})`;
      out.push({key, spec, set});
    }
  }
  return out;
}

export interface CheckOutcome {
  env: TargetName;
  implementation: string;
  backendClass: string;
  total: number;
  passed: number;
  skipped: number;
  bySet: Record<string, {total: number; passed: number; expectedFailures: number}>;
  expectedFailures: Array<{key: string; exp: Expectation; spec: SpecResult}>;
  unexpectedFailures: Array<{key: string; messages: string[]}>;
  unexpectedPasses: string[];
  boundViolations: Array<{key: string; detail: string}>;
  /** 'inherited' entries whose spec passes (or did not run) on the stock base backend. */
  notInherited: string[];
  stale: string[];
  suiteErrors: string[];
  totalMs: number;
}

function fmt(x: number): string {
  return x === 0 ? '0' : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toPrecision(3) : x.toExponential(2);
}

/** Keys of the specs that failed in `runs` (a base backend's run). */
export function failedKeys(runs: Array<{set: SpecSetName; result: RunResult}>): Map<string, SpecResult> {
  return new Map(keyedSpecs(runs).filter(k => k.spec.status === 'failed').map(k => [k.key, k.spec]));
}

export function checkRun(env: TargetName, runs: Array<{set: SpecSetName; result: RunResult}>,
                         expectations: ExpectationsFile, baseRuns?: Array<{set: SpecSetName; result: RunResult}>): CheckOutcome {
  const list = expectations[env] ?? {};
  const keyed = keyedSpecs(runs);
  const baseFailed = baseRuns && failedKeys(baseRuns);
  const o: CheckOutcome = {
    env,
    implementation: runs[0]?.result.implementation ?? '?',
    backendClass: runs[0]?.result.backendClass ?? '?',
    total: 0, passed: 0, skipped: 0, bySet: {},
    expectedFailures: [], unexpectedFailures: [], unexpectedPasses: [], boundViolations: [], notInherited: [], stale: [],
    suiteErrors: runs.flatMap(r => r.result.suiteErrors),
    totalMs: runs.reduce((s, r) => s + r.result.totalMs, 0),
  };
  const ran = new Set<string>();
  for (const {key, spec, set} of keyed) {
    const bs = (o.bySet[set] ??= {total: 0, passed: 0, expectedFailures: 0});
    if (spec.status !== 'passed' && spec.status !== 'failed') {
      o.skipped++;
      continue;
    }
    ran.add(key);
    o.total++;
    bs.total++;
    const exp = list[key];
    if (spec.status === 'passed') {
      o.passed++;
      bs.passed++;
      if (exp) o.unexpectedPasses.push(key);
      continue;
    }
    if (!exp) {
      o.unexpectedFailures.push({key, messages: spec.failures});
      continue;
    }
    if (exp.kind === 'quantization') {
      const n = spec.numeric;
      if (!n) {
        o.boundViolations.push({key, detail: `listed as a quantization-tolerance failure but failed otherwise: ${spec.failures.join(' | ').slice(0, 600)}`});
        continue;
      }
      if (!(n.maxAbsErr <= n.bound)) {
        o.boundViolations.push({key, detail: `max |err| ${fmt(n.maxAbsErr)} exceeds the 16-bit quantization bound ${fmt(n.bound)} (${n.calls} matmul calls)`});
        continue;
      }
    }
    if (exp.kind === 'inherited' && !baseFailed?.has(key)) {
      o.notInherited.push(key);
      continue;
    }
    o.expectedFailures.push({key, exp, spec});
    bs.expectedFailures++;
  }
  for (const key of Object.keys(list)) if (!ran.has(key)) o.stale.push(key);
  return o;
}

export function outcomeOk(o: CheckOutcome): boolean {
  return o.total > 0 && !o.unexpectedFailures.length && !o.unexpectedPasses.length &&
    !o.boundViolations.length && !o.notInherited.length && !o.stale.length && !o.suiteErrors.length;
}

export function describeExpected(e: {exp: Expectation; spec: SpecResult}): string {
  const n = e.spec.numeric;
  if (e.exp.kind === 'quantization' && n) {
    return `quantization: max |err| ${fmt(n.maxAbsErr)} (expected value ${fmt(n.expectedAt)}) ≤ bound ${fmt(n.bound)}, spec tolerance 1e-3`;
  }
  return `${e.exp.kind}: ${e.exp.reason}`;
}

export function formatSummary(o: CheckOutcome): string {
  const lines: string[] = [];
  lines.push(`tfjs-core conformance [${o.env}] against ${o.implementation} (${o.backendClass}), ` +
    `${(o.totalMs / 1000).toFixed(1)} s: ${o.total} specs, ${o.passed} passed, ` +
    `${o.expectedFailures.length} expected failures, ${o.unexpectedFailures.length} unexpected failures, ` +
    `${o.unexpectedPasses.length} unexpected passes, ${o.boundViolations.length} bound violations, ` +
    `${o.notInherited.length} not inherited, ` +
    `${o.stale.length} stale entries${o.skipped ? `, ${o.skipped} skipped` : ''}`);
  for (const [set, s] of Object.entries(o.bySet)) {
    lines.push(`  set ${set}: ${s.total} specs, ${s.passed} passed, ${s.expectedFailures} expected failures`);
  }
  if (o.expectedFailures.length) lines.push('  expected failures:');
  for (const e of o.expectedFailures) lines.push(`    - ${e.key} — ${describeExpected(e)}`);
  if (o.unexpectedFailures.length) lines.push('  UNEXPECTED FAILURES (not in expected_failures.json):');
  for (const f of o.unexpectedFailures) lines.push(`    - ${f.key}\n        ${f.messages.join('\n        ').slice(0, 1200)}`);
  if (o.unexpectedPasses.length) lines.push('  UNEXPECTED PASSES (remove from expected_failures.json):');
  for (const k of o.unexpectedPasses) lines.push(`    - ${k}`);
  if (o.boundViolations.length) lines.push('  QUANTIZATION BOUND VIOLATIONS:');
  for (const b of o.boundViolations) lines.push(`    - ${b.key}: ${b.detail}`);
  if (o.notInherited.length) lines.push("  NOT INHERITED (listed as the base backend's failure, but it passes there):");
  for (const k of o.notInherited) lines.push(`    - ${k}`);
  if (o.stale.length) lines.push('  STALE ENTRIES (listed but the spec did not run):');
  for (const k of o.stale) lines.push(`    - ${k}`);
  if (o.suiteErrors.length) lines.push('  SUITE ERRORS:');
  for (const s of o.suiteErrors) lines.push(`    - ${s.slice(0, 800)}`);
  return lines.join('\n');
}

/**
 * Rewrites one environment's expectations from a run: keeps the hand-written ('behaviour')
 * entries that still fail, refreshes measured values, drops entries whose spec now passes,
 * and adds a 'quantization' entry for every failing spec whose error is within the bound.
 * Failures that are not explained by quantization are never added: they must be listed by hand.
 */
export function updateExpectations(env: TargetName, runs: Array<{set: SpecSetName; result: RunResult}>,
                                   file: ExpectationsFile, baseRuns?: Array<{set: SpecSetName; result: RunResult}>,
                                   baseName = 'base'): {file: ExpectationsFile; notes: string[]} {
  const notes: string[] = [];
  const baseFailed = baseRuns && failedKeys(baseRuns);
  const old = file[env] ?? {};
  const next: Record<string, Expectation> = {};
  for (const {key, spec} of keyedSpecs(runs)) {
    if (spec.status !== 'failed') {
      if (old[key]) notes.push(`[${env}] dropped (now passes or did not run): ${key}`);
      continue;
    }
    const n = spec.numeric;
    const measured = n ? {maxAbsErr: n.maxAbsErr, bound: n.bound, expectedAt: n.expectedAt} : undefined;
    if (old[key] && old[key].kind !== 'quantization') {
      next[key] = {...old[key], ...(measured ? {measured} : {})};
    } else if (n && n.maxAbsErr <= n.bound) {
      next[key] = {
        kind: 'quantization',
        reason: `16-bit quantized matmul is off by up to ${fmt(n.maxAbsErr)} (expected value ${fmt(n.expectedAt)}), ` +
          `more than the spec's 1e-3 tolerance but within the pbq error bound ${fmt(n.bound)}`,
        measured,
      };
      if (!old[key]) notes.push(`[${env}] added quantization entry: ${key}`);
    } else if (baseFailed?.has(key)) {
      const message = (baseFailed.get(key)!.failures[0] ?? '').split('\n')[0].slice(0, 200);
      next[key] = {kind: 'inherited', reason: `fails on the stock '${baseName}' backend too: ${message}`};
      if (!old[key]) notes.push(`[${env}] added inherited entry: ${key}`);
    } else {
      notes.push(`[${env}] NOT added (unexplained, list it by hand with kind 'behaviour' and a reason): ${key}: ${spec.failures.join(' | ').slice(0, 300)}`);
    }
  }
  for (const key of Object.keys(old)) {
    if (!(key in next) && !notes.some(n => n.includes(key))) notes.push(`[${env}] dropped: ${key}`);
  }
  return {file: {...file, [env]: next}, notes};
}

export function renderReport(outcomes: CheckOutcome[], bits: {weightBits: number; activationBits: number}): string {
  const md: string[] = [];
  md.push('# tfjs-core conformance of the `pbq` backend', '');
  md.push(`Generated by \`npm run conformance\` on ${new Date().toISOString().slice(0, 10)}. ` +
    `tfjs-core 4.22.0 jasmine specs, run against pbq's backends (Node: \`pbq-cpu\` and \`pbq-wasm\`; ` +
    'browser: `pbq`, on WebGL 2), configured at ' +
    `${bits.weightBits} weight bits / ${bits.activationBits} activation bits. ` +
    'Spec sets: `matmul` (ops/mat_mul_test, ops/fused/fused_mat_mul_test: the kernels pbq replaces) and ' +
    '`broad` (other ops pbq inherits from its base backend; see test/conformance/spec_sets.ts).', '');
  md.push('| target | backend | specs | passed | expected failures | unexpected failures | unexpected passes | bound violations | not inherited | time |');
  md.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const o of outcomes) {
    md.push(`| ${o.env} | ${o.backendClass} (${o.implementation}) | ${o.total} | ${o.passed} | ${o.expectedFailures.length} | ` +
      `${o.unexpectedFailures.length} | ${o.unexpectedPasses.length} | ${o.boundViolations.length} | ${o.notInherited.length} | ${(o.totalMs / 1000).toFixed(1)} s |`);
  }
  md.push('');
  for (const o of outcomes) {
    md.push(`## ${o.env}`, '');
    for (const [set, s] of Object.entries(o.bySet)) md.push(`- set \`${set}\`: ${s.total} specs, ${s.passed} passed, ${s.expectedFailures} expected failures`);
    md.push('');
    if (o.expectedFailures.length) {
      md.push('| expected failure | kind | max abs error | error bound | reason |', '|---|---|---|---|---|');
      for (const e of o.expectedFailures) {
        const n = e.spec.numeric;
        md.push(`| ${e.key.replace(/\|/g, '\\|')} | ${e.exp.kind} | ${n ? fmt(n.maxAbsErr) : '–'} | ${n && e.exp.kind === 'quantization' ? fmt(n.bound) : '–'} | ${e.exp.reason.replace(/\|/g, '\\|')} |`);
      }
      md.push('');
    }
    const problems = formatSummary(o).split('\n').filter(l => /UNEXPECTED|VIOLATION|NOT INHERITED|STALE|SUITE ERRORS/.test(l));
    if (problems.length) {
      md.push('**Problems:**', '', '```', formatSummary(o).split('\n').slice(formatSummary(o).split('\n').findIndex(l => /UNEXPECTED|VIOLATION|NOT INHERITED|STALE|SUITE ERRORS/.test(l))).join('\n'), '```', '');
    }
  }
  md.push('## How the quantization bound is computed', '',
    'For every failing spec the reporter parses tfjs-core\'s failure message ("Arrays differ … Actual … Expected …") ' +
    'into the max |actual − expected|, and a probe wrapped around the `pbq` BatchMatMul/_FusedMatMul kernels records ' +
    'K, max|A| and max|B| of each matmul the spec ran. Following src/quantize.ts (weights: |ŵ−w| ≤ m·2^−wb; ' +
    'activations: |x̂−x| ≤ max|x_row|·2^(1−ab)), one output is off by at most ' +
    'K·max|A|·max|B|·(2^−wb + 2^(1−ab) + 2^(1−ab−wb) + 2^−22) — about 1.5·K·max|A|·max|B|·2^−15 at 16/16 bits. ' +
    'The spec\'s bound is the sum over its matmul calls. A quantization entry whose error exceeds it fails the test.', '');
  return md.join('\n');
}
