/**
 * Programs the package test runs inside the consumer app (test/consumer.ts), as a user's code
 * would be: CommonJS or ES module, importing `@tensorflow/tfjs` and `tfjs-backend-pbq` by name.
 * Each prints one JSON line of results on stdout.
 */

export type ModuleKind = 'cjs' | 'esm';

function imports(kind: ModuleKind): string {
  return kind === 'cjs'
    ? "const tf = require('@tensorflow/tfjs');\nconst pbq = require('tfjs-backend-pbq');\nconst { convert } = require('tfjs-backend-pbq/convert');\n"
    : "import * as tf from '@tensorflow/tfjs';\nimport * as pbq from 'tfjs-backend-pbq';\nimport { convert } from 'tfjs-backend-pbq/convert';\n";
}

/** The model and input both scripts use: an LSTM (Keras defaults: hardSigmoid) and a softmax Dense. */
const MODEL = `
const x = tf.tensor3d(Array.from({ length: 2 * 6 * 4 }, (_, i) => Math.sin(0.7 * i) * (1 + (i % 5))), [2, 6, 4]);
async function run(model) {
  const info = await tf.profile(() => model.predict(x));
  const values = Array.from(await info.result.data());
  tf.dispose(info.result);
  return { kernels: info.kernelNames, values };
}
`;

/**
 * Builds an LSTM model, runs it under 'pbq' at W4A8 with the fused LSTM route on and off and on
 * the stock 'cpu' backend, then saves it with model.save('file://<argv[2]>') and loads it back.
 */
export function lstmScript(kind: ModuleKind): string {
  return `${imports(kind)}${MODEL}
async function main() {
  const dir = process.argv[2];
  const model = tf.sequential({ layers: [
    tf.layers.lstm({ units: 16, inputShape: [6, 4] }),
    tf.layers.dense({ units: 3, activation: 'softmax' }),
  ] });
  await tf.setBackend('pbq');
  pbq.configure({ weightBits: 4, activationBits: 8 });
  const fused = await run(model);
  tf.env().set('PBQ_FUSED_LSTM', false);
  const composed = await run(model);
  tf.env().set('PBQ_FUSED_LSTM', true);
  await tf.setBackend('cpu');
  const float = await run(model);
  await tf.setBackend('pbq');
  await model.save('file://' + dir);
  const reloaded = await run(await tf.loadLayersModel('file://' + dir + '/model.json'));
  // a product large enough for pbq-wasm's worker threads (the package's dist/ worker script),
  // against the same on one thread; any warning would say a worker failed or exited
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args.join(' '));
  const w = tf.variable(tf.randomNormal([520, 403], 0, 0.1, 'float32', 3));
  const a = tf.randomNormal([24, 520], 0, 1, 'float32', 4);
  const product = async (wasmThreads) => {
    pbq.configure({ wasmThreads });
    const y = tf.matMul(a, w);
    const values = Array.from(await y.data());
    y.dispose();
    return values;
  };
  const threaded = [await product(2), await product(2)];
  const count = pbq.wasmThreadCount();
  const oneThread = await product(1);
  console.warn = warn;
  const threads = { count, same: threaded.every((v) => JSON.stringify(v) === JSON.stringify(oneThread)), warnings };
  console.log(JSON.stringify({
    backend: tf.getBackend(), base: pbq.detectBaseKind(), sameConvert: convert === pbq.convert,
    fused, composed, float, reloaded, threads,
  }));
}
main().catch((e) => { console.error(e); process.exit(1); });
`;
}

/**
 * Loads the model saved by lstmScript (argv[2]) with tf.loadLayersModel and its conversion
 * (argv[3], \`pbq convert --range minmax\`) with pbq.loadLayersModel, and runs both at W4A8.
 */
export function convertedScript(kind: ModuleKind): string {
  return `${imports(kind)}${MODEL}
async function main() {
  await tf.setBackend('pbq');
  pbq.configure({ weightBits: 4, activationBits: 8 });
  const runtime = await run(await tf.loadLayersModel('file://' + process.argv[2] + '/model.json'));
  const converted = await run(await pbq.loadLayersModel(process.argv[3]));
  console.log(JSON.stringify({ runtime, converted }));
}
main().catch((e) => { console.error(e); process.exit(1); });
`;
}
