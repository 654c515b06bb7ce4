/** Runs both spec sets in one environment (used by the Jest tests and the CLI). */
import {RunResult} from './analysis';
import {runBrowser, runNode} from './run';
import {SpecSetName} from './spec_sets';

export type ConformanceEnvName = 'node' | 'browser' | 'webgpu';

/** The spec sets of each environment: on 'pbq-webgpu' the kernels pbq replaces (its other kernels are tfjs-webgpu's). */
export const SETS: Record<ConformanceEnvName, SpecSetName[]> = {node: ['matmul', 'broad'], browser: ['matmul', 'broad'], webgpu: ['matmul']};

export async function runEnv(env: ConformanceEnvName): Promise<Array<{set: SpecSetName; result: RunResult}>> {
  const out: Array<{set: SpecSetName; result: RunResult}> = [];
  for (const set of SETS[env]) out.push({set, result: env === 'node' ? await runNode(set) : await runBrowser(set, undefined, env)});
  return out;
}
