/**
 * Browser test harness: Jest (Node) drives headless Chromium through puppeteer-core.
 *
 *   const p = await openPage(path.join(__dirname, 'pages/smoke_page.ts'));
 *   expect(await p.call('webgl2Info')).toEqual(...);
 *   await p.close();
 *   afterAll(closeBrowser);
 *
 * - One Chromium per test file (Jest gives every test file its own module registry, so the
 *   lazily launched browser below is per file); close it in afterAll with closeBrowser().
 * - Page code is a TypeScript entry bundled by esbuild (iife, platform browser). The entry puts
 *   functions on `window`; call(fnName, ...jsonArgs) awaits them and returns their JSON result.
 * - Pages are served by request interception on a fake origin (http://pbq.test/), nothing on
 *   disk is opened with file:// (so .wasm/.json fetches work). `/fs/<path relative to repo>`
 *   serves any file of the repository; `opts.files` maps extra URL paths to files.
 * - `{webgpu: true}`: the page is served on the secure origin https://pbq.test (WebGPU needs a
 *   secure context; intercepted like the default one) and this file's Chromium is launched with
 *   WEBGPU_ARGS (open the first page of a test file with it). Real GPU: PBQ_CHROMIUM_GPU=1 (see
 *   gpuArgs(); WebGPU then runs on Dawn's backend for the GPU, Vulkan on Linux).
 * - Console errors/warnings, page errors and failed requests are forwarded to stderr and kept,
 *   so a failing call() explains itself.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type {Browser, HTTPRequest, Page} from 'puppeteer-core';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CACHE_DIR = path.join(REPO_ROOT, '.cache');
export const ORIGIN = 'http://pbq.test';
export const CHROMIUM_PATH = process.env.PBQ_CHROMIUM || '/usr/lib/chromium/chromium';

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** The secure origin of `{webgpu: true}` pages (WebGPU exposes no adapter to http://pbq.test). */
export const SECURE_ORIGIN = 'https://pbq.test';

/** Added for WebGPU pages (on SwiftShader: its Vulkan adapter; on a GPU: Dawn's default backend). */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu'];

/** WebGL on SwiftShader (the default here: no GPU on this machine). */
export const SWIFTSHADER_ARGS = ['--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

/**
 * WebGL on the machine's GPU: ANGLE's backend from PBQ_CHROMIUM_ANGLE (default 'default': ANGLE
 * picks; e.g. 'vulkan', 'gl', 'egl'), the GPU blocklist ignored (headless servers are on it).
 */
export function gpuArgs(angle = process.env.PBQ_CHROMIUM_ANGLE || 'default'): string[] {
  return [`--use-angle=${angle}`, '--ignore-gpu-blocklist', '--enable-gpu'];
}

/** Whether the environment asks for the real GPU (PBQ_CHROMIUM_GPU=1). */
export function gpuRequested(): boolean {
  return /^(1|true|yes)$/i.test(process.env.PBQ_CHROMIUM_GPU ?? '');
}

export interface LaunchOptions {
  /** WebGL on the machine's GPU instead of SwiftShader (default: PBQ_CHROMIUM_GPU=1). */
  gpu?: boolean;
  /** More Chromium flags (e.g. '--js-flags=--expose-gc'). */
  extraArgs?: string[];
  /** WebGPU too (WEBGPU_ARGS); a browser launched without it refuses later WebGPU pages. */
  webgpu?: boolean;
}

// ---------------------------------------------------------------------------------------------
// esbuild bundling with an on-disk cache (.cache/), keyed by options and input mtimes.
// ---------------------------------------------------------------------------------------------

/** esbuild options accepted by cachedBuild (a subset of BuildOptions; kept loose on purpose). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type BuildOpts = Record<string, any>;

function stableKey(opts: BuildOpts): string {
  const plain = JSON.stringify(opts, (_k, v) =>
    typeof v === 'function' ? String(v) : (Array.isArray(v) && v.length && v[0]?.setup) ?
      v.map((p: {name: string}) => p.name) : v);
  return crypto.createHash('sha1').update(plain).digest('hex');
}

/**
 * Bundles with esbuild into `outfile`, unless an earlier build with the same options is newer
 * than every input it read (esbuild's metafile lists them). Returns the outfile path.
 * `cacheSalt` distinguishes builds whose plugins behave differently under the same name.
 */
export async function cachedBuild(opts: BuildOpts, outfile: string, cacheSalt = ''): Promise<string> {
  const esbuild = await import('esbuild');
  const key = stableKey(opts) + cacheSalt;
  const metaPath = outfile + '.meta.json';
  if (fs.existsSync(outfile) && fs.existsSync(metaPath) && !process.env.PBQ_NO_CACHE) {
    try {
      const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8'));
      const outTime = fs.statSync(outfile).mtimeMs;
      const fresh = meta.key === key && (meta.inputs as string[]).every(f => {
        const abs = path.resolve(REPO_ROOT, f);
        return fs.existsSync(abs) && fs.statSync(abs).mtimeMs <= outTime;
      });
      if (fresh) return outfile;
    } catch {
      // fall through and rebuild
    }
  }
  fs.mkdirSync(path.dirname(outfile), {recursive: true});
  const result = await esbuild.build({
    logLevel: 'silent',
    ...opts,
    absWorkingDir: REPO_ROOT,
    outfile,
    write: true,
    metafile: true,
  });
  for (const w of result.warnings ?? []) {
    if (!/sourcemap|source map|"sideEffects"|direct-eval|eval/i.test(w.text)) {
      process.stderr.write(`[esbuild warning] ${w.text}\n`);
    }
  }
  const inputs = Object.keys(result.metafile!.inputs)
      .filter(f => !f.includes(':') && !f.startsWith('<'))  // skip virtual modules (<stdin>, ns:path)
      .map(f => path.resolve(REPO_ROOT, f));
  fs.writeFileSync(metaPath, JSON.stringify({key, inputs}));
  return outfile;
}

/** Bundles a page entry (TypeScript) as a browser iife into .cache/browser/. */
export async function bundlePage(entryTs: string, extra: BuildOpts = {}): Promise<string> {
  const abs = path.resolve(entryTs);
  const name = path.relative(REPO_ROOT, abs).replace(/[\\/]/g, '_').replace(/\.ts$/, '');
  const outfile = path.join(CACHE_DIR, 'browser', `${name}.js`);
  return cachedBuild({
    entryPoints: [abs],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    sourcemap: 'inline',
    ...extra,
  }, outfile);
}

// ---------------------------------------------------------------------------------------------
// Browser lifecycle (one per test file).
// ---------------------------------------------------------------------------------------------

let browserPromise: Promise<Browser> | null = null;
let userDataDir: string | null = null;
/** Whether this file's browser was launched with WEBGPU_ARGS. */
let browserHasWebGPU = false;

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM_PATH);
}

/**
 * The browser of this test file, launched on first use with `opts` (later calls get the same
 * browser: pass options to the first call, e.g. in beforeAll before openPage).
 */
export async function launchBrowser(opts: LaunchOptions = {}): Promise<Browser> {
  if (browserPromise) {
    if (opts.webgpu && !browserHasWebGPU) {
      throw new Error('this test file\'s Chromium was launched without WebGPU: open its first page with {webgpu: true}');
    }
    return browserPromise;
  }
  const args = [...CHROMIUM_ARGS, ...((opts.gpu ?? gpuRequested()) ? gpuArgs() : SWIFTSHADER_ARGS),
    ...(opts.webgpu ? WEBGPU_ARGS : []), ...(opts.extraArgs ?? [])];
  browserHasWebGPU = opts.webgpu === true;
  if (!chromiumAvailable()) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH} ` +
      '(set PBQ_CHROMIUM to override); install with apt-get install -y chromium');
  }
  browserPromise = (async () => {
    const puppeteer = await import('puppeteer-core');
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-chromium-'));
    return puppeteer.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args,
      userDataDir,
      protocolTimeout: 15 * 60 * 1000,
      timeout: 60_000,
    });
  })();
  try {
    return await browserPromise;
  } catch (e) {
    browserPromise = null;
    throw new Error(`Could not launch Chromium at ${CHROMIUM_PATH}: ${(e as Error).message}`);
  }
}

/** Closes the browser of this test file (call in afterAll). Safe to call if none was started. */
export async function closeBrowser(): Promise<void> {
  const p = browserPromise;
  browserPromise = null;
  browserHasWebGPU = false;
  if (p) {
    try {
      const b = await p;
      let t: NodeJS.Timeout | undefined;
      await Promise.race([b.close(), new Promise(r => { t = setTimeout(r, 10_000); })]);
      clearTimeout(t);
      const proc = b.process();
      if (proc && proc.exitCode == null && proc.pid) {
        try { process.kill(proc.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    } catch { /* launch failed: nothing to close */ }
  }
  if (userDataDir) {
    // Chromium may still be flushing its profile: retry, and never fail a suite over a temp dir.
    try {
      fs.rmSync(userDataDir, {recursive: true, force: true, maxRetries: 10, retryDelay: 200});
    } catch {
      // left in the OS temp folder
    }
    userDataDir = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Pages.
// ---------------------------------------------------------------------------------------------

export interface OpenPageOptions {
  /** Files (absolute or repo-relative) loaded as classic <script>s before the bundle. */
  preScripts?: string[];
  /** Inline JS run after preScripts, before the bundle. */
  preInline?: string;
  /** Extra URL path (e.g. '/model/weights.bin') -> file on disk. */
  files?: Record<string, string>;
  /** esbuild options merged into the page bundle build. */
  build?: BuildOpts;
  /** Default timeout for call(), ms (default 120 s). */
  callTimeoutMs?: number;
  /** Forward console.log/info of the page too (errors and warnings are always forwarded). */
  verbose?: boolean;
  /** Label used in forwarded log lines. */
  label?: string;
  /** Serve on SECURE_ORIGIN and launch Chromium with WEBGPU_ARGS (WebGPU needs both). */
  webgpu?: boolean;
  /**
   * Cross-origin isolate the page (`crossOriginIsolated`: SharedArrayBuffer, tfjs-backend-wasm's
   * threaded build, pbq-wasm's worker threads): every response carries COOP same-origin and COEP
   * require-corp, on SECURE_ORIGIN (isolation needs a secure context).
   */
  isolated?: boolean;
}

export interface PageHandle {
  page: Page;
  /** Calls window[fnName](...args) in the page, awaits it, returns its (JSON) result. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call<T = any>(fnName: string, ...args: unknown[]): Promise<T>;
  /** Same as call() with an explicit timeout (ms). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  callWithTimeout<T = any>(timeoutMs: number, fnName: string, ...args: unknown[]): Promise<T>;
  /** Console errors, page errors and failed requests seen so far. */
  problems: string[];
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json',
  '.wasm': 'application/wasm', '.html': 'text/html', '.bin': 'application/octet-stream',
  '.css': 'text/css', '.txt': 'text/plain', '.png': 'image/png',
};

function mimeOf(p: string) {
  return MIME[path.extname(p).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Opens a page that runs `entry` (a TypeScript file bundled for the browser, or
 * {bundle: path} for an already built .js). Resolves once the page's load event fired.
 */
export async function openPage(entry: string | {bundle: string},
                               opts: OpenPageOptions = {}): Promise<PageHandle> {
  const bundlePath = typeof entry === 'string' ? await bundlePage(entry, opts.build) : entry.bundle;
  const label = opts.label ?? path.basename(typeof entry === 'string' ? entry : entry.bundle);
  const browser = await launchBrowser({webgpu: opts.webgpu});
  const origin = opts.webgpu || opts.isolated ? SECURE_ORIGIN : ORIGIN;
  const isolation = opts.isolated ? {'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp'} : {};
  const page = await browser.newPage();
  page.setDefaultTimeout(120_000);
  const problems: string[] = [];
  const note = (kind: string, text: string) => {
    const line = `[page ${label}] ${kind}: ${text}`;
    problems.push(line);
    process.stderr.write(line + '\n');
  };

  page.on('console', msg => {
    const t = msg.type();
    if (t === 'error' || t === 'warn') note(`console.${t}`, msg.text());
    else if (opts.verbose) process.stderr.write(`[page ${label}] console.${t}: ${msg.text()}\n`);
  });
  page.on('pageerror', err => note('pageerror', (err as Error)?.stack ?? String(err)));
  page.on('requestfailed', req => {
    if (!req.url().startsWith('data:')) note('requestfailed', `${req.url()} ${req.failure()?.errorText ?? ''}`);
  });

  const scripts = (opts.preScripts ?? []).map((s, i) => ({url: `/pre/${i}.js`, file: path.resolve(REPO_ROOT, s)}));
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>pbq test</title><link rel="icon" href="data:,"></head><body>
${scripts.map(s => `<script src="${s.url}"></script>`).join('\n')}
${opts.preInline ? `<script src="/pre/inline.js"></script>` : ''}
<script src="/bundle.js"></script>
</body></html>`;
  const routes = new Map<string, {file?: string, body?: string, type: string}>();
  routes.set('/', {body: html, type: 'text/html'});
  routes.set('/index.html', {body: html, type: 'text/html'});
  routes.set('/bundle.js', {file: bundlePath, type: 'text/javascript'});
  if (opts.preInline) routes.set('/pre/inline.js', {body: opts.preInline, type: 'text/javascript'});
  for (const s of scripts) routes.set(s.url, {file: s.file, type: 'text/javascript'});
  for (const [u, f] of Object.entries(opts.files ?? {})) {
    const file = path.resolve(REPO_ROOT, f);
    routes.set(u.startsWith('/') ? u : '/' + u, {file, type: mimeOf(file)});
  }

  await page.setRequestInterception(true);
  page.on('request', (req: HTTPRequest) => {
    const url = req.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) {
      req.continue().catch(() => undefined);
      return;
    }
    if (!url.startsWith(origin + '/')) {
      note('blocked', `request outside ${origin}: ${url}`);
      req.abort('blockedbyclient').catch(() => undefined);
      return;
    }
    const p = decodeURIComponent(new URL(url).pathname);
    let route = routes.get(p);
    if (!route && p.startsWith('/fs/')) {
      const file = path.resolve(REPO_ROOT, p.slice(4));
      if (file.startsWith(REPO_ROOT + path.sep)) route = {file, type: mimeOf(file)};
    }
    if (route?.file && !fs.existsSync(route.file)) route = undefined;
    if (!route) {
      note('404', url);
      req.respond({status: 404, contentType: 'text/plain', body: `not found: ${p}`}).catch(() => undefined);
      return;
    }
    const body = route.body ?? fs.readFileSync(route.file!);
    req.respond({
      status: 200,
      contentType: route.type,
      headers: {'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-store', ...isolation},
      body,
    }).catch(() => undefined);
  });

  await page.goto(origin + '/', {waitUntil: 'load', timeout: 120_000});

  const callWithTimeout = async (timeoutMs: number, fnName: string, ...args: unknown[]) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(
        `page call ${fnName}() timed out after ${timeoutMs} ms` + problemsTail(problems))), timeoutMs);
    });
    try {
      return await Promise.race([
        page.evaluate(async (name: string, a: unknown[]) => {
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          const f = (window as any)[name];
          if (typeof f !== 'function') {
            throw new Error(`window.${name} is not a function (did the entry bundle load? ` +
              `exported: ${Object.keys(window).filter(k => k.startsWith('pbq') || k.startsWith('test')).join(', ')})`);
          }
          return await f(...a);
        }, fnName, args),
        timeout,
      ]);
    } catch (e) {
      const err = e as Error;
      if (!/timed out after/.test(err.message)) err.message = `page call ${fnName}() failed: ${err.message}` + problemsTail(problems);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    page,
    problems,
    callWithTimeout,
    call: (fnName: string, ...args: unknown[]) => callWithTimeout(opts.callTimeoutMs ?? 120_000, fnName, ...args),
    close: async () => {
      await page.close().catch(() => undefined);
    },
  };
}

function problemsTail(problems: string[]): string {
  if (!problems.length) return '';
  return '\nPage problems (last 10):\n  ' + problems.slice(-10).join('\n  ');
}
