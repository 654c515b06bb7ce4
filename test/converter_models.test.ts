/**
 * pbq convert on the bundled trained models (a model not trained yet is skipped), each
 * converted model evaluated from its compact model.pbq under pbq (Node CPU engine, A8), loaded
 * with default weight settings (a converted model runs at every plane it stores):
 *   - W3 and W4: MSE ranges + bias correction beat min-max per-tensor quantization
 *   - multipoint at a 4.5-bit average beats uniform 4 bits, in a file of its real size
 *   - GPTQ rounding meets the issue's targets and beats nearest rounding
 * "Beat" is judged first by fidelity to the float model, the mean KL(p_float ‖ p_quantized) of
 * the predicted distributions over the eval set (what quantization changes, prediction by
 * prediction), and asserted with a margin (at least 1.5x lower). The task metric must agree:
 * lower perplexity for the LMs; for the MNIST MLP, whose W4 models are at float quality (their
 * NLL moves by noise of either sign), accuracy at least the baseline's.
 *
 * Every conversion uses the full calibration set (its statistics gathered once per model and
 * shared: CalibrationCache), as `npm run convert:table` does. Eval sets: all 1,996 MNIST digits;
 * the first 32 of the 128 eval windows of the LMs (the targets hold there as on the full set:
 * measured below).
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '../src/index';
import { registerFileRouters } from '../src/io/file_io';
import { MODELS_DIR } from '../models/eval';
import {
  convertAndEvaluate, evaluator, floatReference, isTrainedModel, lmData, metricOf, mnistData, EvalData, Metric,
} from '../tools/convert_table';
import type { ConvertOptions } from '../src/converter/convert';
import { CalibrationCache } from '../src/converter/calibration';

registerFileRouters();
tf.env().set('PROD', true);

const MARGIN = 1.5;

/**
 * The issue's GPTQ targets per model and width (perplexity: at most this relative increase over
 * float32; accuracy: at most this drop in points), with what was measured on the test's eval
 * set (`npm run convert:table` gives the full-set figures, models/results/convert_table.md).
 */
interface Target { bits: number; limit: number; measured: string }
const models: Array<{ name: string; data: (dir: string) => EvalData; gptq: Target[] }> = [
  {
    name: 'mnist-mlp', data: () => mnistData(2000),
    // W2 within 1 point; W3/W4 lossless: within 0.2 points (4 of 1,996 digits)
    gptq: [{ bits: 2, limit: 1, measured: '-0.10 pt' }, { bits: 3, limit: 0.2, measured: '+0.05 pt' }, { bits: 4, limit: 0.2, measured: '-0.05 pt' }],
  },
  {
    name: 'lstm-lm', data: (dir) => lmData(dir, 32),
    gptq: [{ bits: 3, limit: 0.025, measured: '+1.68 %' }, { bits: 4, limit: 0.006, measured: '+0.39 %' }],
  },
  {
    name: 'gru-lm', data: (dir) => lmData(dir, 32),
    gptq: [{ bits: 3, limit: 0.03, measured: '+2.32 %' }, { bits: 4, limit: 0.008, measured: '+0.23 %' }],
  },
];

/** The task metric of `a` is no worse than `b`'s (accuracy: ≥, perplexity: <). */
function expectTaskMetricNoWorse(a: Metric, b: Metric): void {
  if (a.name === 'accuracy') expect(a.value).toBeGreaterThanOrEqual(b.value);
  else expect(a.nll).toBeLessThan(b.nll);
}

for (const { name, data, gptq } of models) {
  const d = isTrainedModel(name) ? describe : describe.skip;
  d(`bundled ${name}`, () => {
    const dir = path.join(MODELS_DIR, name);
    let evaluate: (m: import('@tensorflow/tfjs-layers').LayersModel) => Promise<Metric>;
    let float: Metric;
    const calibrationCache = new CalibrationCache();
    // Each conversion once, whichever test asks first.
    const done = new Map<string, ReturnType<typeof convertAndEvaluate>>();
    const run = (options: Partial<ConvertOptions>) => {
      const key = JSON.stringify(options);
      if (!done.has(key)) done.set(key, convertAndEvaluate(dir, { ...options, calibrationCache }, evaluate));
      return done.get(key) as ReturnType<typeof convertAndEvaluate>;
    };
    const nearest = (bits: number) => run({ weightBits: bits, range: 'mse', biasCorrection: true });
    const gptqRun = (bits: number) => run({ weightBits: bits, range: 'mse', biasCorrection: true, rounding: 'gptq' });

    beforeAll(async () => {
      const set = data(dir);
      const reference = await floatReference(dir, set);
      evaluate = evaluator(set, reference);
      float = metricOf(set, reference); // the float model's own metric on the same set
    });

    for (const bits of [3, 4]) {
      it(`W${bits}: MSE ranges + bias correction beat min-max per tensor`, async () => {
        const base = await run({ weightBits: bits, range: 'minmax-tensor' });
        const best = await nearest(bits);
        expect(best.report.tensors.every((t) => t.biasCorrected)).toBe(true);
        expect(best.metric.kl as number).toBeLessThan((base.metric.kl as number) / MARGIN);
        expectTaskMetricNoWorse(best.metric, base.metric);
      });
    }

    it('multipoint at 4.5 average bits beats uniform 4 bits, runs at its stored planes by default, and its file is of its real size', async () => {
      const uniform = await nearest(4);
      const mp = await run({ weightBits: 4, range: 'mse', biasCorrection: true, multipoint: true, budget: 4.5 });
      expect(mp.report.totals.avgBits).toBeLessThanOrEqual(4.5 + 1e-9);
      expect(mp.report.totals.avgBits).toBeGreaterThan(4.4);
      expect(mp.report.totals.maxBits).toBeGreaterThan(4);
      // The quality measured here is what default settings give: every stored plane used.
      expect(mp.planes).toMatchObject({ maxBits: mp.report.totals.maxBits, truncated: false });
      expect(mp.planes.weightBits).toBeGreaterThanOrEqual(mp.report.totals.maxBits);
      expect(mp.metric.kl as number).toBeLessThan((uniform.metric.kl as number) / MARGIN);
      if (mp.metric.name === 'perplexity') expect(mp.metric.nll).toBeLessThan(uniform.metric.nll);
      const expected = (mp.report.totals.avgBits / 4) * uniform.report.totals.pbqFileBytes;
      expect(Math.abs(mp.report.totals.pbqFileBytes / expected - 1)).toBeLessThan(0.05);
    });

    for (const t of gptq) {
      it(`W${t.bits} GPTQ: within the target (${name === 'mnist-mlp' ? `≤ ${t.limit} pt below` : `≤ +${(100 * t.limit).toFixed(1)} %`} float32; measured ${t.measured}) and better than nearest rounding`, async () => {
        const g = await gptqRun(t.bits);
        expect(g.report.tensors.every((x) => x.rounding === 'gptq' && x.biasCorrected)).toBe(true);
        if (g.metric.name === 'accuracy') expect(g.metric.value).toBeGreaterThanOrEqual(float.value - t.limit / 100);
        else expect(g.metric.value).toBeLessThanOrEqual(float.value * (1 + t.limit));
        if (t.bits >= 3) {
          const n = await nearest(t.bits);
          expect(g.metric.kl as number).toBeLessThan((n.metric.kl as number) / MARGIN);
        }
      });
    }
  });
}
