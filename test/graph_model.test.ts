/**
 * GraphModels: the fixtures (test/graph_fixtures.ts) are valid graph-model files that stock
 * tf.loadGraphModel runs with the LayersModel's results; pbq quantizes their constant matmul
 * weights at run time (once per constant, the constant is the B operand) with the LayersModel's
 * results; `pbq convert` converts them (model.pbq bit-identical to run-time quantization with
 * --range minmax, the same planes as converting the LayersModel with the same options, a stock
 * model.json any backend loads); errors name the node.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfconv from '@tensorflow/tfjs-converter';
import * as pbq from '../src/index';
import { registerFileRouters } from '../src/io/file_io';
import { convert, ConvertOptions } from '../src/converter/convert';
import { decodePbq } from '../src/converter/pbq_format';
import { MODELS_DIR, loadMnistEvalSet, loadLmEvalSet } from '../models/eval';
import { GraphBuilder, attr, graphFromLayersModel } from './graph_fixtures';
import { mlp, rnnLm, saveModel, tmpDir, writeCalibration, randomRows, randomIds, runCli } from './converter_helpers';

registerFileRouters();
tf.env().set('PROD', true);

const work = tmpDir('pbq-graph-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
afterEach(() => pbq.resetConfig());

async function outputs(model: { predict: (x: tf.Tensor) => unknown }, x: tf.Tensor): Promise<Float32Array> {
  const y = model.predict(x) as tf.Tensor;
  const v = (await y.data()) as Float32Array;
  y.dispose();
  return v;
}

function mnistBatch(n: number): tf.Tensor {
  const s = loadMnistEvalSet();
  return tf.tidy(() => tf.div(tf.tensor2d(s.images.subarray(0, n * 784), [n, 784], 'int32'), 255));
}

function lmBatch(windows: number): tf.Tensor {
  const s = loadLmEvalSet(path.join(MODELS_DIR, 'lstm-lm'));
  return tf.tensor2d(s.ids.subarray(0, windows * 64), [windows, 64], 'float32');
}

const bundled: Array<{ name: string; model: string; fuse: boolean; x: () => tf.Tensor }> = [
  { name: 'MNIST MLP (MatMul, BiasAdd, Relu, Softmax)', model: 'mnist-mlp', fuse: false, x: () => mnistBatch(32) },
  { name: 'MNIST MLP (_FusedMatMul)', model: 'mnist-mlp', fuse: true, x: () => mnistBatch(32) },
  { name: 'LSTM LM (unrolled over 64 steps)', model: 'lstm-lm', fuse: false, x: () => lmBatch(3) },
];

describe('GraphModel fixtures and pbq at run time', () => {
  for (const c of bundled) {
    const dir = path.join(work, `${c.model}-${c.fuse ? 'fused' : 'plain'}`);
    beforeAll(() => graphFromLayersModel(path.join(MODELS_DIR, c.model), dir, { fuse: c.fuse, steps: 64 }));

    it(`${c.name}: stock tf.loadGraphModel on cpu gives the LayersModel's outputs`, async () => {
      await tf.setBackend('cpu');
      const graph = await tfconv.loadGraphModel(`file://${dir}/model.json`);
      const layers = await tfl.loadLayersModel(`file://${MODELS_DIR}/${c.model}/model.json`);
      const x = c.x();
      expect(Array.from(await outputs(graph, x))).toEqual(Array.from(await outputs(layers, x)));
      x.dispose();
      graph.dispose();
      layers.dispose();
    });

    it(`${c.name}: under pbq W4A8 it matches the LayersModel under pbq; each constant weight is quantized once, as the B operand`, async () => {
      await tf.setBackend('pbq');
      pbq.configure({ weightBits: 4, activationBits: 8 });
      const graph = await tfconv.loadGraphModel(`file://${dir}/model.json`);
      const layers = await tfl.loadLayersModel(`file://${MODELS_DIR}/${c.model}/model.json`);
      const x = c.x();
      const backend = tf.backend() as pbq.PbqBackendCPU;
      const cache = backend.weightCache;
      const get = jest.spyOn(cache, 'get'); // calls through, records the B operands looked up
      const before = cache.size;
      const first = await outputs(graph, x);
      const afterFirst = cache.size;
      const second = await outputs(graph, x);
      const bOperands = new Set(get.mock.calls.map((call) => call[0]));
      get.mockRestore();
      const constants = new Set(Object.values(graph.weights).map((t) => t[0].dataId));
      const matmulWeights = 3; // the MLP's 3 Dense kernels; the LM's LSTM W and U and its Dense kernel
      expect(afterFirst - before).toBe(matmulWeights);
      expect(cache.size).toBe(afterFirst); // the second run re-quantized nothing
      expect(bOperands.size).toBe(matmulWeights);
      for (const id of bOperands) expect(constants.has(id as object)).toBe(true);
      expect(Array.from(second)).toEqual(Array.from(first));
      // The LayersModel under pbq: fused LSTM kernel and composed path both.
      expect(Array.from(first)).toEqual(Array.from(await outputs(layers, x)));
      tf.env().set('PBQ_FUSED_LSTM', false);
      expect(Array.from(first)).toEqual(Array.from(await outputs(layers, x)));
      tf.env().set('PBQ_FUSED_LSTM', true);
      x.dispose();
      graph.dispose();
      layers.dispose();
    });
  }
});

describe('finding tfjs-converter', () => {
  it('pbq.loadGraphModel uses a handed-over module; anything else is refused by name', async () => {
    expect(() => pbq.useTfjsConverter({} as typeof tfconv)).toThrow(/useTfjsConverter\(module\) takes the @tensorflow\/tfjs-converter module/);
    const g = new GraphBuilder();
    const w = g.constant('w', Float32Array.from({ length: 8 * 3 }, (_, i) => Math.cos(i)), [8, 3]);
    g.op('out', 'MatMul', [g.placeholder('x', [-1, 8]), w], { transpose_a: attr.bool(false), transpose_b: attr.bool(false) });
    const dir = g.write(path.join(work, 'handed-over'));
    const out = path.join(work, 'handed-over-out');
    await convert({ input: dir, output: out, weightBits: 4, range: 'minmax' });
    const calls: string[] = [];
    pbq.useTfjsConverter({ ...tfconv, loadGraphModel: (...args: Parameters<typeof tfconv.loadGraphModel>) => { calls.push('loadGraphModel'); return tfconv.loadGraphModel(...args); } });
    try {
      const model = await pbq.loadGraphModel(out);
      expect(calls).toEqual(['loadGraphModel']);
      model.dispose();
    } finally {
      pbq.useTfjsConverter(tfconv);
    }
  });
});

describe('pbq convert on GraphModels', () => {
  let mlpLayers: string;
  let mlpGraph: string;
  let lmGraph: string;
  let mlpX: tf.Tensor;
  let lmX: tf.Tensor;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    mlpLayers = await saveModel(mlp(), path.join(work, 'small-mlp'));
    writeCalibration(mlpLayers, randomRows(64, 48, 11));
    mlpGraph = path.join(work, 'small-mlp-graph');
    graphFromLayersModel(mlpLayers, mlpGraph, { fuse: true });
    fs.copyFileSync(path.join(mlpLayers, 'calibration.json'), path.join(mlpGraph, 'calibration.json'));
    const lm = await saveModel(rnnLm('lstm', 20, 2, false), path.join(work, 'small-lm'));
    lmGraph = path.join(work, 'small-lm-graph');
    graphFromLayersModel(lm, lmGraph, { steps: 16 });
    writeCalibration(lmGraph, randomIds(24, 16, 20, 12));
    mlpX = tf.tensor2d(randomRows(16, 48, 99));
    lmX = tf.tensor2d(randomIds(4, 16, 20, 98));
  });

  async function runtime(dir: string, x: tf.Tensor, weightBits: number, activationBits = 8): Promise<Float32Array> {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits, activationBits });
    const g = await tfconv.loadGraphModel(`file://${dir}/model.json`);
    const y = await outputs(g, x);
    g.dispose();
    return y;
  }

  async function compact(dir: string, x: tf.Tensor, weightBits: number): Promise<Float32Array> {
    await tf.setBackend('pbq');
    pbq.configure({ weightBits, activationBits: 8 });
    const before = tf.memory().numTensors;
    const loaded = await pbq.loadPbqGraphModel(dir);
    const y = await outputs(loaded.model, x);
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    return y;
  }

  for (const [name, dir, x] of [['MLP (_FusedMatMul)', () => mlpGraph, () => mlpX], ['LSTM LM', () => lmGraph, () => lmX]] as const) {
    for (const bits of [3, 4]) {
      it(`${name} W${bits} --range minmax: model.pbq under pbq is bit-identical to run-time quantization; the stock model.json runs anywhere`, async () => {
        const out = path.join(work, `g-${name.replace(/\W/g, '')}-${bits}`);
        const report = await convert({ input: dir(), output: out, weightBits: bits, range: 'minmax' });
        expect(report.tensors.length).toBe(3);
        const rt = await runtime(dir(), x(), bits);
        // Stock tfjs (cpu) on the dequantized constants = pbq with (near) float activations.
        await tf.setBackend('cpu');
        const stockModel = await tfconv.loadGraphModel(`file://${out}/model.json`);
        const stock = await outputs(stockModel, x());
        stockModel.dispose();
        const fine = await runtime(dir(), x(), bits, 16);
        expect(stock.reduce((m, v, i) => Math.max(m, Math.abs(v - fine[i])), 0)).toBeLessThan(1e-3);
        fs.rmSync(path.join(out, 'model.json'));
        fs.rmSync(path.join(out, 'weights.bin'));
        expect(Array.from(await compact(out, x(), bits))).toEqual(Array.from(rt));
      });
    }
  }

  it('MLP: the same options give the LayersModel conversion\'s planes, ranges and corrected biases (same calibration statistics)', async () => {
    const options: Partial<ConvertOptions> = { weightBits: 3, biasCorrection: true, rounding: 'gptq', multipoint: true, budget: 3.5 };
    const fromLayers = await convert({ input: mlpLayers, output: path.join(work, 'same-l'), weightBits: 3, ...options });
    const fromGraph = await convert({ input: mlpGraph, output: path.join(work, 'same-g'), weightBits: 3, ...options });
    expect(fromGraph.tensors.map((t) => [t.weight, t.shape, t.biasCorrected, t.rounding]))
      .toEqual(fromLayers.tensors.map((t) => [t.weight, t.shape, true, 'gptq']));
    expect(fromGraph.correctedBiases.sort()).toEqual(fromLayers.correctedBiases.sort());
    const l = decodePbq(fs.readFileSync(path.join(work, 'same-l', 'model.pbq')));
    const g = decodePbq(fs.readFileSync(path.join(work, 'same-g', 'model.pbq')));
    expect(g.header.format).toBe('pbq-graph-model');
    for (const [name, p] of l.planes) {
      const q = g.planes.get(name);
      expect(q).toBeDefined();
      expect(Array.from(q!.weight.planes)).toEqual(Array.from(p.weight.planes));
      expect(Array.from(q!.weight.ranges)).toEqual(Array.from(p.weight.ranges));
      expect(Array.from(q!.weight.channelBits ?? [])).toEqual(Array.from(p.weight.channelBits ?? []));
    }
    for (const b of fromLayers.correctedBiases) expect(Array.from(g.floats.get(b) ?? [])).toEqual(Array.from(l.floats.get(b) ?? []));
  });

  it('LSTM LM: both kernels reach the bias through AddV2 → BiasAdd and are corrected; GPTQ + bias correction beat min-max at W3', async () => {
    const out = path.join(work, 'lm-gptq');
    const report = await convert({ input: lmGraph, output: out, weightBits: 3, biasCorrection: true, rounding: 'gptq' });
    expect(report.tensors.map((t) => [t.weight, t.biasCorrected])).toEqual([
      ['rnn/kernel', true], ['rnn/recurrent_kernel', true], ['out/kernel', true],
    ]);
    expect(report.correctedBiases.sort()).toEqual(['out/bias', 'rnn/bias']);
    const base = await convert({ input: lmGraph, output: path.join(work, 'lm-mmt'), weightBits: 3, range: 'minmax-tensor' });
    await tf.setBackend('cpu');
    const float = await tfconv.loadGraphModel(`file://${lmGraph}/model.json`);
    const ref = await outputs(float, lmX);
    float.dispose();
    const err = async (dir: string) => {
      const y = await compact(dir, lmX, 16);
      return y.reduce((s, v, i) => s + (v - ref[i]) ** 2, 0);
    };
    expect(await err(out)).toBeLessThan(await err(path.join(work, 'lm-mmt')));
    expect(base.tensors.every((t) => t.rounding === 'nearest')).toBe(true);
  });

  it('leaves the global backend alone for other async tasks while it calibrates (issue 13 item 4)', async () => {
    await tf.setBackend('pbq');
    let done = false;
    const conversion = convert({ input: lmGraph, output: path.join(work, 'lm-concurrent'), weightBits: 4, biasCorrection: true })
      .finally(() => { done = true; });
    const seen: string[] = [];
    while (!done) {
      await new Promise((r) => setImmediate(r));
      seen.push(tf.getBackend());
    }
    await conversion;
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.filter((b) => b !== 'pbq')).toEqual([]);
  });

  it('a transposed constant (transpose_b) is quantized per output channel in its own layout', async () => {
    const g = new GraphBuilder();
    const x = g.placeholder('x', [-1, 40]);
    const W = Float32Array.from({ length: 12 * 40 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 12)));
    const w = g.constant('w', W, [12, 40]);
    const b = g.constant('b', Float32Array.from({ length: 12 }, (_, i) => 0.1 * i), [12]);
    const mm = g.op('mm', 'MatMul', [x, w], { transpose_a: attr.bool(false), transpose_b: attr.bool(true) });
    g.op('out', 'Relu', [g.op('bias', 'BiasAdd', [mm, b])]);
    const dir = g.write(path.join(work, 'transposed'));
    writeCalibration(dir, randomRows(32, 40, 5));
    const xs = tf.tensor2d(randomRows(8, 40, 6));
    const out = path.join(work, 'transposed-out');
    const report = await convert({ input: dir, output: out, weightBits: 4, range: 'minmax' });
    expect(report.tensors[0]).toMatchObject({ weight: 'w', shape: [40, 12], biasCorrected: false });
    expect(decodePbq(fs.readFileSync(path.join(out, 'model.pbq'))).planes.get('w')?.layout).toEqual({ batch: 1, k: 40, n: 12, transposed: true });
    expect(Array.from(await compact(out, xs, 4))).toEqual(Array.from(await runtime(dir, xs, 4)));
    const corrected = await convert({ input: dir, output: path.join(work, 'transposed-bc'), weightBits: 3, biasCorrection: true, rounding: 'gptq' });
    expect(corrected.correctedBiases).toEqual(['b']);
    xs.dispose();
  });

  it('the CLI converts a GraphModel and prints its weights', async () => {
    const r = await runCli(['convert', mlpGraph, path.join(work, 'cli-graph'), '--weight-bits', '4', '--rounding', 'gptq', '--bias-correction']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dense_1\/MatMul\/kernel\s+_FusedMatMul\s+48x40\s+4\b/);
  });

  /** A one-matmul graph, edited. */
  function tinyGraph(edit: (g: GraphBuilder, x: string) => void, name: string, calibrate = true): string {
    const g = new GraphBuilder();
    const x = g.placeholder('x', [-1, 8]);
    edit(g, x);
    const dir = g.write(path.join(work, `bad-${name}`));
    if (calibrate) writeCalibration(dir, randomRows(8, 8, 3));
    return dir;
  }
  const mm = (g: GraphBuilder, name: string, a: string, b: string, op = 'MatMul', attrs = {}) =>
    g.op(name, op, [a, b], { transpose_a: attr.bool(false), transpose_b: attr.bool(false), ...attrs });
  const bad: Array<[string, (g: GraphBuilder, x: string) => void, string[], RegExp]> = [
    ['unknown op', (g, x) => mm(g, 'mm', g.op('weird', 'FancyOp', [x]), g.constant('w', new Float32Array(32), [8, 4])), ['--bias-correction'],
      /graph node 'weird' uses op 'FancyOp', which tfjs-converter 4\.22 cannot run/],
    ['3-D constant B', (g, x) => g.op('bmm', 'BatchMatMulV2', [g.op('r', 'Reshape', [x, g.constant('s', [-1, 1, 8], [3], 'int32')], { Tshape: attr.type('int32') }),
      g.constant('w3', new Float32Array(64), [2, 8, 4])], { adj_x: attr.bool(false), adj_y: attr.bool(false) }), [],
      /graph node 'bmm' \(BatchMatMulV2\): its B operand 'w3' is a constant of shape \[2, 8, 4\]; pbq quantizes 2-D matmul weights only/],
    ['two layouts of one weight', (g, x) => {
      const w = g.constant('w', new Float32Array(64), [8, 8]);
      mm(g, 'a', x, w);
      mm(g, 'b', x, w, 'MatMul', { transpose_b: attr.bool(true) });
    }, [], /graph node 'b' \(MatMul\) multiplies by 'w' transposed, node 'a' the other way/],
    ['missing input', (g, x) => mm(g, 'mm', x, 'nowhere'), [], /graph node 'mm' \(MatMul\) reads 'nowhere', which is not a node of the graph/],
    ['unknown weight in --layer-bits', (g, x) => mm(g, 'mm', x, g.constant('w', new Float32Array(32), [8, 4])), ['--layer-bits', 'dense=8'],
      /--layer-bits: no quantized weight named 'dense' \(quantized weights: w\)/],
  ];
  for (const [name, edit, extra, message] of bad) {
    it(`bad GraphModel: ${name} -> exit 2, one line naming it, nothing written`, async () => {
      const dir = tinyGraph(edit, name.replace(/\W/g, '_'));
      const out = path.join(work, `bad-out-${name.replace(/\W/g, '_')}`);
      const r = await runCli(['convert', dir, out, '--weight-bits', '4', ...extra]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(fs.existsSync(out)).toBe(false);
    });
  }

  it('each loader refuses the other kind of model.pbq by name', async () => {
    await convert({ input: mlpGraph, output: path.join(work, 'kind-g'), weightBits: 4, range: 'minmax' });
    await convert({ input: mlpLayers, output: path.join(work, 'kind-l'), weightBits: 4, range: 'minmax' });
    await expect(pbq.loadLayersModel(path.join(work, 'kind-g'))).rejects.toThrow(/holds a GraphModel: load it with pbq\.loadGraphModel/);
    await expect(pbq.loadGraphModel(path.join(work, 'kind-l'))).rejects.toThrow(/holds a LayersModel: load it with pbq\.loadLayersModel/);
  });
});
