/**
 * A throw-away app that installs the packed tarball (with @tensorflow/tfjs and tfjs-backend-wasm), as a user would, with no network: its
 * package-lock.json is cut from this repository's lock (the entries of @tensorflow/tfjs and the
 * tarball's own dependencies, with everything they depend on), so `npm ci --offline` takes every
 * package from the npm cache that this repository's `npm ci` filled.
 */
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '..');

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

interface Lock { lockfileVersion: number; packages: Record<string, LockEntry> }

/** The lock path a dependency `name` of the package at `from` resolves to (Node's upward search). */
export function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up < 0 ? '' : dir.slice(0, up);
  }
}

/**
 * The registry tarball URL of a lock entry. This repository's lock omits `resolved`
 * (omit-lockfile-registry-resolved), and without it npm would ask the registry for the package's
 * metadata, which --offline cannot; with it, npm finds the tarball in its cache by integrity.
 */
export function registryTarball(registry: string, lockPath: string, entry: LockEntry): string {
  const name = (entry.name as string | undefined) ?? lockPath.slice(lockPath.lastIndexOf('node_modules/') + 'node_modules/'.length);
  const base = name.startsWith('@') ? name.split('/')[1] : name;
  return `${registry.replace(/\/?$/, '/')}${name}/-/${base}-${entry.version}.tgz`;
}

/** The entries `roots` (top-level names) need: each root, its dependencies and required peers, recursively. */
export function lockClosure(lock: Lock, roots: string[]): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const visit = (from: string, name: string, optional: boolean) => {
    const at = resolveInLock(lock.packages, from, name);
    if (!at) {
      if (optional) return;
      throw new Error(`package-lock.json has no entry for ${name} (needed by ${from || 'the consumer'})`);
    }
    if (out[at]) return;
    const { dev, devOptional, peer, optional: _o, ...entry } = lock.packages[at] as LockEntry & Record<string, unknown>;
    void dev; void devOptional; void peer; void _o;
    out[at] = entry as LockEntry;
    for (const d of Object.keys(entry.dependencies ?? {})) visit(at, d, false);
    for (const d of Object.keys(entry.optionalDependencies ?? {})) visit(at, d, true);
    for (const d of Object.keys(entry.peerDependencies ?? {})) visit(at, d, Boolean(entry.peerDependenciesMeta?.[d]?.optional));
  };
  for (const r of roots) visit('', r, false);
  return out;
}

function sha512(file: string): string {
  return 'sha512-' + crypto.createHash('sha512').update(fs.readFileSync(file)).digest('base64');
}

export interface Consumer { dir: string; tarball: string; files: string[] }

/** `npm pack` of this repository (runs `prepare`, i.e. the build) into `dest`; the tarball and its file list. */
export function packRepo(dest: string): { tarball: string; files: string[] } {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dest], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const info = JSON.parse(out.slice(out.indexOf('[')))[0] as { filename: string; files: Array<{ path: string }> };
  return { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path).sort() };
}

/** A consumer app in a new temp folder with `@tensorflow/tfjs` and the tarball installed offline. */
export function installConsumer(tarball: string, files: string[]): Consumer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-consumer-'));
  const local = path.join(dir, 'tfjs-backend-pbq.tgz');
  fs.copyFileSync(tarball, local);
  const repoLock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as Lock;
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as LockEntry & { name: string; version: string; bin: Record<string, string>; engines: Record<string, string>; license: string };
  const tfjsVersion = repoLock.packages['node_modules/@tensorflow/tfjs'].version as string;
  // The app a Node user would write: tfjs and tfjs-backend-wasm (pbq's optional peer: 'pbq' runs on pbq-wasm).
  const wasmVersion = repoLock.packages['node_modules/@tensorflow/tfjs-backend-wasm'].version as string;
  const dependencies = { '@tensorflow/tfjs': tfjsVersion, '@tensorflow/tfjs-backend-wasm': wasmVersion, [pkg.name]: 'file:tfjs-backend-pbq.tgz' };
  const closure = lockClosure(repoLock, ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', ...Object.keys(pkg.dependencies ?? {})]);
  const registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
  for (const [at, entry] of Object.entries(closure)) entry.resolved ??= registryTarball(registry, at, entry);
  const manifest = { name: 'pbq-consumer', version: '1.0.0', private: true, dependencies };
  const lock = {
    name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true,
    packages: {
      '': { name: manifest.name, version: manifest.version, dependencies },
      ...closure,
      [`node_modules/${pkg.name}`]: {
        version: pkg.version, resolved: 'file:tfjs-backend-pbq.tgz', integrity: sha512(local), license: pkg.license,
        dependencies: pkg.dependencies, peerDependencies: pkg.peerDependencies, bin: pkg.bin, engines: pkg.engines,
      },
    },
  };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(lock, null, 2));
  execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  return { dir, tarball: local, files };
}
