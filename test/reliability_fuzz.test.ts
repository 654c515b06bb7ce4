/**
 * Issue 13, fuzz: about 1,100 corrupted model folders through pbq's three readers (the file://
 * loader, pbq.loadLayersModel, pbq convert): each a clear error or a correct load, no crash, no
 * hang, no partial output, no file read outside the model folder, nothing written outside the
 * output folder (test/fuzz/model_fuzz.ts). `npm run soak` runs more cases.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '../src/index';
import { registerFileRouters } from '../src/io/file_io';
import { formatOutcomes, runFuzz } from './fuzz/model_fuzz';
import { tmpDir } from './converter_helpers';

registerFileRouters();
const work = tmpDir('pbq-rel-fuzz-');
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

it('1,100 corrupted model folders: clear errors or correct loads, nothing else', async () => {
  const result = await runFuzz({ work: path.join(work, 'cases'), cases: { loader: 450, pbq: 450, converter: 200 } });
  // eslint-disable-next-line no-console
  console.log(`fuzz: ${result.cases} cases in ${result.seconds.toFixed(1)} s (slowest ${result.slowestCaseMs} ms)\n${formatOutcomes(result.outcomes)}`);
  expect(result.problems).toEqual([]);
  expect(Object.values(result.outcomes).reduce((a, b) => a + b, 0)).toBe(1100);
  // Both outcomes occur for each reader (the mutations are neither all fatal nor all harmless).
  for (const target of ['loader', 'pbq', 'converter']) {
    const keys = Object.keys(result.outcomes).filter((k) => k.startsWith(`${target}/`));
    expect(keys.some((k) => / -> (error|exit 2)$/.test(k))).toBe(true);
    expect(keys.some((k) => / -> (loaded|exit 0)/.test(k))).toBe(true);
  }
  expect(tf.getBackend()).toBe('pbq');
});
