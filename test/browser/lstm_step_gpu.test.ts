/** The fused LSTM step kernel in GLSL against the composed quantized path, in headless Chromium. */
import * as path from 'path';
import { usePage } from './page_fixture';

const page = usePage(path.join(__dirname, 'pages', 'lstm_page.ts'));

describe('PbqLSTMStep (GLSL)', () => {
  it('stock tf.layers.lstm runs the fused kernel on WebGL and equals the composed path to float32 rounding', async () => {
    for (const [act, bits, seed] of [['hardSigmoid', 4, 40], ['sigmoid', 8, 80], ['hardSigmoid', 2, 20]] as const) {
      const r = await page().call('compare', act, bits, seed);
      expect(r.base).toBe('webgl');
      expect(r.fused.usedKernel).toBe(true);
      expect(r.composed.usedKernel).toBe(false);
      const worst = Math.max(...r.fused.out.map((v: number, i: number) => Math.abs(v - r.composed.out[i])));
      expect(worst).toBeLessThan(2e-6);
      expect(r.after).toBe(r.before);
    }
  });
});
