/**
 * `npm run demo`: builds the demo page (build.ts) and serves the folder on localhost.
 *
 *   npm run demo                       build into build/demo/ and serve it on http://127.0.0.1:8080/
 *   npm run demo -- --port 9000        another port (0: any free one)
 *   npm run demo -- --build-only       only build (then serve build/demo/ with any static server)
 *   npm run demo -- --out DIR          build into DIR
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { AddressInfo } from 'net';
import { buildDemo, DEFAULT_OUT } from './build';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.json': 'application/json',
  '.bin': 'application/octet-stream', '.u8': 'application/octet-stream', '.wasm': 'application/wasm',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.css': 'text/css',
};

export interface StaticServer { url: string; close(): Promise<void> }

/** A plain static file server for `dir` on 127.0.0.1 (GET/HEAD, no directory listings). */
export function serveStatic(dir: string, port = 8080): Promise<StaticServer> {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    let file = path.join(root, urlPath);
    if (file !== root && !file.startsWith(root + path.sep)) { res.writeHead(403).end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return; }
    if (!fs.existsSync(file)) { res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${urlPath}`); return; }
    res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${p}/`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

/** Bad arguments (exit code 2). */
class UsageError extends Error {}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return v;
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(fs.readFileSync(__filename, 'utf8').split('*/')[0].replace(/^\/\*\*?|^ \* ?/gm, '') + '\n');
    return;
  }
  const out = path.resolve(flag(argv, '--out') ?? DEFAULT_OUT);
  const portText = flag(argv, '--port') ?? '8080';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new UsageError(`--port needs a port number 0..65535, got '${portText}'`);
  const files = await buildDemo(out);
  process.stderr.write(`demo page built: ${path.relative(process.cwd(), out) || '.'}/ (${files.length} files)\n`);
  if (argv.includes('--build-only')) return;
  const server = await serveStatic(out, Number(portText));
  process.stdout.write(`pbq demo page: ${server.url}  (Ctrl-C to stop)\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`npm run demo: ${e instanceof Error ? e.message : e}\n`);
    process.exit(e instanceof UsageError || (e as NodeJS.ErrnoException)?.code === 'EADDRINUSE' ? 2 : 1);
  });
}
