/**
 * pbq's integration with @tensorflow/tfjs-layers, in one place. What is patched, and when:
 *
 * - At import of the package: `LSTMCell.prototype.call` is wrapped once (lstm_route.ts) to run
 *   the fused PbqLSTMStep kernel under pbq backends (inference only). Other backends and
 *   training run tfjs-layers' own code. `tf.env().set('PBQ_FUSED_LSTM', false)` turns it off.
 * - At `pbq.loadLayersModel` of a converted model: its Dense and GRU layer instances are patched
 *   (load_patches.ts) so their matmuls find the stored planes.
 *
 * The tfjs-layers copy patched is the one this package resolves; an app with its own copy (or
 * the script-tag global `tf`) must share it (peer dependency), or LSTMs fall back silently.
 */
export { FUSED_LSTM_FLAG, installFusedLstm } from './lstm_route';
export { routeDenseThroughVariable, splitGruRecurrentKernel } from './load_patches';
