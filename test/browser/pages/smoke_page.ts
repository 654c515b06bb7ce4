/** Page entry for smoke.test.ts: WebGL2 probe and a tfjs `webgl` matMul. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgl';

declare global {
  interface Window {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    [k: string]: any;
  }
}

window.webgl2Info = () => {
  const canvas = document.createElement('canvas');
  const gl = canvas.getContext('webgl2');
  if (!gl) return {webgl2: false};
  const dbg = gl.getExtension('WEBGL_debug_renderer_info');
  return {
    webgl2: true,
    version: gl.getParameter(gl.VERSION),
    renderer: dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER),
    floatRenderable: !!gl.getExtension('EXT_color_buffer_float'),
  };
};

window.webglMatMul = async (a: number[][], b: number[][]) => {
  const ok = await tf.setBackend('webgl');
  if (!ok) throw new Error('tf.setBackend("webgl") failed');
  await tf.ready();
  const out = tf.tidy(() => tf.matMul(tf.tensor2d(a), tf.tensor2d(b)));
  const values = await out.array();
  out.dispose();
  return {
    backend: tf.getBackend(),
    webglVersion: tf.env().getNumber('WEBGL_VERSION'),
    floatPrecision: tf.backend().floatPrecision(),
    values,
  };
};
