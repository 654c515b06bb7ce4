/**
 * Fuzz: hundreds of corrupted copies of small saved models through the CLI entry (in-process).
 * Every run must end with exit code 0 or 2, a one-line message without a stack trace on
 * failure, and no output folder (or temporary folder) left behind on failure.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '../src/index';
import { mlp, rnnLm, saveModel, tmpDir, writeCalibration, randomRows, randomIds, runCli, rng } from './converter_helpers';

const work = tmpDir('pbq-fuzz-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** All [container, key] pairs of a JSON value. */
function slots(v: Json, out: Array<[Json, string | number]> = []): Array<[Json, string | number]> {
  if (Array.isArray(v)) v.forEach((e, i) => { out.push([v, i]); slots(e, out); });
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) { out.push([v, k]); slots(v[k], out); }
  return out;
}

const WEIRD: Json[] = [0, -1, 1, 3.5, 1e9, -1e9, 'x', '', null, true, [], {}, [1, 2], 'float16', 'int8', 'string', 'bool'];

function mutate(dir: string, r: () => number): string {
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  const jsonPath = path.join(dir, 'model.json');
  const shard = path.join(dir, 'weights.bin');
  const kind = Math.floor(r() * 11);
  const editJson = (f: (j: Json) => void) => {
    const j = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
    f(j);
    fs.writeFileSync(jsonPath, JSON.stringify(j));
  };
  switch (kind) {
    case 0: { // truncate shard
      const size = fs.statSync(shard).size;
      fs.truncateSync(shard, Math.floor(r() * size));
      return 'truncate shard';
    }
    case 1: // extend shard
      fs.appendFileSync(shard, Buffer.alloc(1 + Math.floor(r() * 64), 7));
      return 'extend shard';
    case 2: { // flip bytes in model.json
      const b = fs.readFileSync(jsonPath);
      const n = 1 + Math.floor(r() * 4);
      for (let i = 0; i < n; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      fs.writeFileSync(jsonPath, b);
      return 'flip json bytes';
    }
    case 3: // delete a key anywhere
      editJson((j) => {
        const [c, k] = pick(slots(j));
        if (Array.isArray(c)) c.splice(k as number, 1);
        else delete c[k];
      });
      return 'delete key';
    case 4: // wrong dtype
      editJson((j) => { pick(j.weightsManifest[0].weights as Json[]).dtype = pick(WEIRD); });
      return 'dtype';
    case 5: // wrong shape
      editJson((j) => {
        const w = pick(j.weightsManifest[0].weights as Json[]);
        const i = Math.floor(r() * w.shape.length);
        w.shape[i] = pick([w.shape[i] + 1, w.shape[i] - 1, -3, 0, 'a', null, 1e12]);
      });
      return 'shape';
    case 6: // replace any value
      editJson((j) => {
        const [c, k] = pick(slots(j));
        c[k] = pick(WEIRD);
      });
      return 'replace value';
    case 7: // delete the shard or model.json
      fs.rmSync(r() < 0.5 ? shard : jsonPath);
      return 'delete file';
    case 8: { // random bytes in the shard (valid model, other weights)
      const b = fs.readFileSync(shard);
      for (let i = 0; i < 16; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      fs.writeFileSync(shard, b);
      return 'shard bytes';
    }
    case 9: { // corrupt the calibration file
      const p = path.join(dir, 'calibration.json');
      const b = fs.readFileSync(p);
      if (r() < 0.5) fs.writeFileSync(p, b.subarray(0, Math.floor(r() * b.length)));
      else {
        for (let i = 0; i < 3; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
        fs.writeFileSync(p, b);
      }
      return 'calibration';
    }
    default: // swap layer classes
      editJson((j) => {
        const layers = j.modelTopology.config.layers as Json[];
        pick(layers).class_name = pick(['Dense', 'LSTM', 'GRU', 'SimpleRNN', 'Embedding', 'Conv2D', 'Nope', 'Flatten']);
      });
      return 'layer class';
  }
}

describe('fuzz: corrupted models through the CLI', () => {
  const bases: Record<string, string> = {};
  beforeAll(async () => {
    await tf.setBackend('cpu');
    bases.mlp = await saveModel(mlp(16, 5), path.join(work, 'base-mlp'));
    writeCalibration(bases.mlp, randomRows(16, 16, 3));
    bases.lstm = await saveModel(rnnLm('lstm', 12, 6), path.join(work, 'base-lstm'));
    writeCalibration(bases.lstm, randomIds(8, 8, 12, 4));
  });

  it('never crashes, prints no stack trace, leaves no output behind on failure', async () => {
    const r = rng(20240611);
    const outcomes: Record<string, number> = {};
    const runs = 320;
    for (let i = 0; i < runs; i++) {
      const baseName = i % 5 === 4 ? 'lstm' : 'mlp';
      const dir = path.join(work, `case-${i}`);
      fs.cpSync(bases[baseName], dir, { recursive: true });
      const what = mutate(dir, r);
      const out = path.join(work, `out-${i}`);
      const args = ['convert', dir, out, '--weight-bits', String(1 + Math.floor(r() * 8))];
      if (r() < 0.5) args.push('--bias-correction');
      if (r() < 0.2) args.push('--multipoint', '--budget', '8.5');
      if (r() < 0.2) args.push('--json');
      const res = await runCli(args);
      const label = `${baseName}/${what} -> ${res.code}`;
      outcomes[label] = (outcomes[label] ?? 0) + 1;
      if (res.code !== 0 && res.code !== 2) throw new Error(`case ${i} (${label}): ${res.stderr}`);
      expect(res.stderr).not.toMatch(/\n\s+at /);
      if (res.code === 2) {
        expect(res.stderr.trim().split('\n')).toHaveLength(1);
        expect(fs.existsSync(out)).toBe(false);
      } else {
        expect(fs.existsSync(path.join(out, 'model.pbq'))).toBe(true);
        fs.rmSync(out, { recursive: true });
      }
      fs.rmSync(dir, { recursive: true });
    }
    expect(fs.readdirSync(work).filter((f) => f.includes('pbq-tmp'))).toEqual([]);
    const failures = Object.entries(outcomes).filter(([k]) => k.endsWith('2')).reduce((s, [, v]) => s + v, 0);
    expect(failures).toBeGreaterThan(runs / 3);
    // eslint-disable-next-line no-console
    console.log(`fuzz outcomes (${runs} runs):\n${Object.entries(outcomes).sort().map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
  });
});
