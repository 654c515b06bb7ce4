/** Runs both spec sets in one environment (used by the Jest tests and the CLI). */
import {RunResult} from './analysis';
import {runBrowser, runNode} from './run';
import {SpecSetName} from './spec_sets';

export const SETS: SpecSetName[] = ['matmul', 'broad'];

export async function runEnv(env: 'node' | 'browser'): Promise<Array<{set: SpecSetName; result: RunResult}>> {
  const out: Array<{set: SpecSetName; result: RunResult}> = [];
  for (const set of SETS) out.push({set, result: env === 'node' ? await runNode(set) : await runBrowser(set)});
  return out;
}
