/**
 * pbq convert: round trips (stock tfjs, compact model under pbq), sizes, quality of MSE ranges,
 * bias correction and multipoint against baselines, CLI behaviour and input errors.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../src/index';
import { registerFileRouters } from '../src/io/file_io';
import { convert, ConversionReport } from '../src/converter/convert';
import {
  mlp, rnnLm, saveModel, tmpDir, writeCalibration, randomRows, randomIds, runCli, predict, RnnKind,
} from './converter_helpers';

registerFileRouters();

const work = tmpDir();
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

async function onBackend<T>(name: string, f: () => Promise<T>): Promise<T> {
  await tf.setBackend(name);
  return f();
}

function hashDir(dir: string): string {
  const h = crypto.createHash('sha256');
  for (const f of fs.readdirSync(dir).sort()) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex');
}

let mlpDir: string;
let mlpX: tf.Tensor;
const lmDirs: Partial<Record<RnnKind, string>> = {};
let lmX: tf.Tensor;

beforeAll(async () => {
  await tf.setBackend('cpu');
  mlpDir = await saveModel(mlp(), path.join(work, 'mlp'));
  writeCalibration(mlpDir, randomRows(64, 48, 11));
  mlpX = tf.tensor2d(randomRows(32, 48, 99));
  for (const kind of ['lstm', 'gru', 'simpleRNN'] as RnnKind[]) {
    lmDirs[kind] = await saveModel(rnnLm(kind, 20, 2, kind === 'lstm'), path.join(work, kind));
    writeCalibration(lmDirs[kind] as string, randomIds(24, 16, 20, 12));
  }
  lmX = tf.tensor2d(randomIds(6, 16, 20, 98));
});

/** Original model under pbq run-time quantization. */
async function runtimePbq(dir: string, x: tf.Tensor, weightBits: number, activationBits = 8): Promise<Float32Array> {
  return onBackend('pbq', async () => {
    pbq.configure({ weightBits, activationBits });
    const model = await tfl.loadLayersModel(`file://${dir}/model.json`);
    const y = await predict(model, x);
    model.dispose();
    return y;
  });
}

async function compactPbq(dir: string, x: tf.Tensor, weightBits: number, activationBits = 8): Promise<Float32Array> {
  return onBackend('pbq', async () => {
    pbq.configure({ weightBits, activationBits });
    const before = tf.memory().numTensors;
    const model = await pbq.loadLayersModel(dir);
    const y = await predict(model, x);
    model.dispose();
    // Everything the loader made (GRU's split recurrent kernels included) goes with the model.
    expect(tf.memory().numTensors).toBe(before);
    return y;
  });
}

async function stockCpu(dir: string, x: tf.Tensor): Promise<Float32Array> {
  return onBackend('cpu', async () => {
    const model = await tfl.loadLayersModel(`file://${dir}/model.json`);
    const y = await predict(model, x);
    model.dispose();
    return y;
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function argmaxes(v: Float32Array, classes: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < v.length / classes; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (v[r * classes + c] > v[r * classes + best]) best = c;
    out.push(best);
  }
  return out;
}

describe('round trip', () => {
  const cases: Array<[string, () => string, () => tf.Tensor, number]> = [
    ['MLP', () => mlpDir, () => mlpX, 10],
    ['LSTM + SimpleRNN LM', () => lmDirs.lstm as string, () => lmX, 20],
    ['SimpleRNN LM', () => lmDirs.simpleRNN as string, () => lmX, 20],
  ];
  for (const [name, dir, x, classes] of cases) {
    for (const bits of [3, 4]) {
      it(`${name} W${bits} minmax: compact model under pbq is bit-identical to run-time quantization; stock tfjs agrees`, async () => {
        const out = path.join(work, `rt-${name.replace(/\W/g, '')}-${bits}`);
        const before = hashDir(dir());
        const report = await convert({ input: dir(), output: out, weightBits: bits, range: 'minmax' });
        expect(hashDir(dir())).toBe(before); // input untouched
        expect(report.tensors.length).toBeGreaterThan(0);

        const runtime = await runtimePbq(dir(), x(), bits);
        fs.rmSync(path.join(out, 'weights.bin')); // the compact file alone
        fs.rmSync(path.join(out, 'model.json'));
        const compact = await compactPbq(out, x(), bits);
        expect(Array.from(compact)).toEqual(Array.from(runtime));

        // Stock tfjs on the dequantized weights = pbq with (near) float activations.
        const out2 = path.join(work, `rt2-${name.replace(/\W/g, '')}-${bits}`);
        await convert({ input: dir(), output: out2, weightBits: bits, range: 'minmax' });
        const stock = await stockCpu(out2, x());
        const fine = await runtimePbq(dir(), x(), bits, 16);
        expect(maxAbsDiff(stock, fine)).toBeLessThan(1e-3);
        const coarse = argmaxes(runtime, classes);
        const agree = argmaxes(stock, classes).filter((c, i) => c === coarse[i]).length / coarse.length;
        expect(agree).toBeGreaterThan(0.9);
      });
    }
  }

  for (const bits of [3, 4]) {
    it(`GRU LM W${bits} minmax: compact model (split recurrent kernel planes) is bit-identical to run-time quantization`, async () => {
      const dir = lmDirs.gru as string;
      const out = path.join(work, `rt-gru-${bits}`);
      await convert({ input: dir, output: out, weightBits: bits, range: 'minmax' });
      const stock = await stockCpu(out, lmX);
      const fine = await runtimePbq(dir, lmX, bits, 16);
      expect(maxAbsDiff(stock, fine)).toBeLessThan(1e-3);
      fs.rmSync(path.join(out, 'weights.bin'));
      const compact = await compactPbq(out, lmX, bits);
      const runtime = await runtimePbq(dir, lmX, bits);
      expect(Array.from(compact)).toEqual(Array.from(runtime));
    });
  }

  it('the compact model is close to bits/32 of the float weights and pbq.loadLayersModel takes a file path', async () => {
    const out = path.join(work, 'size');
    const big = tfl.sequential({ layers: [
      tfl.layers.dense({ inputShape: [256], units: 256, activation: 'relu' }),
      tfl.layers.dense({ units: 256, activation: 'relu' }),
      tfl.layers.dense({ units: 16 }),
    ] });
    const bigDir = await saveModel(big, path.join(work, 'big'));
    big.dispose();
    const report = await convert({ input: bigDir, output: out, weightBits: 4 });
    const floatBytes = report.totals.inputWeightBytes;
    const pbqBytes = fs.statSync(path.join(out, 'model.pbq')).size;
    expect(report.totals.pbqFileBytes).toBe(pbqBytes);
    // 4/32 of the kernels, plus float biases, ranges and the header.
    expect(pbqBytes / floatBytes).toBeGreaterThan(4 / 32);
    expect(pbqBytes / floatBytes).toBeLessThan(4 / 32 + 0.02);
    const loaded = await pbq.loadPbqModel(path.join(out, 'model.pbq'));
    expect(loaded.planeWeights.length).toBe(3);
    expect(loaded.header.settings.weightBits).toBe(4);
    // The model's variables hold the dequantized values (= stock model.json weights).
    const stock = await tfl.loadLayersModel(`file://${out}/model.json`);
    const a = loaded.model.getWeights();
    const b = stock.getWeights();
    for (let i = 0; i < a.length; i++) expect(Array.from(a[i].dataSync())).toEqual(Array.from(b[i].dataSync()));
    loaded.model.dispose();
    stock.dispose();
  });
});

describe('quality (small deterministic models, error against the float model under pbq A8)', () => {
  async function floatOut(dir: string, x: tf.Tensor) {
    return stockCpu(dir, x);
  }
  async function errorOf(dir: string, x: tf.Tensor, opts: Partial<Parameters<typeof convert>[0]>, tag: string): Promise<number> {
    const out = path.join(work, `q-${tag}`);
    const report: ConversionReport = await convert({ input: dir, output: out, weightBits: 4, ...opts });
    const ref = await floatOut(dir, x);
    const got = await compactPbq(out, x, 16);
    expect(report.tensors.every((t) => t.maxBits <= 16)).toBe(true);
    let se = 0;
    for (let i = 0; i < ref.length; i++) se += (ref[i] - got[i]) ** 2;
    return se / ref.length;
  }
  const models: Array<[string, () => string, () => tf.Tensor]> = [
    ['MLP', () => mlpDir, () => mlpX],
    ['LSTM LM', () => lmDirs.lstm as string, () => lmX],
    ['GRU LM', () => lmDirs.gru as string, () => lmX],
  ];
  for (const [name, dir, x] of models) {
    for (const bits of [3, 4]) {
      it(`${name} W${bits}: MSE ranges + bias correction beat per-tensor min-max`, async () => {
        const tag = `${name.replace(/\W/g, '')}${bits}`;
        const base = await errorOf(dir(), x(), { weightBits: bits, range: 'minmax-tensor' }, `${tag}-mmt`);
        const mse = await errorOf(dir(), x(), { weightBits: bits, range: 'mse' }, `${tag}-mse`);
        const best = await errorOf(dir(), x(), { weightBits: bits, range: 'mse', biasCorrection: true }, `${tag}-msebc`);
        expect(mse).toBeLessThan(base);
        expect(best).toBeLessThan(base);
      });
    }
    // GPTQ exploits correlated inputs: the RNNs' hidden states are, the small MLP's i.i.d. random
    // calibration rows are not (its H is near diagonal, where GPTQ is nearest rounding).
    if (name !== 'MLP') it(`${name} W3: GPTQ rounding beats nearest rounding (same ranges search, bias correction)`, async () => {
      const tag = name.replace(/\W/g, '');
      const nearest = await errorOf(dir(), x(), { weightBits: 3, range: 'mse', biasCorrection: true }, `${tag}-nr3`);
      const gptq = await errorOf(dir(), x(), { weightBits: 3, range: 'mse', biasCorrection: true, rounding: 'gptq' }, `${tag}-gptq3`);
      const report = JSON.parse(fs.readFileSync(path.join(work, `q-${tag}-gptq3`, 'pbq-report.json'), 'utf8')) as ConversionReport;
      expect(report.settings.rounding).toBe('gptq');
      expect(report.tensors.every((t) => t.rounding === 'gptq' && (t.gptqDampening?.length ?? 0) > 0)).toBe(true);
      expect(gptq).toBeLessThan(nearest);
    });
    it(`${name}: multipoint at 4.5 average bits beats uniform 4 bits`, async () => {
      const tag = name.replace(/\W/g, '');
      const uniform = await errorOf(dir(), x(), { weightBits: 4, range: 'mse', biasCorrection: true }, `${tag}-u4`);
      const mp = await errorOf(dir(), x(), { weightBits: 4, range: 'mse', biasCorrection: true, multipoint: true, budget: 4.5 }, `${tag}-mp`);
      expect(mp).toBeLessThan(uniform);
      const report = JSON.parse(fs.readFileSync(path.join(work, `q-${tag}-mp`, 'pbq-report.json'), 'utf8')) as ConversionReport;
      for (const t of report.tensors) {
        expect(t.avgBits).toBeLessThanOrEqual(4.5 + 1e-9);
        expect(t.avgBits).toBeGreaterThan(4.4);
        expect(t.maxBits).toBeGreaterThan(4);
      }
    });
  }
});

describe('CLI', () => {
  it('converts, prints a per-layer table or JSON, refuses to overwrite without --force', async () => {
    const out = path.join(work, 'cli-out');
    const r1 = await runCli(['convert', mlpDir, out, '--weight-bits', '4', '--bias-correction', '--layer-bits', 'dense_1=8,dense_3=6']);
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(/dense_1\/kernel\s+Dense\s+48x40\s+8\b/);
    expect(r1.stdout).toMatch(/dense_2\/kernel\s+Dense\s+40x24\s+4\b/);
    expect(r1.stdout).toMatch(/dense_3\/kernel\s+Dense\s+24x10\s+6\b/);
    const r2 = await runCli(['convert', mlpDir, out, '--weight-bits', '4']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/not empty.*--force/);
    const r3 = await runCli(['convert', mlpDir, out, '--weight-bits', '3', '--json', '--force', '--multipoint', '--budget', '3.5']);
    expect(r3.code).toBe(0);
    const report = JSON.parse(r3.stdout) as ConversionReport;
    expect(report.settings.weightBits).toBe(3);
    expect(report.tensors.map((t) => t.layer)).toEqual(['dense_1', 'dense_2', 'dense_3']);
    expect(report.tensors[0].outputRelError).not.toBeNull();
    expect(fs.readdirSync(out).sort()).toEqual(['model.json', 'model.pbq', 'pbq-report.json', 'weights.bin']);
    expect(fs.readdirSync(work).filter((f) => f.includes('pbq-tmp'))).toEqual([]);
    const r4 = await runCli(['convert', mlpDir, out, '--weight-bits', '3', '--rounding', 'gptq', '--gptq-dampening', '0.1', '--gptq-order', 'natural', '--force']);
    expect(r4.code).toBe(0);
    expect(r4.stdout).toMatch(/GPTQ rounding \(dampening 0\.1, natural order\)/);
    expect(r4.stdout).toMatch(/dense_2\/kernel\s+Dense\s+40x24\s+3\b.*gptq λ=0\.1/);
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'pbq-report.json'), 'utf8')) as ConversionReport;
    expect(saved.settings.gptq).toEqual({ dampening: 0.1, order: 'natural' });
  });

  function corruptCopy(name: string, edit: (dir: string) => void): string {
    const dir = path.join(work, `bad-${name}`);
    fs.cpSync(mlpDir, dir, { recursive: true });
    edit(dir);
    return dir;
  }
  const editJson = (f: (j: Record<string, any>) => void) => (dir: string) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const p = path.join(dir, 'model.json');
    const j = JSON.parse(fs.readFileSync(p, 'utf8'));
    f(j);
    fs.writeFileSync(p, JSON.stringify(j));
  };
  const bad: Array<[string, (dir: string) => void, string[], RegExp]> = [
    ['missing model.json', (d) => fs.rmSync(path.join(d, 'model.json')), [], /model\.json not found/],
    ['missing shard', (d) => fs.rmSync(path.join(d, 'weights.bin')), [], /weight shard not found: \.\/weights\.bin/],
    ['short shard', (d) => fs.truncateSync(path.join(d, 'weights.bin'), 100), [], /shard size mismatch.*100 bytes/],
    ['long shard', (d) => fs.appendFileSync(path.join(d, 'weights.bin'), Buffer.alloc(8)), [], /shard size mismatch/],
    ['corrupt JSON', (d) => fs.writeFileSync(path.join(d, 'model.json'), '{"modelTopology": {'), [], /corrupt JSON/],
    ['unknown layer class', editJson((j) => { j.modelTopology.config.layers[1].class_name = 'FancyDense'; }), [], /cannot build the model.*FancyDense/],
    ['unknown dtype', editJson((j) => { j.weightsManifest[0].weights[0].dtype = 'float64'; }), [], /unsupported dtype "float64"/],
    ['bits out of range', () => undefined, ['--weight-bits', '17'], /--weight-bits must be an integer in 1\.\.16/],
    ['bits zero', () => undefined, ['--weight-bits', '0'], /--weight-bits must be an integer in 1\.\.16/],
    ['calibration shape', (d) => writeCalibration(d, randomRows(4, 47, 1)), ['--bias-correction'], /calibration shape \[4, 47\] does not match the model input \[null, 48\]/],
    ['unknown layer in --layer-bits', () => undefined, ['--layer-bits', 'nope=8'], /no quantized layer named 'nope'/],
    ['graph model without a GraphDef', (d) => fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: {} } })), [], /modelTopology\.node is not an array/],
    ['budget below bits', () => undefined, ['--multipoint', '--budget', '3.5'], /--budget must be a number in 4\.\.16/],
    ['gptq without calibration', (d) => fs.rmSync(path.join(d, 'calibration.json')), ['--rounding', 'gptq'], /--rounding gptq needs calibration inputs/],
    ['gptq options without gptq', () => undefined, ['--gptq-order', 'natural'], /--gptq-dampening and --gptq-order need --rounding gptq/],
    ['unknown rounding', () => undefined, ['--rounding', 'stochastic'], /option '--rounding <mode>' argument 'stochastic' is invalid. Allowed choices are nearest, gptq/],
    ['bad dampening', () => undefined, ['--rounding', 'gptq', '--gptq-dampening', 'lots'], /--gptq-dampening needs 'auto' or a number, got 'lots'/],
  ];
  for (const [name, edit, extra, message] of bad) {
    it(`bad input: ${name} -> exit 2 with one line, nothing written`, async () => {
      const dir = corruptCopy(name.replace(/\W/g, '_'), edit);
      const out = path.join(work, `bad-out-${name.replace(/\W/g, '_')}`);
      const args = ['convert', dir, out, ...(extra.includes('--weight-bits') ? [] : ['--weight-bits', '4']), ...extra];
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^pbq convert: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(fs.existsSync(out)).toBe(false);
    });
  }

  it('usage errors exit 2', async () => {
    expect((await runCli(['convert', mlpDir])).code).toBe(2);
    expect((await runCli(['convert', mlpDir, path.join(work, 'x'), '--weight-bits', 'four'])).code).toBe(2);
    expect((await runCli(['convert', mlpDir, path.join(work, 'x'), '--weight-bits', '4', '--range', 'p99'])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    expect((await runCli(['convert', mlpDir, mlpDir, '--weight-bits', '4', '--force'])).stderr).toMatch(/would replace the input/);
  });
});
