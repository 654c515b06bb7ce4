/**
 * tfjs-backend-pbq, the package entry in Node (`dist/src/node.js`, and its ES module wrapper
 * `dist/esm/index.mjs`): the whole API of src/index.ts, plus the converter (`convert` reads and
 * writes model files). Browsers and bundlers get src/browser.ts instead.
 */
export * from './index';
export { convert, ConversionError } from './converter';
export type { ConvertOptions, ConversionReport, TensorReport } from './converter';
