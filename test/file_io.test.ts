/** file:// IOHandler: round trip + every load error names its problem. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src/chained_ops';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {registerFileRouters, fileHandler, FileHandler, entryByteLength} from '../src/io/file_io';

let tmp: string;

function smallModel(): tfl.Sequential {
  const m = tfl.sequential();
  m.add(tfl.layers.dense({inputShape: [3], units: 4, activation: 'relu',
    kernelInitializer: tfl.initializers.glorotUniform({seed: 1}), biasInitializer: tfl.initializers.constant({value: 0.1})}));
  m.add(tfl.layers.dense({units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({seed: 2})}));
  return m;
}

async function saved(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await smallModel().save(`file://${dir}`);
  return dir;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerFileRouters();
  registerFileRouters();  // idempotent
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pbq-fileio-'));
});
afterAll(() => fs.rmSync(tmp, {recursive: true, force: true}));

test('routers resolve file:// URLs to a FileHandler and ignore others', () => {
  const h = tf.io.getLoadHandlers('file:///x/model.json');
  expect(h.length).toBe(1);
  expect(h[0]).toBeInstanceOf(FileHandler);
  expect(tf.io.getSaveHandlers('file:///x').length).toBe(1);
  expect(tf.io.getLoadHandlers('http://example.com/model.json').every((x) => !(x instanceof FileHandler))).toBe(true);
});

test('save then load round trip reproduces weights and outputs exactly', async () => {
  const m = smallModel();
  const dir = path.join(tmp, 'rt');
  const res = await m.save(`file://${dir}`);
  expect(res.modelArtifactsInfo.weightDataBytes).toBe((3 * 4 + 4 + 4 * 2 + 2) * 4);
  expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
  expect(fs.statSync(path.join(dir, 'weights.bin')).size).toBe(104);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
  expect(json.weightsManifest[0].weights.map((w: {name: string}) => w.name).length).toBe(4);

  for (const url of [`file://${dir}/model.json`, `file://${dir}`]) {
    const m2 = await tfl.loadLayersModel(url);
    const a = m.getWeights(), b = m2.getWeights();
    expect(b.length).toBe(4);
    for (let i = 0; i < a.length; i++) {
      expect(b[i].shape).toEqual(a[i].shape);
      expect(Array.from(b[i].dataSync())).toEqual(Array.from(a[i].dataSync()));
    }
    const x = tf.tensor2d([[0.5, -1, 2], [1, 1, 1]]);
    const ya = m.predict(x) as tf.Tensor, yb = m2.predict(x) as tf.Tensor;
    expect(Array.from(yb.dataSync())).toEqual(Array.from(ya.dataSync()));
    tf.dispose([x, ya, yb]);
  }
});

test('fileHandler works directly with tf.io handler APIs', async () => {
  const dir = await saved('direct');
  const art = await fileHandler(`${dir}/model.json`).load!();
  expect(art.weightSpecs!.length).toBe(4);
  expect((art.weightData as ArrayBuffer).byteLength).toBe(104);
  expect(entryByteLength({name: 'w', shape: [3, 4], dtype: 'float32'})).toBe(48);
  expect(entryByteLength({name: 'q', shape: [3, 4], dtype: 'float32', quantization: {dtype: 'uint8', min: 0, scale: 1}})).toBe(12);
});

test('missing model.json', async () => {
  const p = path.join(tmp, 'nope', 'model.json');
  await expect(tfl.loadLayersModel(`file://${p}`)).rejects.toThrow(`model.json not found: ${p}`);
});

test('corrupt model.json', async () => {
  const dir = await saved('corrupt');
  fs.writeFileSync(path.join(dir, 'model.json'), '{"modelTopology": {"class_name": ');
  await expect(tfl.loadLayersModel(`file://${dir}/model.json`)).rejects.toThrow(/corrupt model JSON in .*corrupt\/model\.json/);
});

test('model.json without modelTopology', async () => {
  const dir = await saved('notopo');
  fs.writeFileSync(path.join(dir, 'model.json'), '{"weightsManifest": []}');
  await expect(tfl.loadLayersModel(`file://${dir}/model.json`)).rejects.toThrow(/has no modelTopology/);
});

test('missing weight shard names the file', async () => {
  const dir = await saved('noshard');
  fs.unlinkSync(path.join(dir, 'weights.bin'));
  await expect(tfl.loadLayersModel(`file://${dir}/model.json`))
    .rejects.toThrow(/weight shard not found: \.\/weights\.bin/);
});

test('shard size differs from the manifest', async () => {
  const dir = await saved('short');
  const buf = fs.readFileSync(path.join(dir, 'weights.bin'));
  fs.writeFileSync(path.join(dir, 'weights.bin'), buf.subarray(0, 100));
  await expect(tfl.loadLayersModel(`file://${dir}/model.json`))
    .rejects.toThrow('weight shard size mismatch for [./weights.bin]: manifest implies 104 bytes, files hold 100 bytes');
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat([buf, Buffer.alloc(8)]));
  await expect(tfl.loadLayersModel(`file://${dir}/model.json`)).rejects.toThrow(/implies 104 bytes, files hold 112 bytes/);
});

test('saving onto an existing regular file fails clearly', async () => {
  const f = path.join(tmp, 'afile');
  fs.writeFileSync(f, 'x');
  await expect(smallModel().save(`file://${f}`)).rejects.toThrow(/not a directory/);
});
