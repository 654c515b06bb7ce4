/** Jest body shared by conformance_node.test.ts and conformance_browser.test.ts. */
import {RunResult} from './analysis';
import {checkRun, CheckOutcome, formatSummary, loadExpectations} from './check';
import {runEnv, SETS} from './suite';
import {SpecSetName} from './spec_sets';
import {baseTarget, TargetName, TARGETS} from './targets';

export function conformanceSuite(env: TargetName, extra?: (get: () => Array<{set: SpecSetName; result: RunResult}>) => void) {
  describe(`tfjs-core conformance against '${TARGETS[env].backend}' (${env})`, () => {
    let runs: Array<{set: SpecSetName; result: RunResult}> = [];
    let o: CheckOutcome;

    beforeAll(async () => {
      runs = await runEnv(env);
      const base = baseTarget(TARGETS[env]);
      o = checkRun(env, runs, loadExpectations(), base && await runEnv(base));
      process.stdout.write('\n' + formatSummary(o) + '\n\n');
    }, 10 * 60_000);

    it('ran the spec sets, at 16/16 bits', () => {
      expect(o.bySet.matmul?.total ?? 0).toBeGreaterThan(50);
      if ((TARGETS[env].sets ?? SETS).includes('broad')) expect(o.bySet.broad?.total ?? 0).toBeGreaterThan(500);
      const bits = runs.flatMap(r => r.result.specs).filter(s => s.status === 'passed' || s.status === 'failed').map(s => s.bits);
      expect(bits.every(b => b?.weightBits === 16 && b?.activationBits === 16)).toBe(true);
      expect(o.suiteErrors).toEqual([]);
    });

    it('has no failures missing from expected_failures.json', () => {
      expect(o.unexpectedFailures.map(f => `${f.key}: ${f.messages.join(' | ').slice(0, 500)}`)).toEqual([]);
    });

    it('has no listed failures that now pass or no longer run (the list stays true)', () => {
      expect({unexpectedPasses: o.unexpectedPasses, stale: o.stale}).toEqual({unexpectedPasses: [], stale: []});
    });

    it('keeps every quantization-tolerance failure within the pbq error bound', () => {
      expect(o.boundViolations.map(b => `${b.key}: ${b.detail}`)).toEqual([]);
    });

    it('lists as inherited only failures of the stock base backend', () => {
      expect(o.notInherited).toEqual([]);
    });

    extra?.(() => runs);
  });
}
