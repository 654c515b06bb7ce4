/**
 * The wasm base's Node-only paths (reading the .wasm, worker_threads, os): the one environment
 * check of the package, and Node's require reached lazily, so that bundling for the browser does
 * not pull `fs`, `path`, `os` or `worker_threads` in.
 */
export { isNode } from '../../src/io/file_io';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function nodeRequire(name: string): any {
  return eval('require')(name);
}
