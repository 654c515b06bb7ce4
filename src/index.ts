/**
 * tfjs-backend-pbq: importing this module registers the pbq backends ('pbq', 'pbq-cpu',
 * 'pbq-webgl' in browsers) and routes tfjs-layers' LSTM cells to PbqLSTMStep (src/layers/).
 *
 *   import * as tf from '@tensorflow/tfjs-core';
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
  configure, getConfig, resetConfig, DEFAULT_CONFIG, FLAGS, PbqConfigError, WEBGL_PRODUCTS, WEBGPU_PRODUCTS,
} from './config';
export type { PbqConfig, AccumulatorConfig, WebGLProductFlag, WebGPUProductFlag } from './config';
export { BACKEND_NAME, detectBaseKind } from './register';
export type { BaseName } from './register';
export { PbqBackendCPU } from './backend_cpu';
export { accumulatorStats, resetAccumulatorStats } from './accumulator';
export type { AccumulatorStats } from './accumulator';
export * as quantization from './quantize';
export * as engine from './engine';
export { loadLayersModel, loadPbqModel } from './converter/load';
export { registerFileRouters, fileHandler } from './io/file_io';
export type { LoadedPbqModel } from './converter/load';
