/**
 * Character-level RNN language model training on the Brown corpus (see models/data/text.ts).
 *
 * tfjs-layers' own RNN backward pass is extremely slow in Node (~30x the forward time per
 * step on wasm), so training uses a hand-written functional graph with exactly the Keras
 * weight layout and equations (LSTM: gates i,f,c,o, recurrentActivation hardSigmoid
 * = clip(0.2x+0.5,0,1), activation tanh; GRU: gates z,r,h, resetAfter=false,
 * h = z*h' + (1-z)*hh). The trained weights are then set into a stock tfjs-layers
 * Embedding -> LSTM/GRU -> Dense(softmax) model, whose loss is checked against the
 * functional graph before saving. Everything is seeded (mulberry32 batches, seeded
 * initializers), single-threaded wasm, so a re-run reproduces the weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as path from 'path';
import * as fs from 'fs';
import {setupBackend, registerWasmUnsortedSegmentSum, writeJson, now, mm} from './train_common';
import {loadBrownChars, unigramPerplexity, CHAR_MIN_COUNT} from './data/text';
import {mulberry32} from './data/mnist';
import {registerFileRouters} from '../src/io/file_io';
import {evaluateLm, LmEvalSet, makeLmEvalSet, useFastCpuSliceKernels} from './eval';

export interface RnnLmConfig {
  name: string;            // output dir under models/
  cell: 'lstm' | 'gru';
  units: number;
  embedDim: number;
  seqLen: number;
  batch: number;
  steps: number;
  lr: number;
  seed: number;
}

type Vars = Record<string, tf.Variable>;


function hardSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1);
}

/**
 * Functional forward pass: ids (batch-major [B*T]) -> per-time-step logits T x [B, V].
 * Everything is done per time step (gather, input projection, output projection) because
 * the wasm backend's Unpack/Pack of big [T,B,*] tensors is slow.
 */
function forward(v: Vars, cfg: RnnLmConfig, ids: Int32Array, B: number, T: number): tf.Tensor2D[] {
  const u = cfg.units;
  let h: tf.Tensor = tf.zeros([B, u]);
  let c: tf.Tensor = tf.zeros([B, u]);
  const out: tf.Tensor2D[] = [];
  const col = new Int32Array(B);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) col[b] = ids[b * T + t];
    const x = tf.add(mm(tf.gather(v.embedding, tf.tensor1d(col, 'int32')), v.kernel), v.bias);
    if (cfg.cell === 'lstm') {
      const z = tf.add(x, mm(h, v.recurrent));
      const [zi, zf, zc, zo] = tf.split(z, 4, 1);
      const i = hardSigmoid(zi), f = hardSigmoid(zf), o = hardSigmoid(zo);
      c = tf.add(tf.mul(f, c), tf.mul(i, tf.tanh(zc)));
      h = tf.mul(o, tf.tanh(c));
    } else {
      const [xz, xr, xh] = tf.split(x, 3, 1);
      const [rk1, rk2] = tf.split(v.recurrent, [2 * u, u], 1);
      const [rz, rr] = tf.split(mm(h, rk1), 2, 1);
      const z = hardSigmoid(tf.add(xz, rz));
      const r = hardSigmoid(tf.add(xr, rr));
      const hh = tf.tanh(tf.add(xh, mm(tf.mul(r, h), rk2)));
      h = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), hh));
    }
    out.push(tf.add(mm(h, v.outKernel), v.outBias) as tf.Tensor2D);
  }
  return out;
}

function buildKerasModel(cfg: RnnLmConfig, vocab: number): tfl.Sequential {
  const m = tfl.sequential({name: cfg.name.replace(/[^a-z0-9_]/gi, '_')});
  m.add(tfl.layers.embedding({inputDim: vocab, outputDim: cfg.embedDim, inputShape: [null as unknown as number],
    embeddingsInitializer: tfl.initializers.randomUniform({minval: -0.05, maxval: 0.05, seed: cfg.seed})}));
  const common = {units: cfg.units, returnSequences: true,
    kernelInitializer: tfl.initializers.glorotUniform({seed: cfg.seed + 1}),
    recurrentInitializer: tfl.initializers.glorotUniform({seed: cfg.seed + 2})};
  m.add(cfg.cell === 'lstm' ? tfl.layers.lstm(common) : tfl.layers.gru(common));
  m.add(tfl.layers.dense({units: vocab, activation: 'softmax',
    kernelInitializer: tfl.initializers.glorotUniform({seed: cfg.seed + 3})}));
  return m;
}

function sampleBatch(data: Int32Array, cfg: RnnLmConfig, rand: () => number): {x: Int32Array, y: Int32Array} {
  const {batch: B, seqLen: T} = cfg;
  const x = new Int32Array(B * T), y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const s = Math.floor(rand() * (data.length - T - 1));
    x.set(data.subarray(s, s + T), b * T);
    y.set(data.subarray(s + 1, s + T + 1), b * T);
  }
  return {x, y};
}

export async function trainRnnLm(cfg: RnnLmConfig): Promise<void> {
  const t0 = now();
  const backend = await setupBackend();
  registerWasmUnsortedSegmentSum();
  registerFileRouters();
  const steps = Number(process.env.STEPS || cfg.steps);
  if (process.env.EVAL_ONLY) {
    const dir = path.join(__dirname, cfg.name);
    const old = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8'));
    const model = await tfl.loadLayersModel(`file://${dir}/model.json`);
    await writeLmArtifacts(model, cfg, loadBrownChars(), old.steps, old.trainBackend, old.trainSeconds, old);
    return;
  }
  console.log(`[${cfg.name}] backend=${backend} steps=${steps}`, cfg);
  const data = loadBrownChars();
  const V = data.vocab.length;
  const outDir = path.join(__dirname, cfg.name);
  fs.mkdirSync(outDir, {recursive: true});

  // Keras model first: its seeded initial weights are the starting point of training.
  const model = buildKerasModel(cfg, V);
  model.build([null as unknown as number, cfg.seqLen]);
  const w = model.getWeights();
  const names = ['embedding', 'kernel', 'recurrent', 'bias', 'outKernel', 'outBias'];
  const v: Vars = {};
  names.forEach((n, i) => { v[n] = tf.variable(w[i].clone(), true, `${cfg.name}_${n}`); });
  if (cfg.cell === 'lstm') {  // unit forget bias (Keras default): forget-gate bias = 1
    const b = v.bias.arraySync() as number[];
    for (let k = cfg.units; k < 2 * cfg.units; k++) b[k] = 1;
    v.bias.assign(tf.tensor1d(b));
  }

  const opt = tf.train.adam(cfg.lr);
  const rand = mulberry32(cfg.seed);
  const valRand = mulberry32(cfg.seed + 999);
  const valBatches = Array.from({length: 4}, () => sampleBatch(data.validation, cfg, valRand));
  const lossOf = (x: Int32Array, y: Int32Array) => {
    const {batch: B, seqLen: T} = cfg;
    const logits = forward(v, cfg, x, B, T);
    const col = new Int32Array(B);
    let total: tf.Tensor = tf.scalar(0);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) col[b] = y[b * T + t];
      total = tf.add(total, tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(col, 'int32'), V), logits[t]));
    }
    return tf.div(total, T) as tf.Scalar;
  };
  const valLoss = () => valBatches.reduce((s, b) => s + tf.tidy(() => lossOf(b.x, b.y).dataSync()[0]), 0) / valBatches.length;
  const clip = 5;
  let ema = 0;
  for (let step = 1; step <= steps; step++) {
    const {x, y} = sampleBatch(data.train, cfg, rand);
    const lr = step > 0.75 * steps ? cfg.lr * 0.3 : cfg.lr;
    (opt as unknown as {learningRate: number}).learningRate = lr;
    const loss = tf.tidy(() => {
      const {value, grads} = tf.variableGrads(() => lossOf(x, y));
      const norm = Math.sqrt(Object.values(grads).reduce((s, g) => s + tf.sum(tf.square(g)).dataSync()[0], 0));
      const scale = norm > clip ? clip / norm : 1;
      const clipped: Record<string, tf.Tensor> = {};
      for (const k of Object.keys(grads)) clipped[k] = tf.mul(grads[k], scale);
      opt.applyGradients(clipped as tf.NamedTensorMap as never);
      return value.dataSync()[0];
    });
    ema = step === 1 ? loss : 0.98 * ema + 0.02 * loss;
    if (step % 50 === 0 || step === 1) {
      const msg = `[${cfg.name}] step ${step}/${steps} loss ${loss.toFixed(4)} ema ${ema.toFixed(4)} ` +
        `(${(now() - t0).toFixed(0)} s, ${tf.memory().numTensors} tensors)`;
      console.log(step % 250 === 0 ? `${msg} val ${valLoss().toFixed(4)}` : msg);
    }
  }
  const trainSeconds = now() - t0;

  // Move the weights into the stock Keras model and check it computes the same loss.
  const finalW = names.map((n) => v[n].clone());
  model.setWeights(finalW);
  const vb = valBatches[0];
  const fLoss = tf.tidy(() => lossOf(vb.x, vb.y).dataSync()[0]);
  const kLoss = tf.tidy(() => {
    const p = model.predict(tf.tensor2d(vb.x, [cfg.batch, cfg.seqLen], 'int32').toFloat()) as tf.Tensor;
    const pr = tf.reshape(p, [-1, V]);
    return -tf.mean(tf.log(tf.sum(tf.mul(pr, tf.oneHot(tf.tensor1d(vb.y, 'int32'), V)), 1))).dataSync()[0];
  });
  console.log(`[${cfg.name}] functional loss ${fLoss.toFixed(5)} vs keras model ${kLoss.toFixed(5)}`);
  if (Math.abs(fLoss - kLoss) > 1e-3) throw new Error('Keras model does not match the trained graph');

  await model.save(`file://${outDir}`);
  await writeLmArtifacts(model, cfg, data, steps, backend, trainSeconds);
}

/** Number of 64-char windows in the committed LM eval set (4,096 predictions). */
export const LM_EVAL_WINDOWS = 64;

/**
 * Writes eval.json, calibration.json and metrics.json for a trained LM. Also callable on its
 * own (EVAL_ONLY=1) to regenerate them from the saved model without re-training.
 */
async function writeLmArtifacts(model: tfl.LayersModel, cfg: RnnLmConfig, data: ReturnType<typeof loadBrownChars>,
  steps: number, backend: string, trainSeconds: number,
  old?: {testPerplexity?: number, testPredictions?: number}): Promise<void> {
  const V = data.vocab.length;
  const outDir = path.join(__dirname, cfg.name);
  // Held-back evaluation set (start of the test split) and calibration set (train split).
  const evalSet: LmEvalSet = makeLmEvalSet(data.test.subarray(0, LM_EVAL_WINDOWS * cfg.seqLen + 1), cfg.seqLen);
  writeJson(path.join(outDir, 'eval.json'), {
    description: `Held-back Brown corpus test-split characters (first ${LM_EVAL_WINDOWS}*seqLen+1). ` +
      'Perplexity = exp(mean NLL) over windows ids[k*seqLen .. k*seqLen+seqLen], each from zero state.',
    vocab: data.vocab, seqLen: evalSet.seqLen, ids: Array.from(evalSet.ids)});
  const calRand = mulberry32(cfg.seed + 4242);
  const cal: number[][] = [];
  for (let i = 0; i < 256; i++) {
    const s = Math.floor(calRand() * (data.train.length - cfg.seqLen));
    cal.push(Array.from(data.train.subarray(s, s + cfg.seqLen)));
  }
  writeJson(path.join(outDir, 'calibration.json'), {
    description: `256 train-split windows of ${cfg.seqLen} character ids (model input, int ids as float), ` +
      'sampled with mulberry32(seed+4242); inputShape [1, seqLen] each.',
    inputShape: [null, cfg.seqLen], dtype: 'int32', vocab: data.vocab, inputs: cal});

  const unigramEval = unigramPerplexity(data.train, evalSet.ids.subarray(1, 1 + Math.floor((evalSet.ids.length - 1) / cfg.seqLen) * cfg.seqLen), V);
  // full test split, for the README
  // (EVAL_ONLY re-uses the full-test number of the unchanged model; FULL_TEST=0 skips it.)
  const fullTest = makeLmEvalSet(data.test.subarray(0, Math.floor((data.test.length - 1) / cfg.seqLen) * cfg.seqLen + 1), cfg.seqLen);
  const testPpl = old?.testPerplexity ?? (process.env.FULL_TEST === '0' ? null : await evaluateLm(model, fullTest, 256));
  const unigramTest = unigramPerplexity(data.train, data.test.subarray(1), V);
  // The committed eval-set metric is measured on the cpu backend (what test/models.test.ts uses).
  await tf.setBackend('cpu');
  useFastCpuSliceKernels();
  const evalPpl = await evaluateLm(model, evalSet);
  const params = model.countParams();
  const sizeBytes = fs.readdirSync(outDir).filter((f) => f.endsWith('.bin'))
    .reduce((s, f) => s + fs.statSync(path.join(outDir, f)).size, 0);
  const metrics = {
    model: cfg.name, task: 'character-level language model, Brown corpus (lower-cased)', config: cfg,
    vocabSize: V, charMinCount: CHAR_MIN_COUNT, trainChars: data.train.length, steps,
    evalSetPerplexity: evalPpl, evalSetUnigramPerplexity: unigramEval, evalSetPredictions: fullTestCount(evalSet),
    testPerplexity: testPpl, testUnigramPerplexity: unigramTest, testPredictions: fullTestCount(fullTest),
    params, weightBytes: sizeBytes, trainBackend: backend, trainSeconds: Math.round(trainSeconds),
    evalBackend: tf.getBackend(),
  };
  writeJson(path.join(outDir, 'metrics.json'), metrics);
  console.log(metrics);
}

function fullTestCount(s: LmEvalSet): number {
  return Math.floor((s.ids.length - 1) / s.seqLen) * s.seqLen;
}
