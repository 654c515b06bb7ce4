/**
 * The conformance targets: an environment and the pbq backend run there. Each has its own list
 * in expected_failures.json (keyed by the target name). A target with a `base` also runs the
 * specs on that stock backend, so that failures pbq inherits from it are checked to be its.
 */
import type {SpecSetName} from './spec_sets';

export type TargetName = 'node' | 'node-wasm' | 'browser' | 'webgpu';

export interface Target {
  name: TargetName;
  /** Names the bundles (.cache/conformance/<id>-<set>.js). */
  id: string;
  env: 'node' | 'browser';
  /** The backend the specs run on (setTestEnvs backendName). */
  backend: string;
  /** The stock backend pbq's is built on, whose own failures pbq may inherit. */
  base?: string;
  /** A secure page with WebGPU (the harness's `webgpu` option). */
  webgpu?: boolean;
  /** The spec sets run (default suite.ts SETS). */
  sets?: SpecSetName[];
}

export const TARGETS: Record<TargetName, Target> = {
  node: {name: 'node', id: 'node', env: 'node', backend: 'pbq-cpu'},
  'node-wasm': {name: 'node-wasm', id: 'node-wasm', env: 'node', backend: 'pbq-wasm', base: 'wasm'},
  browser: {name: 'browser', id: 'browser', env: 'browser', backend: 'pbq'},
  // the kernels pbq replaces: pbq-webgpu's other kernels are tfjs-backend-webgpu's
  webgpu: {name: 'webgpu', id: 'webgpu', env: 'browser', backend: 'pbq-webgpu', webgpu: true, sets: ['matmul']},
};

/** The same specs on the target's stock base backend. */
export function baseTarget(t: Target): Target | undefined {
  return t.base ? {...t, id: `${t.id}-base`, backend: t.base, base: undefined} : undefined;
}
