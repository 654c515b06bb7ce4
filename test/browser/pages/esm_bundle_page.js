// An app bundled by a bundler (esbuild, as the test's harness does): it imports @tensorflow/tfjs and the
// package's browser ES module (dist/tfjs-backend-pbq.esm.js), whose @tensorflow/* imports resolve to the
// app's own copy. Plain JavaScript, as an app importing the built file would be.
import * as tf from '@tensorflow/tfjs';
import * as pbq from '../../../dist/tfjs-backend-pbq.esm.js';

window.esmBundle = async () => {
  await tf.setBackend('pbq');
  pbq.configure({ weightBits: 4, activationBits: 8 });
  const model = tf.sequential({ layers: [tf.layers.lstm({ units: 8, inputShape: [4, 3] }), tf.layers.dense({ units: 2 })] });
  const x = tf.tensor3d([0.3, -1, 2, 0.5, 0.1, -0.7, 1.5, 0, -0.2, 0.9, 1.1, -1.3], [1, 4, 3]);
  const info = await tf.profile(() => model.predict(x));
  info.result.dispose();
  let convertError = '';
  try { pbq.convert(); } catch (e) { convertError = e.message; }
  return { backend: tf.getBackend(), base: pbq.detectBaseKind(), kernels: info.kernelNames, convertError };
};
