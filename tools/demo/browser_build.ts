/**
 * esbuild options for browser pages that import models/eval.ts (which reads files with `fs`
 * in Node): `fs`/`path` become stubs and `__dirname` a constant. The file-reading helpers are
 * then unusable in the page (pages fetch /fs/... instead); the evaluation functions work.
 */
export const NODE_STUBS_PLUGIN = {
  name: 'pbq-node-stubs-v1',
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  setup(build: any) {
    build.onResolve({ filter: /^(fs|path)$/ }, (args: { path: string }) => ({ path: args.path, namespace: 'pbq-node-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'pbq-node-stub' }, (args: { path: string }) => ({
      contents: args.path === 'path'
        ? 'module.exports = { join: (...a) => a.join("/"), resolve: (...a) => a.join("/") };'
        : 'module.exports = {};',
      loader: 'js',
    }));
  },
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const EVAL_PAGE_BUILD: Record<string, any> = {
  define: { __dirname: '"/fs/models"' },
  plugins: [NODE_STUBS_PLUGIN],
};
