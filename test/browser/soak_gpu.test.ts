/**
 * Soak of pbq-webgl in headless Chromium (issue 13): predictions of the bundled MNIST MLP and LSTM
 * LM steps; after warm-up the tensors, the GPU bytes in use and allocated (tfjs's texture pool)
 * and the JS heap after a forced GC stay flat. `npm test` runs 1,000 predictions and 200 LSTM
 * steps; `npm run soak:browser` (PBQ_SOAK=full) the full 10,000 and 2,000. Page: pages/soak_page.ts.
 */
import * as path from 'path';
import { usePage } from './page_fixture';

const FULL = process.env.PBQ_SOAK === 'full';
const PREDICTIONS = FULL ? 10_000 : 1_000;
const LSTM_STEPS = FULL ? 2_000 : 200;
const LSTM_WINDOW = 20;
/**
 * JS heap growth allowed after warm-up, measured on the floor: the least heap (after forced GCs)
 * of the second half of the samples minus that of the first half. Chromium's heap still moves by
 * ±3 MB between samples here; a leak raises the floor: this catches ≥ 250 B per call in the full
 * run (9,000 calls after warm-up), ≥ 2.3 KB per call in the short one.
 */
const HEAP_SLACK_BYTES = 2 * 1024 * 1024;

interface Sample {
  calls: number; numTensors: number; numBytesInGPU: number; numBytesInGPUAllocated: number; scratchBytes: number; heapBytes: number | null;
}

const page = usePage(path.join(__dirname, 'pages', 'soak_page.ts'), {
  callTimeoutMs: 30 * 60 * 1000, launch: { extraArgs: ['--js-flags=--expose-gc', '--enable-precise-memory-info'] },
});

interface SoakResult { samples: Sample[]; msPerCall: number; initial: Sample; before: Sample; disposed: Sample }

function report(name: string, r: SoakResult) {
  const mb = (b: number | null) => (b === null ? '–' : (b / 2 ** 20).toFixed(2));
  const line = (s: Sample) => `${s.numTensors} tensors, GPU ${mb(s.numBytesInGPU)} MiB in use (scratch ${mb(s.scratchBytes)}) / ` +
    `${mb(s.numBytesInGPUAllocated)} MiB in tfjs's pool, heap ${mb(s.heapBytes)} MiB`;
  const first = r.samples[0];
  const last = r.samples[r.samples.length - 1];
  process.stderr.write(`${name}: ${last.calls} calls, ${r.msPerCall.toFixed(2)} ms each\n  model loaded: ${line(r.before)}\n` +
    `  after warm-up (${first.calls}): ${line(first)}\n  at the end (${last.calls}): ${line(last)}\n  model disposed: ${line(r.disposed)}\n`);
}

/** The model's dispose frees its tensors and every GPU byte (cached weights included) but the backend's scratch textures. */
function expectFreed(r: SoakResult) {
  expect(r.disposed.numTensors).toBe(r.initial.numTensors);
  expect(r.disposed.numBytesInGPU - r.disposed.scratchBytes).toBe(r.initial.numBytesInGPU - r.initial.scratchBytes);
}

/** Every sample after warm-up has the first one's tensors and GPU bytes; the heap grows by less than the slack. */
function expectFlat(samples: Sample[]) {
  expect(samples.length).toBeGreaterThanOrEqual(10);
  const [first] = samples;
  expect(first.numBytesInGPU - first.scratchBytes).toBeGreaterThan(0); // the weights' planes are counted
  for (const s of samples) {
    expect({ calls: s.calls, numTensors: s.numTensors, gpu: s.numBytesInGPU, allocated: s.numBytesInGPUAllocated })
      .toEqual({ calls: s.calls, numTensors: first.numTensors, gpu: first.numBytesInGPU, allocated: first.numBytesInGPUAllocated });
  }
  expect(first.heapBytes).not.toBeNull(); // gc() and performance.memory are available in this Chromium
  const heaps = samples.map((s) => s.heapBytes as number);
  const half = Math.floor(heaps.length / 2);
  const growth = Math.min(...heaps.slice(half)) - Math.min(...heaps.slice(0, half));
  process.stderr.write(`  JS heap after GC per sample (MiB): ${heaps.map((h) => (h / 2 ** 20).toFixed(2)).join(' ')}\n`);
  expect(growth).toBeLessThan(HEAP_SLACK_BYTES);
}

describe(`pbq-webgl soak (${FULL ? 'full' : 'short'})`, () => {
  it(`${PREDICTIONS} MNIST MLP predictions: tensors, GPU bytes and JS heap flat after warm-up`, async () => {
    const r = await page().call('mnist', PREDICTIONS);
    report('MNIST MLP', r);
    expect(r.base).toBe('webgl');
    expect(r.samples[r.samples.length - 1].calls).toBe(PREDICTIONS);
    expectFlat(r.samples);
    expect(r.samples[0].numTensors).toBe(r.before.numTensors);
    expectFreed(r);
  }, 60 * 60 * 1000);

  it(`${LSTM_STEPS} LSTM LM steps (fused PbqLSTMStep): tensors, GPU bytes and JS heap flat after warm-up`, async () => {
    const r = await page().call('lstm', LSTM_STEPS, LSTM_WINDOW);
    report('LSTM LM', r);
    expect(r.fusedSteps).toBe(LSTM_WINDOW);
    expect(r.steps).toBe(LSTM_STEPS);
    expect(r.samples[r.samples.length - 1].calls * LSTM_WINDOW).toBe(LSTM_STEPS);
    expectFlat(r.samples);
    expect(r.samples[0].numTensors).toBe(r.before.numTensors);
    expectFreed(r);
  }, 60 * 60 * 1000);
});
