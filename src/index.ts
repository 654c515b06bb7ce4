/**
 * tfjs-backend-pbq's API, the same in every environment: importing this module registers the pbq
 * backends ('pbq', 'pbq-cpu', 'pbq-wasm' where WebAssembly has SIMD; 'pbq-webgl' and 'pbq-webgpu' in browsers), routes tfjs-layers' LSTM cells to
 * PbqLSTMStep (src/layers/) and, in Node, adds the file:// model router. The package's entries
 * add to it: src/node.ts (Node: `main`, `require`, `import`) exports `convert`; src/browser.ts
 * (the browser builds) a `convert` that explains it runs in Node only.
 *
 *   import * as tf from '@tensorflow/tfjs';
 *   import * as pbq from 'tfjs-backend-pbq';
 *   await tf.setBackend('pbq');
 *   pbq.configure({ weightBits: 4, activationBits: 8 });
 */
import '@tensorflow/tfjs-backend-cpu';
import './chained_ops';
import { registerPbqBackends } from './register';
import { installFusedLstm } from './layers';
import { isNode, registerFileRouters } from './io/file_io';

registerPbqBackends();
installFusedLstm();
// tf.loadLayersModel('file://…') and model.save('file://…') in Node, without tfjs-node.
if (isNode()) registerFileRouters();

export {
  configure, getConfig, resetConfig, withConfig, DEFAULT_CONFIG, FLAGS, PbqConfigError, WEBGL_PRODUCTS, WEBGPU_PRODUCTS,
} from './config';
export type { PbqConfig, AccumulatorConfig, WebGLProductFlag, WebGPUProductFlag } from './config';
export { availableBases, BACKEND_NAME, detectBaseKind, recreateBackend, setWasmPaths, setWasmSource, wasmThreadCount } from './register';
export type { BaseName, WasmSource } from './register';
export { PbqBackendCPU } from './backend_cpu';
export { PbqContextLostError } from './errors';
// a type only: loading tfjs-backend-wasm registers its 'wasm' backend, so it waits for pbq-wasm
export type { PbqBackendWasm } from './backend_wasm';
export { useWebGPU } from './backend_webgpu';
export type { PbqBackendWebGPU, WebGPUModule } from './backend_webgpu';
export { accumulatorStats, resetAccumulatorStats } from './accumulator';
export type { AccumulatorStats } from './accumulator';
export * as quantization from './quantize';
export * as engine from './engine';
export { loadLayersModel, loadPbqModel } from './converter/load';
export { registerFileRouters, fileHandler } from './io/file_io';
export type { LoadedPbqModel } from './converter/load';
export { loadGraphModel, loadPbqGraphModel } from './converter/load_graph';
export { useTfjsConverter } from './converter/tfjs_converter';
export type { LoadedPbqGraphModel } from './converter/load_graph';
export type { PlanesInForce } from './converter/planes_in_force';
