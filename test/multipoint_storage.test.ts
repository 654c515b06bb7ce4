/**
 * Multipoint models at their real size: model.pbq stores each channel's own planes
 * (plane_packing.ts), the report gives the true average and widest width, and a loaded model
 * runs at the planes it was converted for unless the user chose fewer (planes_in_force.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as pbq from '../src/index';
import { convert, ConversionReport } from '../src/converter/convert';
import { decodePbq, encodePbq, PBQ_MAGIC } from '../src/converter/pbq_format';
import { packChannelPlanes, unpackChannelPlanes, packedPlaneWords } from '../src/converter/plane_packing';
import { quantizeWeights } from '../src/quantize';
import { isWeightBitsChosen } from '../src/config';
import { saveModel, tmpDir, writeCalibration, randomRows, predict, setDeterministicWeights, runCli } from './converter_helpers';
import { randomValues } from './helpers';

const work = tmpDir('pbq-mp-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let dir: string;
let x: tf.Tensor;

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
  const model = tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [256], units: 256, activation: 'relu', name: 'd1' }),
    tfl.layers.dense({ units: 256, activation: 'relu', name: 'd2' }),
    tfl.layers.dense({ units: 16, name: 'd3' }),
  ] });
  setDeterministicWeights(model, 5);
  dir = await saveModel(model, path.join(work, 'model'));
  model.dispose();
  writeCalibration(dir, randomRows(128, 256, 21));
  x = tf.tensor2d(randomRows(16, 256, 22));
});

afterEach(() => pbq.resetConfig());

async function loadAndPredict(out: string): Promise<{ y: Float32Array; loaded: pbq.LoadedPbqModel }> {
  await tf.setBackend('pbq');
  const loaded = await pbq.loadPbqModel(out);
  const y = await predict(loaded.model, x);
  loaded.model.dispose();
  return { y, loaded };
}

describe('per-channel plane packing', () => {
  it('packs each channel\'s own planes and unpacks to the padded in-memory layout exactly', () => {
    const K = 70;
    const N = 9;
    const channelBits = [1, 4, 6, 2, 6, 3, 5, 4, 6];
    const w = quantizeWeights(randomValues(K * N, 3), { batch: 1, k: K, n: N, transposed: false }, 6, { channelBits });
    const packed = packChannelPlanes(w);
    expect(packed.length).toBe(packedPlaneWords(channelBits, w.words));
    expect(packed.length).toBe(channelBits.reduce((s, b) => s + b, 0) * 3); // 3 words for K = 70
    expect(Array.from(unpackChannelPlanes(packed, channelBits, 6, w.words))).toEqual(Array.from(w.planes));
    // A uniform weight is stored as it is.
    const u = quantizeWeights(randomValues(K * N, 4), { batch: 1, k: K, n: N, transposed: false }, 4);
    expect(packChannelPlanes(u)).toBe(u.planes);
  });

  it('decodes files written before per-channel packing (padded planes, no packing field)', () => {
    const K = 40;
    const N = 5;
    const channelBits = [2, 5, 3, 5, 4];
    const w = quantizeWeights(randomValues(K * N, 5), { batch: 1, k: K, n: N, transposed: false }, 5, { channelBits });
    const layout = { batch: 1, k: K, n: N, transposed: false };
    const bytes = encodePbq({}, {}, {}, [{ name: 'k', shape: [K, N], dtype: 'float32', quantized: { weight: w, layout } }]);
    // Rewrite it in the old form: a version 1 header without 'packing', the padded planes in the planes section.
    const headerLen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)).replace(/\0+$/, ''));
    const spec = header.weights[0];
    expect(spec.packing).toBe('channel');
    delete spec.packing;
    // Files of that time are version 1: no checksum.
    header.version = 1;
    delete header.checksum;
    const planes = new Uint8Array(w.planes.buffer);
    const ranges = new Uint8Array(w.ranges.buffer);
    const bitsBytes = new Uint8Array(8);
    bitsBytes.set(w.channelBits as Uint8Array);
    spec.planes = { offset: 0, length: planes.length };
    spec.ranges = { offset: planes.length, length: ranges.length };
    spec.channelBits = { offset: planes.length + ranges.length, length: N };
    let json = new TextEncoder().encode(JSON.stringify(header));
    const padded = new Uint8Array((json.length + 3) & ~3);
    padded.set(json);
    json = padded;
    const file = new Uint8Array(8 + json.length + planes.length + ranges.length + 8);
    file.set(new TextEncoder().encode(PBQ_MAGIC), 0);
    new DataView(file.buffer).setUint32(4, json.length, true);
    file.set(json, 8);
    file.set(planes, 8 + json.length);
    file.set(ranges, 8 + json.length + planes.length);
    file.set(bitsBytes, 8 + json.length + planes.length + ranges.length);
    const old = decodePbq(file).planes.get('k')?.weight;
    const now = decodePbq(bytes).planes.get('k')?.weight;
    expect(Array.from(old?.planes ?? [])).toEqual(Array.from(w.planes));
    expect(Array.from(now?.planes ?? [])).toEqual(Array.from(w.planes));
    expect(Array.from(now?.channelBits ?? [])).toEqual(channelBits);
  });
});

describe('multipoint models at their real size', () => {
  let uniform: ConversionReport;
  let mp: ConversionReport;
  const u4 = () => path.join(work, 'u4');
  const mp45 = () => path.join(work, 'mp45');

  beforeAll(async () => {
    uniform = await convert({ input: dir, output: u4(), weightBits: 4, biasCorrection: true });
    mp = await convert({ input: dir, output: mp45(), weightBits: 4, biasCorrection: true, multipoint: true, budget: 4.5 });
  });

  it('model.pbq is within 5 % of (average bits / 4) × the W4 file; the report gives the true average and widest width', () => {
    const size = (d: string) => fs.statSync(path.join(d, 'model.pbq')).size;
    expect(mp.totals.pbqFileBytes).toBe(size(mp45()));
    expect(mp.totals.avgBits).toBeGreaterThan(4.45);
    expect(mp.totals.avgBits).toBeLessThanOrEqual(4.5);
    expect(mp.totals.maxBits).toBe(Math.max(...mp.tensors.map((t) => t.maxBits)));
    expect(mp.totals.maxBits).toBeGreaterThan(5);
    const expected = (mp.totals.avgBits / 4) * size(u4());
    expect(Math.abs(size(mp45()) / expected - 1)).toBeLessThan(0.05);
    // Padded to the widest channel it would be far larger than that.
    expect((mp.totals.maxBits / 4) * size(u4())).toBeGreaterThan(1.2 * expected);
    expect(uniform.totals).toMatchObject({ avgBits: 4, maxBits: 4 });
  });

  it('the CLI and its JSON report give the stored average and widest width', async () => {
    const r = await runCli(['convert', dir, path.join(work, 'mp-cli'), '--weight-bits', '4', '--multipoint', '--budget', '4.5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/W4 \(stored: 4\.\d\d bits\/weight on average, widest channel \d+ planes\) A8/);
    expect(r.stdout).toMatch(/d1\/kernel\s+Dense\s+256x256\s+4\.\d\d \(max \d+\)/);
    // pbq-report.json is what --json prints.
    const report = JSON.parse(fs.readFileSync(path.join(work, 'mp-cli', 'pbq-report.json'), 'utf8')) as ConversionReport;
    expect(report.totals.maxBits).toBeGreaterThan(4);
    expect(report.totals.avgBits).toBeCloseTo(mp.totals.avgBits, 12);
  });

  it('loads and runs at its stored planes with default settings: the outputs of weightBits 16', async () => {
    pbq.configure({ weightBits: 16 });
    const full = await loadAndPredict(mp45());
    pbq.resetConfig();
    const byDefault = await loadAndPredict(mp45());
    expect(Array.from(byDefault.y)).toEqual(Array.from(full.y));
    expect(byDefault.loaded.planes).toMatchObject({ maxBits: mp.totals.maxBits, weightBits: 8, raisedFrom: null, truncated: false });
    expect(byDefault.loaded.planes.avgBits).toBeCloseTo(mp.totals.avgBits, 12);
    expect(pbq.getConfig().weightBits).toBe(8);
  });

  it('an explicit weightBits below the stored planes truncates them (reported), as choosing it after loading does', async () => {
    pbq.configure({ weightBits: 4 });
    const t = await loadAndPredict(mp45());
    expect(t.loaded.planes).toMatchObject({ weightBits: 4, raisedFrom: null, truncated: true });
    expect(pbq.getConfig().weightBits).toBe(4);
    pbq.resetConfig();
    await tf.setBackend('pbq');
    const loaded = await pbq.loadPbqModel(mp45());
    pbq.configure({ weightBits: 4 });
    const after = await predict(loaded.model, x);
    pbq.configure({ weightBits: 16 });
    const full = await predict(loaded.model, x);
    loaded.model.dispose();
    expect(Array.from(t.y)).toEqual(Array.from(after));
    expect(Array.from(t.y)).not.toEqual(Array.from(full));
  });

  it('a model wider than the default weightBits raises it when the user did not choose one, and says so', async () => {
    const out = path.join(work, 'wide');
    const r = await convert({ input: dir, output: out, weightBits: 4, layerBits: { d2: 12 }, range: 'minmax' });
    expect(r.totals.maxBits).toBe(12);
    pbq.configure({ weightBits: 16 });
    const full = await loadAndPredict(out);
    pbq.resetConfig();
    expect(isWeightBitsChosen()).toBe(false);
    const raised = await loadAndPredict(out);
    expect(raised.loaded.planes).toMatchObject({ maxBits: 12, weightBits: 12, raisedFrom: 8, truncated: false });
    expect(pbq.getConfig().weightBits).toBe(12);
    expect(isWeightBitsChosen()).toBe(false); // a raise is not a choice
    expect(Array.from(raised.y)).toEqual(Array.from(full.y));
    pbq.resetConfig();
    tf.env().set('PBQ_WEIGHT_BITS', 8); // the flag counts as a choice too
    expect(isWeightBitsChosen()).toBe(true);
    const kept = await loadAndPredict(out);
    expect(kept.loaded.planes).toMatchObject({ weightBits: 8, raisedFrom: null, truncated: true });
    expect(Array.from(kept.y)).not.toEqual(Array.from(full.y));
  });
});
