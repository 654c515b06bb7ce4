/**
 * Bundles tfjs-core's jasmine specs + setup.ts + the backend under test into one file per
 * (environment, spec set), cached in .cache/conformance/.
 *
 * - ignoreAnnotations: tfjs-core declares itself side-effect free; without this esbuild drops
 *   the spec modules' describe() calls ("No specs found").
 * - ONE copy of tfjs-core: the specs import '../index' (dist/index.js, ESM), so every
 *   '@tensorflow/tfjs-*' import is resolved through the packages' "module" field (ESM dist).
 * - 'pbq-backend-under-test' -> src/index.ts; PBQ_BACKEND names the backend the specs run on.
 * - jasmine_util's private `require('jasmine-core/.../jasmine.js')` is shimmed to the jasmine
 *   instance of the runner (Node: npm jasmine; browser: jasmine-core loaded by the page).
 */
import * as fs from 'fs';
import * as path from 'path';
import {cachedBuild, CACHE_DIR, REPO_ROOT} from '../../tools/harness/browser';
import {SpecSetName, specsFor} from './spec_sets';
import {Target} from './targets';

export type ConformanceEnv = 'node' | 'browser';

export const TFJS_CORE_DIST = path.join(REPO_ROOT, 'node_modules/@tensorflow/tfjs-core/dist');

export function backendUnderTest(): {file: string; implementation: string} {
  return {file: path.join(REPO_ROOT, 'src', 'index.ts'), implementation: 'src/index.ts'};
}

export async function buildConformanceBundle(target: Target, set: SpecSetName): Promise<{bundle: string; implementation: string}> {
  const env: ConformanceEnv = target.env;
  const specs = specsFor(set).map(s => path.join(TFJS_CORE_DIST, s));
  for (const s of specs) if (!fs.existsSync(s)) throw new Error(`spec file not found: ${s}`);
  const under = backendUnderTest();
  const entry = [`import ${JSON.stringify(path.join(__dirname, 'setup.ts'))};`,
    ...specs.map(s => `import ${JSON.stringify(s)};`)].join('\n');
  const outfile = path.join(CACHE_DIR, 'conformance', `${target.id}-${set}.js`);
  const plugin = {
    name: 'pbq-conformance',
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    setup(b: any) {
      b.onResolve({filter: /^pbq-backend-under-test$/}, () => ({path: under.file}));
      b.onResolve({filter: /^jasmine-core\/lib\/jasmine-core\/jasmine\.js$/}, () => ({path: 'jasmine-shim', namespace: 'pbq-shim'}));
      b.onLoad({filter: /.*/, namespace: 'pbq-shim'}, () => ({
        contents: 'module.exports = {core: function () { return globalThis.jasmine; }};',
        loader: 'js',
      }));
    },
  };
  await cachedBuild({
    stdin: {contents: entry, resolveDir: __dirname, sourcefile: `conformance-${set}-entry.ts`, loader: 'ts'},
    bundle: true,
    ignoreAnnotations: true,
    platform: env === 'node' ? 'node' : 'browser',
    format: env === 'node' ? 'cjs' : 'iife',
    target: 'es2020',
    mainFields: env === 'node' ? ['module', 'main'] : ['browser', 'module', 'main'],
    define: {
      PBQ_ENV: JSON.stringify(env),
      PBQ_IMPLEMENTATION: JSON.stringify(under.implementation),
      PBQ_BACKEND: JSON.stringify(target.backend),
    },
    // node-only optional deps of tfjs that the specs selected here never use
    external: env === 'node' ? ['node-fetch', 'worker_threads'] : [],
    sourcemap: false,
    logLevel: 'error',
    plugins: [plugin],
  }, outfile, under.file + '|' + target.backend + '|' + entry);
  return {bundle: outfile, implementation: under.implementation};
}
