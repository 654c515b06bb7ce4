/**
 * `tfjs-backend-pbq/convert`: the converter alone (Node; reads and writes files), without
 * registering the pbq backends. Also exported by the package entry in Node.
 *
 *   import { convert } from 'tfjs-backend-pbq/convert';
 *   const report = await convert({ input: 'models/mnist-mlp', output: 'out/mnist-w4', weightBits: 4 });
 */
export { convert, QUANTIZED_CLASSES, CONVERTER_VERSION } from './convert';
export type { ConvertOptions, ConversionReport, TensorReport } from './convert';
export { ConversionError } from './errors';
export { formatReport } from './report';
