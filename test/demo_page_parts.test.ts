/** The demo page's pure parts (tools/demo_page/digits.ts, lm.ts), in Node. */
import * as tf from '@tensorflow/tfjs-core';
import '../src/index';
import { rnnLm } from './converter_helpers';
import { useFastCpuSliceKernels } from '../models/eval';
import { boundingBox, centerByMass, centerOfMass, fitBox, shiftImage } from '../tools/demo_page/digits';
import { decode, encode, generate, mulberry32, sample, statefulCopy } from '../tools/demo_page/lm';
import { parseAccumulator } from '../tools/demo_page/settings';

describe('digit preprocessing (MNIST style)', () => {
  it('finds the ink, fits it into 20x20 with its aspect, centres it by mass', () => {
    const w = 10, h = 8;
    const gray = new Uint8Array(w * h);
    gray[2 * w + 3] = 200; gray[5 * w + 7] = 255; gray[4 * w + 5] = 5; // the 5 is below the threshold
    expect(boundingBox(gray, w, h)).toEqual([3, 2, 7, 5]);
    expect(boundingBox(new Uint8Array(w * h), w, h)).toBeNull();
    expect(fitBox(50, 100)).toEqual({ x: 9, y: 4, w: 10, h: 20 });
    const img = new Float32Array(784);
    img[3 * 28 + 4] = 1; img[3 * 28 + 6] = 1; // mass at (5, 3)
    expect(centerOfMass(img)).toEqual([5, 3]);
    const centred = centerByMass(img); // moved by (round(13.5 - 5), round(13.5 - 3)) = (9, 11)
    expect(centerOfMass(centred)).toEqual([14, 14]);
    expect(centred[14 * 28 + 13]).toBe(1);
    expect(shiftImage(img, -10, 0).reduce((a, b) => a + b, 0)).toBe(0); // shifted out
  });
});

describe('LM text generation', () => {
  it('encodes and decodes through the vocabulary (unknown = id 0), and samples with a seeded PRNG', () => {
    const vocab = ['?', ' ', 'a', 'b'];
    expect(encode('Ab z', vocab)).toEqual([2, 3, 1, 0]);
    expect(decode([2, 1, 3], vocab)).toBe('a b');
    expect(Array.from({ length: 3 }, mulberry32(7))).toEqual(Array.from({ length: 3 }, mulberry32(7)));
    expect(sample([0, 0, 1, 0], 0.6, () => 0.99)).toBe(2);
    expect(sample([0.5, 0.5], 1, () => 0.49)).toBe(0);
    expect(sample([0.5, 0.5], 1, () => 0.51)).toBe(1);
    // A low temperature sharpens: p^(1/T), so 0.6 vs 0.4 at T = 0.1 is ~0.983 vs ~0.017.
    expect(sample([0.6, 0.4], 0.1, () => 0.98)).toBe(0);
  });

  it("the stateful one-step copy gives the full model's probabilities, character by character", async () => {
    await tf.setBackend('cpu');
    useFastCpuSliceKernels(); // bit-identical, fast LSTM steps on 'cpu'
    const model = rnnLm('lstm', 20, 5);
    const copy = await statefulCopy(model);
    const ids = [3, 1, 4, 1, 5, 9, 2, 6];
    const full = tf.tidy(() => (model.predict(tf.tensor2d([ids])) as tf.Tensor).arraySync() as number[][][])[0];
    copy.resetStates();
    ids.forEach((id, t) => {
      const step = tf.tidy(() => (copy.predict(tf.tensor2d([[id]])) as tf.Tensor).arraySync() as number[][][])[0][0];
      step.forEach((p, v) => expect(Math.abs(p - full[t][v])).toBeLessThan(1e-6));
    });
    const a = generate(copy, ids, 12, 0.6, 7);
    expect(a).toHaveLength(12);
    expect(generate(copy, ids, 12, 0.6, 7)).toEqual(a); // resets its state: the same text again
    model.dispose();
    copy.dispose();
  });

  it('parses the accumulator selector values, and names an unknown one', () => {
    expect(parseAccumulator('exact')).toEqual({ type: 'exact' });
    expect(parseAccumulator('int:21:wrap')).toEqual({ type: 'int', bits: 21, overflow: 'wrap' });
    expect(parseAccumulator('float:7:4:16')).toEqual({ type: 'float', mantissa: 7, exponent: 4, chunk: 16, rounding: 'floor' });
    expect(() => parseAccumulator('fixed:8')).toThrow("unknown accumulator 'fixed:8'");
  });
});
