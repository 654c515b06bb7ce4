/**
 * pbq convert on the bundled trained models (a model not trained yet is skipped), each
 * converted model evaluated from its compact model.pbq under pbq (Node CPU engine, A8):
 *   - W3 and W4: MSE ranges + bias correction beat min-max per-tensor quantization
 *   - multipoint at a 4.5-bit average beats uniform 4 bits
 * "Beat" is judged first by fidelity to the float model, the mean KL(p_float ‖ p_quantized) of
 * the predicted distributions over the eval set (what quantization changes, prediction by
 * prediction), and asserted with a margin (at least 1.5x lower). The task metric must agree:
 * lower perplexity for the LMs; for the MNIST MLP, whose W4 models are at float quality (their
 * NLL moves by noise of either sign), accuracy at least the baseline's.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '../src/index';
import { registerFileRouters } from '../src/io/file_io';
import { MODELS_DIR } from '../models/eval';
import {
  convertAndEvaluate, evaluator, floatReference, isTrainedModel, lmData, mnistData, EvalData, Metric,
} from '../tools/convert_table';
import type { ConvertOptions } from '../src/converter/convert';

registerFileRouters();
tf.env().set('PROD', true);

const MARGIN = 1.5;

const models: Array<{ name: string; data: (dir: string) => EvalData; calibrationSamples: number }> = [
  { name: 'mnist-mlp', data: () => mnistData(2000), calibrationSamples: 256 },
  { name: 'lstm-lm', data: (dir) => lmData(dir, 32), calibrationSamples: 32 },
  { name: 'gru-lm', data: (dir) => lmData(dir, 32), calibrationSamples: 32 },
];

/** The task metric of `a` is no worse than `b`'s (accuracy: ≥, perplexity: <). */
function expectTaskMetricNoWorse(a: Metric, b: Metric): void {
  if (a.name === 'accuracy') expect(a.value).toBeGreaterThanOrEqual(b.value);
  else expect(a.nll).toBeLessThan(b.nll);
}

for (const { name, data, calibrationSamples } of models) {
  const d = isTrainedModel(name) ? describe : describe.skip;
  d(`bundled ${name}`, () => {
    const dir = path.join(MODELS_DIR, name);
    let evaluate: (m: import('@tensorflow/tfjs-layers').LayersModel) => Promise<Metric>;
    const run = async (options: Partial<ConvertOptions>) => convertAndEvaluate(dir, { calibrationSamples, ...options }, evaluate);
    const uniform4: { metric?: Metric } = {};

    beforeAll(async () => {
      const set = data(dir);
      evaluate = evaluator(set, await floatReference(dir, set));
    });

    for (const bits of [3, 4]) {
      it(`W${bits}: MSE ranges + bias correction beat min-max per tensor`, async () => {
        const base = await run({ weightBits: bits, range: 'minmax-tensor' });
        const best = await run({ weightBits: bits, range: 'mse', biasCorrection: true });
        if (bits === 4) uniform4.metric = best.metric;
        expect(best.report.tensors.every((t) => t.biasCorrected || t.role === 'recurrent_kernel')).toBe(true);
        expect(best.metric.kl as number).toBeLessThan((base.metric.kl as number) / MARGIN);
        expectTaskMetricNoWorse(best.metric, base.metric);
      });
    }

    it('multipoint at 4.5 average bits beats uniform 4 bits', async () => {
      const uniform = uniform4.metric ?? (await run({ weightBits: 4, range: 'mse', biasCorrection: true })).metric;
      const mp = await run({ weightBits: 4, range: 'mse', biasCorrection: true, multipoint: true, budget: 4.5 });
      expect(mp.report.totals.avgBits).toBeLessThanOrEqual(4.5 + 1e-9);
      expect(mp.report.totals.avgBits).toBeGreaterThan(4.4);
      expect(mp.report.tensors.some((t) => t.maxBits > 4)).toBe(true);
      expect(mp.metric.kl as number).toBeLessThan((uniform.kl as number) / MARGIN);
      if (mp.metric.name === 'perplexity') expect(mp.metric.nll).toBeLessThan(uniform.nll);
    });
  });
}
