/** Runs the spec sets of one target (used by the Jest tests and the CLI). */
import {RunResult} from './analysis';
import {runBrowser, runNode} from './run';
import {SpecSetName} from './spec_sets';
import {Target, TargetName, TARGETS} from './targets';

export const SETS: SpecSetName[] = ['matmul', 'broad'];

export type Runs = Array<{set: SpecSetName; result: RunResult}>;

export async function runEnv(name: TargetName | Target): Promise<Runs> {
  const target = typeof name === 'string' ? TARGETS[name] : name;
  const out: Array<{set: SpecSetName; result: RunResult}> = [];
  for (const set of target.sets ?? SETS) out.push({set, result: target.env === 'node' ? await runNode(target, set) : await runBrowser(target, set)});
  return out;
}
