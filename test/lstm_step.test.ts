/** The fused LSTM step kernel (pbq-cpu and pbq-wasm) against the composed path, through stock tf.layers.lstm. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../src/index';
import { FUSED_LSTM_FLAG } from '../src/layers';
import { lstmModel, TOKENS } from './lstm_fixture';


const tokens = tf.tensor2d(TOKENS);

async function run(model: tfl.LayersModel, fused: boolean) {
  tf.env().set(FUSED_LSTM_FLAG, fused);
  let out: Float32Array = new Float32Array(0);
  const profile = await tf.profile(() => {
    const y = model.predict(tokens) as tf.Tensor;
    out = y.dataSync() as Float32Array;
    y.dispose();
  });
  return { out, kernels: new Set(profile.kernelNames) };
}

describe.each(['pbq-cpu', 'pbq-wasm'])('PbqLSTMStep on %s', (backendName) => {
  afterAll(() => tf.env().set(FUSED_LSTM_FLAG, true));

  it('stock tf.layers.lstm runs the fused kernel under pbq and equals the composed path to float32 rounding', async () => {
    await tf.setBackend(backendName);
    for (const [act, bits] of [['hardSigmoid', 4], ['sigmoid', 8], ['hardSigmoid', 2]] as const) {
      pbq.configure({ weightBits: bits, activationBits: 8 });
      const model = lstmModel(act, bits * 10);
      const fused = await run(model, true);
      const composed = await run(model, false);
      expect(fused.kernels.has('PbqLSTMStep')).toBe(true);
      expect(composed.kernels.has('PbqLSTMStep')).toBe(false);
      expect(composed.kernels.has('BatchMatMul') || composed.kernels.has('_FusedMatMul')).toBe(true);
      let worst = 0;
      for (let i = 0; i < fused.out.length; i++) worst = Math.max(worst, Math.abs(fused.out[i] - composed.out[i]));
      expect(worst).toBeLessThan(2e-6); // softmax outputs of magnitude ≤ 1: float32 rounding
      model.dispose();
    }
  });

  // tfjs-backend-wasm 4.22 has no UnsortedSegmentSum kernel, the Embedding layer's gradient
  const itTrains = backendName === 'pbq-wasm' ? it.skip : it;
  itTrains('gradients through a stock LSTM outside model.fit (tf.grad, tf.variableGrads, optimizer.minimize) run the composed path', async () => {
    await tf.setBackend(backendName);
    pbq.configure({ weightBits: 6, activationBits: 8 });
    const model = lstmModel('hardSigmoid', 77);
    const loss = () => tf.tidy(() => tf.sum(tf.square(model.apply(tokens) as tf.Tensor)) as tf.Scalar);
    const gradsWith = (fused: boolean) => {
      tf.env().set(FUSED_LSTM_FLAG, fused);
      const { value, grads } = tf.variableGrads(loss);
      const out = { value: value.dataSync()[0], grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Array.from(g.dataSync())])) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const fusedRoute = gradsWith(true);
    const composed = gradsWith(false);
    expect(Object.keys(fusedRoute.grads).length).toBe(model.trainableWeights.length);
    expect(fusedRoute).toEqual(composed); // same ops in the same order: identical
    expect(Object.values(composed.grads).some((g) => g.some((v) => v !== 0))).toBe(true);
    // tf.grad of an input-independent function of the layer output, and an optimizer step
    tf.env().set(FUSED_LSTM_FLAG, true);
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(model.apply(tokens) as tf.Tensor, x)))(tf.onesLike(model.predict(tokens) as tf.Tensor));
    expect(g.shape).toEqual([3, 7, 30]);
    const optimizer = tf.train.sgd(0.01);
    const before = model.trainableWeights[1].read().dataSync().slice();
    optimizer.minimize(loss);
    expect(model.trainableWeights[1].read().dataSync()).not.toEqual(before);
    tf.dispose([g]);
    optimizer.dispose();
    model.dispose();
  });

  it('other backends are untouched', async () => {
    await tf.setBackend('cpu');
    const model = lstmModel('hardSigmoid', 3);
    const { kernels } = await run(model, true);
    expect(kernels.has('PbqLSTMStep')).toBe(false);
    model.dispose();
  });

  it('does not leak tensors', async () => {
    await tf.setBackend(backendName);
    const model = lstmModel('hardSigmoid', 5);
    await run(model, true);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) await run(model, true);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('PbqLSTMStep across bases', () => {
  it('pbq-wasm gives the outputs of pbq-cpu (same integers, same cell update; softmax rounding apart)', async () => {
    pbq.configure({ weightBits: 4, activationBits: 8 });
    const model = lstmModel('hardSigmoid', 40);
    await tf.setBackend('pbq-cpu');
    const cpu = await run(model, true);
    await tf.setBackend('pbq-wasm');
    const wasm = await run(model, true);
    expect(wasm.kernels.has('PbqLSTMStep')).toBe(true);
    let worst = 0;
    for (let i = 0; i < cpu.out.length; i++) worst = Math.max(worst, Math.abs(cpu.out[i] - wasm.out[i]));
    expect(worst).toBeLessThan(2e-6);
    model.dispose();
  });
});
