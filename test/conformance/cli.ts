/**
 * npm run conformance [-- --env node|node-wasm|browser|webgpu|both|all] [--update]
 *
 * Runs the tfjs-core conformance specs against pbq's backends (targets.ts; default all, 'both' =
 * node and browser), compares them with expected_failures.json,
 * prints the summaries and writes test/conformance/REPORT.md. --update rewrites the
 * quantization entries of expected_failures.json from this run (see check.ts). Exit code 1
 * when any environment has unexpected results.
 */
import * as fs from 'fs';
import * as path from 'path';
import {closeBrowser} from '../../tools/harness/browser';
import {checkRun, CheckOutcome, EXPECTATIONS_FILE, formatSummary, loadExpectations, outcomeOk, renderReport, updateExpectations} from './check';
import {runEnv} from './suite';
import {baseTarget, TargetName, TARGETS} from './targets';

async function main() {
  const args = process.argv.slice(2);
  const envArg = args.includes('--env') ? args[args.indexOf('--env') + 1] : 'all';
  const envs: TargetName[] = envArg === 'all' ? ['node', 'node-wasm', 'browser', 'webgpu'] : envArg === 'both' ? ['node', 'browser'] : [envArg as TargetName];
  let expectations = loadExpectations();
  const outcomes: CheckOutcome[] = [];
  try {
    for (const env of envs) {
      const runs = await runEnv(env);
      const base = baseTarget(TARGETS[env]);
      const baseRuns = base && await runEnv(base);
      if (args.includes('--update')) {
        const u = updateExpectations(env, runs, expectations, baseRuns, base?.backend);
        expectations = u.file;
        for (const n of u.notes) console.log(n);
        fs.writeFileSync(EXPECTATIONS_FILE, JSON.stringify(expectations, null, 2) + '\n');
      }
      const o = checkRun(env, runs, expectations, baseRuns);
      outcomes.push(o);
      console.log(formatSummary(o) + '\n');
    }
  } finally {
    await closeBrowser();
  }
  const report = path.join(__dirname, 'REPORT.md');
  fs.writeFileSync(report, renderReport(outcomes, expectations.bits));
  console.log(`wrote ${path.relative(process.cwd(), report)}`);
  process.exitCode = outcomes.every(outcomeOk) ? 0 : 1;
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
