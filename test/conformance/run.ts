/**
 * Runs a conformance bundle in Node (child process with npm `jasmine`) or in headless Chromium
 * (jasmine-core in the page), returning the RunResult collected by setup.ts's reporter.
 */
import {spawn} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {openPage, REPO_ROOT} from '../../tools/harness/browser';
import {RunResult} from './analysis';
import {buildConformanceBundle} from './build';
import {SpecSetName} from './spec_sets';
import {Target} from './targets';

const NODE_RUNNER = `
const fs = require('fs');
const Jasmine = require('jasmine');
const [bundle, out] = process.argv.slice(1);
const j = new Jasmine({projectBaseDir: process.cwd()});
j.exitOnCompletion = false;
j.clearReporters();
j.randomizeTests(false);
j.addSpecFile(bundle);
const write = () => fs.writeFileSync(out, JSON.stringify(globalThis.__pbqConformance || null));
process.on('uncaughtException', e => { console.error('uncaught:', e); write(); process.exit(3); });
j.execute().then(() => { write(); process.exit(0); }, e => { console.error(e); write(); process.exit(2); });
`;

export async function runNode(target: Target, set: SpecSetName, timeoutMs = 8 * 60_000): Promise<RunResult> {
  const {bundle} = await buildConformanceBundle(target, set);
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-conf-')), 'result.json');
  const stderr: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', NODE_RUNNER, bundle, out], {cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe']});
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`node conformance (${set}) timed out after ${timeoutMs} ms\n${stderr.join('').slice(-4000)}`)); }, timeoutMs);
    child.stdout.on('data', d => stderr.push(String(d)));
    child.stderr.on('data', d => stderr.push(String(d)));
    child.on('error', reject);
    child.on('exit', c => { clearTimeout(timer); resolve(c); });
  });
  const raw = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : 'null';
  fs.rmSync(path.dirname(out), {recursive: true, force: true});
  const result = JSON.parse(raw) as RunResult | null;
  if (!result || !result.done) {
    throw new Error(`node conformance (${set}) did not complete (exit ${code}).\n${stderr.join('').slice(-4000)}`);
  }
  return result;
}

/** jasmine-core boot without the HTML reporter (boot0.js minus jasmineRequire.html). */
const BROWSER_BOOT = `
(function () {
  const jasmine = jasmineRequire.core(jasmineRequire);
  const global = jasmine.getGlobal();
  global.jasmine = jasmine;
  const env = jasmine.getEnv();
  const iface = jasmineRequire.interface(jasmine, env);
  for (const p in iface) global[p] = iface[p];
  env.configure({random: false, stopOnSpecFailure: false});
  window.pbqRunConformance = async function () {
    await globalThis.__pbqConformanceReady; // an async backend created first (setup.ts: pbq-webgpu)
    await env.execute();
    return globalThis.__pbqConformance;
  };
})();
`;

export async function runBrowser(target: Target, set: SpecSetName, timeoutMs = 9 * 60_000): Promise<RunResult> {
  const {bundle} = await buildConformanceBundle(target, set);
  const p = await openPage({bundle}, {
    preScripts: ['node_modules/jasmine-core/lib/jasmine-core/jasmine.js'],
    preInline: BROWSER_BOOT,
    label: `conformance-${target.id}-${set}`,
    webgpu: target.webgpu,
  });
  try {
    const result = await p.callWithTimeout<RunResult>(timeoutMs, 'pbqRunConformance');
    if (!result || !result.done) throw new Error(`browser conformance (${set}) did not complete`);
    return result;
  } finally {
    await p.close();
  }
}
