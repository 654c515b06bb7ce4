/**
 * The layout rule of the shipped library (`npm run lint`, and test/layout.test.ts in `npm test`):
 *
 * 1. `src/` and `kernels/` import only each other, `@tensorflow/*` (peer dependencies), the
 *    package's own `dependencies` (package.json: what installs with it, e.g. the CLI's commander)
 *    and Node built-ins — never the lab (`tools/`), the tests (`test/`) or the models (`models/`).
 * 2. One direction between them: kernels use src/'s semantics; of src/, only src/register.ts
 *    imports kernels/ (it registers their configs).
 * 3. No import cycle among the library's files (type-only imports excluded: they vanish at run time).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

export const LIBRARY_ROOTS = ['src', 'kernels'];
/** The one file of src/ that may import kernels/. */
export const REGISTRATION = 'src/register.ts';

export interface ImportEdge { from: string; spec: string; to?: string; typeOnly: boolean }

/** Every .ts file under `dir` (repository-relative, '/' separators). */
export function tsFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(root, d), { withFileTypes: true })) {
      const rel = `${d}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  if (fs.existsSync(path.join(root, dir))) walk(dir);
  return out;
}

/** Module specifiers of a file: imports, re-exports, require() and import() with literal names. */
export function importsOf(root: string, file: string): ImportEdge[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2020, true);
  const edges: ImportEdge[] = [];
  const add = (spec: string, typeOnly: boolean) => edges.push({ from: file, spec, typeOnly, to: resolveLocal(root, file, spec) });
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.importClause?.isTypeOnly ?? false);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0]) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
      add(node.arguments[0].text, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true); // typeof import('...')
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** The repository file a relative specifier names (undefined for packages). */
function resolveLocal(root: string, from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  for (const candidate of [`${base}.ts`, `${base}/index.ts`, base]) {
    if (fs.existsSync(path.join(root, candidate)) && fs.statSync(path.join(root, candidate)).isFile()) return candidate;
  }
  return base;
}

const BUILTINS = new Set(['fs', 'path', 'os', 'crypto', 'url', 'util', 'worker_threads', 'module', 'zlib', 'stream', 'events', 'child_process']);

/** The package names of a module specifier ('commander', '@scope/name' of '@scope/name/sub'). */
function packageName(spec: string): string {
  const parts = spec.replace(/^node:/, '').split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The `dependencies` of root/package.json (none when there is no package.json). */
export function declaredDependencies(root: string): string[] {
  const file = path.join(root, 'package.json');
  if (!fs.existsSync(file)) return [];
  return Object.keys((JSON.parse(fs.readFileSync(file, 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
}

/** Violations of rules 1 and 2, one line each. `dependencies`: the package's own runtime dependencies. */
export function directionViolations(edges: ImportEdge[], dependencies: string[] = []): string[] {
  const out: string[] = [];
  for (const e of edges) {
    if (e.to === undefined) {
      const pkg = packageName(e.spec);
      if (!e.spec.startsWith('@tensorflow/') && !BUILTINS.has(pkg) && !dependencies.includes(pkg)) {
        out.push(`${e.from} imports the package '${e.spec}' (library: @tensorflow/*, package.json dependencies and Node built-ins only)`);
      }
      continue;
    }
    const top = e.to.split('/')[0];
    if (!LIBRARY_ROOTS.includes(top)) out.push(`${e.from} imports ${e.to} (${top}/ is not part of the library)`);
    else if (e.from.startsWith('src/') && top === 'kernels' && e.from !== REGISTRATION) {
      out.push(`${e.from} imports ${e.to} (only ${REGISTRATION} may import kernels/)`);
    }
  }
  return out;
}

/** Import cycles among the library's files (runtime imports only), each as a path a → … → a. */
export function cycles(edges: ImportEdge[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const e of edges) {
    if (e.typeOnly || e.to === undefined) continue;
    graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
  }
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') found.push([...stack.slice(stack.indexOf(g)), g]);
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return found;
}

/** All problems of the library under `root`. */
export function layoutProblems(root: string): string[] {
  const edges = LIBRARY_ROOTS.flatMap((dir) => tsFiles(root, dir)).flatMap((f) => importsOf(root, f));
  return [...directionViolations(edges, declaredDependencies(root)), ...cycles(edges).map((c) => `import cycle: ${c.join(' → ')}`)];
}

if (require.main === module) {
  const problems = layoutProblems(path.resolve(__dirname, '..', '..'));
  for (const p of problems) console.error(p);
  console.log(problems.length === 0 ? 'layout: ok (src/ and kernels/ import only each other, @tensorflow/* and package.json dependencies, one direction, no cycles)' : `layout: ${problems.length} problem(s)`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
