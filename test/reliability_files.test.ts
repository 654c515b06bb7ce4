/**
 * Issue 13, files: pbq convert never deletes its input nor anything it did not write (1), shard
 * and calibration paths stay inside the model's folder for the file:// loader (2) and the
 * converter (3), leftovers of a killed conversion are cleaned up by the next run (10), manifest
 * and shard errors name the problem (11).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src/index';
import { registerFileRouters } from '../src/io/file_io';
import { convert } from '../src/converter/convert';
import { mlp, saveModel, tmpDir, writeCalibration, randomRows, runCli } from './converter_helpers';

registerFileRouters();

const work = tmpDir('pbq-rel-files-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let base: string;
let seq = 0;

beforeAll(async () => {
  await tf.setBackend('cpu');
  base = await saveModel(mlp(16, 3), path.join(work, 'base'));
  writeCalibration(base, randomRows(8, 16, 4));
});

/** A fresh copy of the base model in its own folder. */
function copyModel(name = `m${seq++}`): string {
  const dir = path.join(work, name);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}

/** Every file under `dir` with its bytes (to prove nothing changed). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

function editJson(dir: string, edit: (j: any) => void): void { // eslint-disable-line @typescript-eslint/no-explicit-any
  const p = path.join(dir, 'model.json');
  const j = JSON.parse(fs.readFileSync(p, 'utf8'));
  edit(j);
  fs.writeFileSync(p, JSON.stringify(j));
}

describe('item 1: the converter never replaces its input or what it did not write', () => {
  it('refuses an output that is the input named through a symlink, even with --force', async () => {
    const real = copyModel();
    const link = path.join(work, `link${seq++}`);
    fs.symlinkSync(real, link);
    const before = snapshot(real);
    for (const [input, output] of [[link, real], [real, link], [link, link]]) {
      const res = await runCli(['convert', input, output, '--weight-bits', '4', '--force']);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/symbolic link|is the input model's folder/);
    }
    expect(snapshot(real)).toEqual(before);
  });

  it('refuses an output that contains the input (an ancestor, /) or is inside it', async () => {
    const input = copyModel();
    const before = snapshot(input);
    const cases: Array<[string, RegExp]> = [
      ['/', /contains the input model's folder/],
      [work, /contains the input model's folder/],
      [path.join(input, '..', '..'), /contains the input model's folder/],
      [path.join(input, 'sub', 'out'), /is inside the input model's folder/],
      [path.join(input, '.'), /is the input model's folder/],
      [path.join(input, '..out'), /is inside the input model's folder/], // '..out' is a name, not a parent
    ];
    for (const [output, message] of cases) {
      const res = await runCli(['convert', input, output, '--weight-bits', '4', '--force']);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
    }
    expect(snapshot(input)).toEqual(before);
    expect(fs.existsSync(path.join(input, 'sub'))).toBe(false);
  });

  it('--force replaces a folder that pbq wrote, never one holding other files', async () => {
    const input = copyModel();
    const out = path.join(work, `out${seq++}`);
    expect((await runCli(['convert', input, out, '--weight-bits', '4'])).code).toBe(0);
    // A pbq output is replaced with --force …
    expect((await runCli(['convert', input, out, '--weight-bits', '3', '--force'])).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')).pbq.requestedWeightBits).toBe(3);
    // … but not once the user put a file of their own there.
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const res = await runCli(['convert', input, out, '--weight-bits', '4', '--force']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/holds files that pbq convert did not write \(notes\.txt\)/);
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    // A folder of something else entirely (here: another model's folder) is never replaced.
    const other = copyModel();
    const otherBefore = snapshot(other);
    expect((await runCli(['convert', input, other, '--weight-bits', '4', '--force'])).code).toBe(2);
    expect(snapshot(other)).toEqual(otherBefore);
  });
});

describe('item 2: the file:// loader reads shards inside the model folder only', () => {
  const secretDir = path.join(work, 'secret');
  let secret: string;
  beforeAll(() => {
    fs.mkdirSync(secretDir);
    secret = path.join(secretDir, 'weights.bin');
    // As many bytes as the manifest wants: a successful escape would load it as the weights.
    fs.copyFileSync(path.join(base, 'weights.bin'), secret);
  });

  const escapes: Array<[string, (dir: string) => string, RegExp]> = [
    ['a ../ path', (dir) => path.relative(dir, secret), /'\.\.' segment/],
    ['an absolute path', () => secret, /absolute path/],
    ['a file:// URL', () => `file://${secret}`, /absolute path or URL/],
    ['a ..\\ path', (dir) => path.relative(dir, secret).split('/').join('\\'), /'\.\.' segment/],
    ['a symlink out of the folder', (dir) => {
      fs.symlinkSync(secret, path.join(dir, 'link.bin'));
      return 'link.bin';
    }, /symbolic link that does not resolve to a file inside the model folder/],
    ['a symlinked sub-folder out of the folder', (dir) => {
      fs.symlinkSync(secretDir, path.join(dir, 'sub'));
      return 'sub/weights.bin';
    }, /symbolic link that does not resolve to a file inside the model folder/],
  ];

  it.each(escapes)('rejects %s, with a clear error', async (_what, shardPath, message) => {
    const dir = copyModel();
    const p = shardPath(dir);
    editJson(dir, (j) => { j.weightsManifest[0].paths = [p]; });
    await expect(tfl.loadLayersModel(`file://${dir}/model.json`)).rejects.toThrow(message);
  });

  it('says the same for a link to a missing file as for a link to an existing one (no probing)', async () => {
    const dir = copyModel();
    fs.symlinkSync(secret, path.join(dir, 'exists.bin'));
    fs.symlinkSync(path.join(secretDir, 'missing.bin'), path.join(dir, 'missing.bin'));
    const messages: string[] = [];
    for (const p of ['exists.bin', 'missing.bin']) {
      editJson(dir, (j) => { j.weightsManifest[0].paths = [p]; });
      messages.push(await tfl.loadLayersModel(`file://${dir}/model.json`).then(() => 'loaded', (e) => (e as Error).message));
    }
    expect(messages[0]).toMatch(/symbolic link/);
    expect(messages[1]).toBe(messages[0].replace('exists.bin', 'missing.bin'));
    // Probing with ../ never reaches the file system: same message for existing and missing targets.
    const probe = async (p: string) => {
      editJson(dir, (j) => { j.weightsManifest[0].paths = [p]; });
      return tfl.loadLayersModel(`file://${dir}/model.json`).then(() => 'loaded', (e) => (e as Error).message);
    };
    const a = await probe('../secret/weights.bin');
    const b = await probe('../secret/nothing.bin');
    expect(a).toMatch(/'\.\.' segment/);
    expect(b).toBe(a.replace('weights.bin', 'nothing.bin'));
  });

  it('still follows a symlink that stays inside the folder (also into a folder named ..shards)', async () => {
    const dir = copyModel();
    fs.mkdirSync(path.join(dir, '..shards'));
    fs.renameSync(path.join(dir, 'weights.bin'), path.join(dir, '..shards', 'w.bin'));
    fs.symlinkSync(path.join(dir, '..shards', 'w.bin'), path.join(dir, 'weights.bin'));
    const model = await tfl.loadLayersModel(`file://${dir}/model.json`);
    expect(model.getWeights().length).toBe(6);
    model.dispose();
  });
});

describe('item 3: the converter reads shards and calibration data inside the folder only', () => {
  it('refuses ../, absolute and symlinked shard paths; writes nothing', async () => {
    const outside = path.join(work, `outside${seq++}.bin`);
    fs.copyFileSync(path.join(base, 'weights.bin'), outside);
    const cases: Array<[(dir: string) => string, RegExp]> = [
      [(dir) => path.relative(dir, outside), /'\.\.' segment/],
      [() => outside, /absolute path/],
      [(dir) => {
        fs.symlinkSync(outside, path.join(dir, 'l.bin'));
        return 'l.bin';
      }, /symbolic link/],
    ];
    for (const [shardPath, message] of cases) {
      const dir = copyModel();
      const p = shardPath(dir);
      editJson(dir, (j) => { j.weightsManifest[0].paths = [p]; });
      const out = path.join(work, `out${seq++}`);
      const res = await runCli(['convert', dir, out, '--weight-bits', '4']);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(message);
      expect(fs.existsSync(out)).toBe(false);
    }
  });

  it("refuses a calibration 'imagesFile' outside the calibration file's folder", async () => {
    const dir = copyModel();
    const bytes = path.join(work, `images${seq++}.u8`);
    fs.writeFileSync(bytes, Buffer.alloc(8 * 16, 9));
    fs.writeFileSync(path.join(dir, 'calibration.json'), JSON.stringify({ imagesFile: path.relative(dir, bytes), n: 8 }));
    const res = await runCli(['convert', dir, path.join(work, `out${seq++}`), '--weight-bits', '4']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/calibration data file .* '\.\.' segment/);
  });
});

describe('item 10: leftovers of a killed conversion are cleaned up by the next run', () => {
  it('removes dead runs\' temporary folders, restores a moved-away output, says so; keeps foreign files', async () => {
    const input = copyModel();
    const out = path.join(work, `out${seq++}`);
    expect((await runCli(['convert', input, out, '--weight-bits', '4'])).code).toBe(0);
    const previous = snapshot(out);
    const name = path.basename(out);
    // What SIGKILL leaves: a partial temporary folder (dead writer, old and new naming) and, when it
    // struck between the two renames of --force, the previous output moved to '-old' and no output.
    const deadPid = 2 ** 22 + 12345; // above Linux's pid_max default: no such process
    const partialNew = path.join(work, `.${name}.pbq-tmp-${deadPid}-AbC123`);
    const partialOld = path.join(work, `.${name}.pbq-tmp-XyZ789`);
    for (const d of [partialNew, partialOld]) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'weights.bin'), 'partial');
    }
    const movedAway = path.join(work, `.${name}.pbq-tmp-${deadPid}-QqQ000-old`);
    fs.renameSync(out, movedAway);
    // Lookalikes that are not pbq's (other name, other file inside): never touched.
    const foreign = path.join(work, `.${name}.pbq-tmp-${deadPid}-ZZZ999`);
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'diary.txt'), 'mine');
    const unrelated = path.join(work, `.${name}.pbq-tmpfoo`);
    fs.mkdirSync(unrelated);

    // Without --force: the restored previous output is not replaced.
    const res = await runCli(['convert', input, out, '--weight-bits', '3']);
    expect(res.stderr).toMatch(new RegExp(`restored ${out} from ${movedAway}`));
    expect(res.stderr).toMatch(new RegExp(`removed ${partialNew}, left by an interrupted run`));
    expect(res.stderr).toMatch(new RegExp(`removed ${partialOld}, left by an interrupted run`));
    expect(res.stderr).toMatch(new RegExp(`left ${foreign} in place: it holds files that pbq convert did not write`));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/is not empty \(use --force/);
    expect(snapshot(out)).toEqual(previous);
    for (const d of [partialNew, partialOld, movedAway]) expect(fs.existsSync(d)).toBe(false);
    expect(fs.readFileSync(path.join(foreign, 'diary.txt'), 'utf8')).toBe('mine');
    expect(fs.existsSync(unrelated)).toBe(true);

    // A live writer's temporary folder (this process: another conversion) is left alone.
    const live = path.join(work, `.${name}.pbq-tmp-${process.ppid}-LiVe00`);
    fs.mkdirSync(live);
    const report = await convert({ input, output: out, weightBits: 3, force: true });
    expect(report.leftovers).toHaveLength(2);
    expect(report.leftovers).toEqual(expect.arrayContaining([
      expect.stringMatching(/left .*LiVe00 in place: process \d+, which is writing it, is still running/),
      expect.stringMatching(/left .*ZZZ999 in place: it holds files that pbq convert did not write/),
    ]));
    expect(fs.existsSync(live)).toBe(true);
    expect(fs.readdirSync(work).filter((f) => f.startsWith(`.${name}.`)).sort())
      .toEqual([path.basename(foreign), path.basename(live), path.basename(unrelated)].sort());
  });
});

describe('item 5, converter side: non-finite weights are refused, biases too', () => {
  it('a NaN bias gives exit 2 naming the weight and the index (model.pbq would refuse it at load)', async () => {
    const dir = copyModel();
    const shard = fs.readFileSync(path.join(dir, 'weights.bin'));
    const j = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const [kernel, bias] = j.weightsManifest[0].weights;
    const at = 4 * kernel.shape.reduce((a: number, b: number) => a * b, 1) + 4 * 2; // bias element 2
    shard.writeFloatLE(NaN, at);
    fs.writeFileSync(path.join(dir, 'weights.bin'), shard);
    const out = path.join(work, `out${seq++}`);
    const res = await runCli(['convert', dir, out, '--weight-bits', '4']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(new RegExp(`weight '${bias.name}' holds a non-finite value \\(NaN\\) at index 2`));
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('item 11: manifest and shard errors name the problem', () => {
  it.each([
    ['a missing shape', (j: any) => { delete j.weightsManifest[0].weights[1].shape; }, /weightsManifest\[0\]\.weights\[1\] '.*': shape must be an array of non-negative integers, got undefined/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['a string dimension', (j: any) => { j.weightsManifest[0].weights[0].shape[0] = '16'; }, /shape must be an array of non-negative integers, got \["16",40\] \(array\)/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['an unknown dtype', (j: any) => { j.weightsManifest[0].weights[0].dtype = 'float64'; }, /dtype must be one of float32, int32, bool, complex64, got 'float64' \(string\)/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['an entry without a name', (j: any) => { j.weightsManifest[0].weights[2].name = 7; }, /weights\[2\] name must be a non-empty string, got 7 \(number\)/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['a manifest that is not an array', (j: any) => { j.weightsManifest = { paths: [] }; }, /weightsManifest must be an array/], // eslint-disable-line @typescript-eslint/no-explicit-any
  ])('file:// loader: %s', async (_what, edit, message) => {
    const dir = copyModel();
    editJson(dir, edit);
    await expect(tfl.loadLayersModel(`file://${dir}/model.json`)).rejects.toThrow(message);
  });

  it('a shard path that is a folder names the path, in the loader and the converter', async () => {
    const dir = copyModel();
    fs.mkdirSync(path.join(dir, 'shard-dir'));
    editJson(dir, (j) => { j.weightsManifest[0].paths = ['shard-dir']; });
    const expected = /weight shard 'shard-dir' in .*model\.json is not a regular file: .*shard-dir is a folder/;
    await expect(tfl.loadLayersModel(`file://${dir}/model.json`)).rejects.toThrow(expected);
    const res = await runCli(['convert', dir, path.join(work, `out${seq++}`), '--weight-bits', '4']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(expected);
  });
});
