/**
 * tfjs-backend-pbq, the entry of the browser builds: `dist/tfjs-backend-pbq.esm.js` (ES module for
 * bundlers, the package's `browser` export; @tensorflow/* stay imports, so the app's one copy of
 * tfjs is the one pbq registers into) and `dist/tfjs-backend-pbq.min.js` (script tag: registers
 * into the page's global `tf`, `window.pbq`). Same API as the Node entry; `convert` reads and
 * writes files, so here it only throws.
 */
export * from './index';
export { ConversionError } from './converter/errors';
export type { ConvertOptions, ConversionReport, TensorReport } from './converter/convert';

/** `pbq convert` needs Node (it reads and writes model files): convert in Node, load here. */
export function convert(): never {
  throw new Error("pbq: convert() runs in Node only (it reads and writes model files); run `npx pbq convert` " +
    "or `require('tfjs-backend-pbq').convert` in Node and load the result here with pbq.loadLayersModel(url)");
}
