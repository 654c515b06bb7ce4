/**
 * tfjs-backend-pbq: importing this module registers the 'pbq' backend.
 *
 *   import * as tf from '@tensorflow/tfjs-core';
 *   import * as pbq from 'tfjs-backend-pbq';
 *   await tf.setBackend('pbq');
 *   pbq.configure({ weightBits: 4, activationBits: 8 });
 */
import '@tensorflow/tfjs-backend-cpu';
import { PbqBackendCPU } from './backend_cpu';
import { BaseKind, registerPbqBackend } from './register';
import { installFusedLstm } from './layers';
import { isNode, registerFileRouters } from './io/file_io';

function createBackend(base: BaseKind) {
  if (base === 'webgl') {
    // Loaded lazily so Node never evaluates the WebGL backend.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { PbqBackendWebGL } = require('./backend_webgl') as typeof import('./backend_webgl');
    return new PbqBackendWebGL();
  }
  return new PbqBackendCPU();
}

registerPbqBackend(createBackend);
installFusedLstm();
// tf.loadLayersModel('file://…') and model.save('file://…') in Node, without tfjs-node.
if (isNode()) registerFileRouters();

export {
  configure, getConfig, resetConfig, withConfig, DEFAULT_CONFIG, FLAGS, PbqConfigError,
} from './config';
export type { PbqConfig, AccumulatorConfig } from './config';
export { BACKEND_NAME, detectBaseKind } from './register';
export { PbqBackendCPU } from './backend_cpu';
export { accumulatorStats, resetAccumulatorStats } from './accumulator';
export type { AccumulatorStats } from './accumulator';
export * as quantization from './quantize';
export * as engine from './engine';
export { loadLayersModel, loadPbqModel } from './converter/load';
export { registerFileRouters, fileHandler } from './io/file_io';
export type { LoadedPbqModel } from './converter/load';
