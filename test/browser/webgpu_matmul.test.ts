/**
 * pbq-webgpu (WGSL on SwiftShader's WebGPU in headless Chromium, a secure origin) against the
 * CPU engine: the products' exact integers d equal the engine's (the oracle runs in the page on
 * the same operands), outputs equal the Node CPU backend to float32 rounding, the fused LSTM
 * equals the composed path, simulated accumulators fall back to the engine, memory returns.
 */
import * as path from 'path';
import { closeBrowser, gpuRequested, openPage, PageHandle } from '../../tools/harness/browser';
import { cpuOutput, randomCase, seededOutput } from './webgpu_oracle';
import * as pbq from '../../src/index';
import type { MatMulCase } from './pages/webgpu_case';
import { decodeFloats } from './pages/webgpu_case';

let page: PageHandle;

beforeAll(async () => {
  page = await openPage(path.join(__dirname, 'pages', 'webgpu_page.ts'), { webgpu: true, callTimeoutMs: 300_000 });
}, 180_000);

afterAll(async () => {
  await page?.close();
  await closeBrowser();
});

/** Shapes [a, b] covering K not a multiple of 32, K = 1, N = 1, M = 1, batches, broadcasts and transposes. */
const SHAPES: Array<[number[], number[], boolean?, boolean?]> = [
  [[1, 1], [1, 1]],
  [[3, 17], [17, 5]],
  [[2, 32], [32, 1]],
  [[5, 33], [33, 9]],
  [[1, 100], [100, 7]],
  [[2, 3, 40], [2, 40, 4]],
  [[3, 2, 20], [1, 20, 3]],
  [[2, 1, 3, 9], [1, 4, 9, 2]],
  [[45, 2], [3, 45], true, true],
  [[5, 70], [6, 70], false, true],
];

const PRODUCTS = ['planes', 'dot4'] as const;

/** The product that serves a request for `product` (select_product.ts): dot4 holds 1..8 planes. */
function served(product: string, weightBits: number): string {
  return product === 'dot4' && weightBits > 8 ? 'planes' : product;
}

async function expectIntegersEqual(c: MatMulCase) {
  for (const product of PRODUCTS) {
    const r = await page.call('integers', c, product);
    expect({ product, served: r.served }).toEqual({ product, served: served(product, c.weightBits) });
    expect(r.gpu).toEqual(r.cpu);
  }
}

describe('pbq-webgpu', () => {
  // PBQ_CHROMIUM_GPU=1 (tools/harness/browser.ts): the machine's GPU, whose profile is 'gpu'
  it('runs on its own backend with the device profile of its adapter, in a secure context', async () => {
    const info = await page.call('info');
    expect(info).toMatchObject({ backend: 'pbq-webgpu', profile: gpuRequested() ? 'gpu' : 'swiftshader', isSecureContext: true });
    if (!gpuRequested()) expect(info.adapter.architecture).toBe('swiftshader');
  });
});

describe('WGSL integers d equal the CPU engine bit for bit', () => {
  it('on random shapes (transposes, batches, broadcasting, K=1, K%32≠0) at every weight and activation width, both products', async () => {
    // Every weight width at A8 and every activation width at W4, on every shape. (Bit widths are
    // compiled into the products, so the pairs are kept few: SwiftShader compiles each in ~0.5 s;
    // crossed pairs such as W16A16 are in the tests below.)
    let seed = 1;
    for (const [aShape, bShape, tA, tB] of SHAPES) {
      for (let bits = 1; bits <= 16; bits++) {
        await expectIntegersEqual(randomCase(seed++, aShape, bShape, bits, 8, { transposeA: tA, transposeB: tB }));
        await expectIntegersEqual(randomCase(seed++, aShape, bShape, 4, bits, { transposeA: tA, transposeB: tB }));
      }
    }
  });

  it('on extreme codes: all-ones words, −2^(t−1) and 2^A codes, full sign planes', async () => {
    for (const bits of [1, 4, 8, 16]) {
      const K = 70;
      const step = 2 ** -(bits - 1);
      const a = Array.from({ length: 2 * K }, (_, i) => (i % K === 0 ? 1 : (i % 3 === 0 ? -1 : -step)));
      const b = Array.from({ length: K * 5 }, (_, i) => (i % 5 === 0 ? -1 : (i < 10 ? 1 : -1e-3)));
      await expectIntegersEqual({ a: { values: a, shape: [2, K] }, b: { values: b, shape: [K, 5] }, weightBits: bits, activationBits: bits });
    }
  });

  it('when d needs several exact i32 parts (W16A16 and W8A16 at K = 3000, beyond 2^31)', async () => {
    for (const [w, a] of [[16, 16], [8, 16]]) {
      const c = randomCase(300 + w, [2, 3000], [3000, 6], w, a);
      const r = await page.call('integers', c, 'planes');
      expect(r.parts.exactInt).toBe(false);
      expect(r.parts.groups).toBeGreaterThan(1);
      expect(r.gpu).toEqual(r.cpu);
      if (w <= 8) {
        const d = await page.call('integers', c, 'dot4');
        expect({ served: d.served, groups: d.parts.groups }).toEqual({ served: 'dot4', groups: 3 });
        expect(d.gpu).toEqual(r.cpu);
      }
    }
  });

  it('past one chunk of words and one word per invocation (K = 2500: 79 words, 3 chunks)', async () => {
    for (const [w, a] of [[1, 8], [4, 8], [8, 7]]) await expectIntegersEqual(randomCase(500 + w, [2, 2500], [2500, 9], w, a));
  });

  it('for a B operand whose values exist only on the GPU (quantized there, the same integers)', async () => {
    let seed = 700;
    for (const [aShape, bShape, tA, tB] of [[[2, 3, 40], [2, 40, 4]], [[5, 70], [6, 70], false, true]] as const) {
      for (const [w, a] of [[1, 8], [3, 8], [16, 16]]) {
        const c = randomCase(seed++, [...aShape], [...bShape], w, a, { transposeA: tA, transposeB: tB });
        c.b.values[3] = 0; // an exact zero, and exact multiples of the range below
        c.b.values[5] = -Number(c.b.values[7]);
        const cpu = await cpuOutput(c);
        for (const product of PRODUCTS) {
          const r = await page.call('integersGpuResident', c, product);
          expect({ resident: r.resident, served: r.served }).toEqual({ resident: true, served: served(product, w) });
          expect(r.onDevice).toBeGreaterThan(0);
          expect(r.gpu).toEqual(r.cpu);
          expectCloseToFloat32Rounding(decodeFloats(r.values), cpu.values);
        }
      }
    }
    // exact quotients w·2^(n−1)/m at every width, non-power-of-two and subnormal ranges, ±0
    const columns = [
      [1, -1, 0.5, -0.5, 0.25, -0.25, 0.75, -0.125, 1e-40, -1e-40, 0, 2 ** -20],
      [3, -3, 1, -1, 1.5, -1.5, 0.375, -2.25, 2.999999, -1e-38, 1e-30, 0],
      [1e-39, -1e-39, 5e-40, -5e-40, 1e-45, -1e-45, 0, 3e-40, -7e-40, 2e-40, 1e-39, -2.5e-40],
    ];
    const b = columns[0].flatMap((_, k) => columns.map((col) => col[k]));
    for (const w of [1, 2, 3, 4, 6, 8, 12, 16]) {
      const c: MatMulCase = { ...randomCase(800 + w, [2, 12], [12, 3], w, 8), b: { values: b, shape: [12, 3] } };
      for (const product of PRODUCTS) {
        const r = await page.call('integersGpuResident', c, product);
        expect(r.gpu).toEqual(r.cpu);
      }
    }
  });

  it('with truncated weight planes after a higher-bit run (no re-quantization)', async () => {
    const c = randomCase(99, [3, 50], [50, 6], 12, 8);
    await expectIntegersEqual(c);
    for (const t of [8, 4, 3, 2, 1]) await expectIntegersEqual({ ...c, weightBits: t });
  });

  it('with stored per-channel plane counts (converter output), at full and truncated weight bits', async () => {
    const c = randomCase(4000, [3, 45], [45, 6], 6, 8);
    const stored = { ranges: [0.5, 0.6, 0.3, 0.7, 0.2, 0.65], channelBits: [6, 4, 2, 6, 5, 3] };
    for (const weightBits of [6, 4, 3, 1]) {
      const cpu = await seededOutput({ ...c, weightBits }, stored);
      for (const product of PRODUCTS) {
        const r = await page.call('seeded', { ...c, weightBits }, stored, product);
        expect(r.served).toBe(product);
        expect(r.gpu).toEqual(r.cpu);
        expectCloseToFloat32Rounding(decodeFloats(r.values), cpu.values);
      }
    }
  });
});

function expectCloseToFloat32Rounding(gpu: number[], cpu: number[]) {
  expect(gpu.length).toBe(cpu.length);
  const scale = Math.max(1e-30, ...cpu.filter((v) => !Number.isNaN(v)).map(Math.abs));
  for (let i = 0; i < cpu.length; i++) {
    if (Number.isNaN(cpu[i])) expect(gpu[i]).toBeNaN();
    else expect(Math.abs(gpu[i] - cpu[i])).toBeLessThanOrEqual(4e-6 * scale);
  }
}

describe('WGSL outputs equal the CPU backend to float32 rounding', () => {
  it('plain matmuls on random shapes and bit widths, both products', async () => {
    let seed = 1000;
    for (const [aShape, bShape, tA, tB] of SHAPES) {
      for (const [w, a] of [[1, 8], [4, 8], [16, 16]]) {
        const c = randomCase(seed++, aShape, bShape, w, a, { transposeA: tA, transposeB: tB });
        const cpu = await cpuOutput(c);
        for (const product of PRODUCTS) {
          const gpu = await page.call('matmul', c, product);
          expect(gpu.shape).toEqual(cpu.shape);
          expect(gpu.runs[served(product, w)]).toBe(1);
          expectCloseToFloat32Rounding(decodeFloats(gpu.values), cpu.values);
        }
      }
    }
  });

  it('every fused activation with broadcast bias and prelu weights', async () => {
    let seed = 2000;
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'prelu', 'leakyrelu', 'sigmoid'] as const) {
      const c = randomCase(seed++, [2, 3, 37], [37, 5], 4, 8, {
        activation,
        bias: { values: [0.5, -1, 2, 0, -0.25], shape: [5] },
        prelu: activation === 'prelu' ? { values: [0.1, 0.2, 0.3, 0.4, 0.5], shape: [5] } : undefined,
        leakyreluAlpha: activation === 'leakyrelu' ? 0.3 : undefined,
      });
      const cpu = await cpuOutput(c);
      for (const product of PRODUCTS) expectCloseToFloat32Rounding(decodeFloats((await page.call('matmul', c, product)).values), cpu.values);
    }
  });

  it('a bias broadcast over batches ([3, 1, 5] against [3, 2, 5])', async () => {
    const c = randomCase(2100, [3, 2, 11], [11, 5], 4, 8, { activation: 'relu', bias: { values: Array.from({ length: 15 }, (_, i) => i / 7 - 1), shape: [3, 1, 5] } });
    expectCloseToFloat32Rounding(decodeFloats((await page.call('matmul', c)).values), (await cpuOutput(c)).values);
  });

  it('NaN in a B operand that is not a weight gives NaN in that column only; NaN in A in that row only; zero rows give 0', async () => {
    const c = randomCase(3100, [3, 20], [20, 4], 4, 8);
    c.b.values[4 * 7 + 2] = 'NaN'; // column 2
    c.a.values.fill(0, 40, 60); // row 2 is zero
    for (const product of PRODUCTS) {
      const gpu = decodeFloats((await page.call('matmul', c, product)).values);
      expect(gpu.map(Number.isNaN)).toEqual([0, 1, 2].flatMap((r) => [0, 1, 2, 3].map((n) => n === 2 && r < 2)));
      expect(gpu.slice(8, 12)).toEqual([0, 0, 0, 0]);
      expectCloseToFloat32Rounding(gpu, (await cpuOutput(c)).values);
    }
    const d = randomCase(3000, [3, 20], [20, 4], 4, 8);
    d.a.values[25] = 'NaN'; // row 1
    const gpu = decodeFloats((await page.call('matmul', d)).values);
    expect(gpu.map(Number.isNaN)).toEqual([0, 1, 2].flatMap((r) => [0, 1, 2, 3].map(() => r === 1)));
    expectCloseToFloat32Rounding(gpu, (await cpuOutput(d)).values);
  });

  it('empty operands go to the stock webgpu kernel; K = 0 gives zeros (+ the fused bias and activation)', async () => {
    expect(await page.call('empty', [0, 5], [5, 3])).toEqual({ shape: [0, 3], values: [], pbqRuns: 0 });
    expect(await page.call('empty', [2, 0], [0, 3])).toEqual({ shape: [2, 3], values: [0, 0, 0, 0, 0, 0], pbqRuns: 0 });
    const c = randomCase(2200, [2, 0], [0, 3], 4, 8, { activation: 'elu', bias: { values: [1, -1, 0.5], shape: [3] } });
    const gpu = await page.call('matmul', c);
    expect(gpu.shape).toEqual([2, 3]);
    expectCloseToFloat32Rounding(decodeFloats(gpu.values), [1, Math.exp(-1) - 1, 0.5, 1, Math.exp(-1) - 1, 0.5]);
  });
});

describe('simulated narrow accumulators fall back to the CPU engine', () => {
  it('outputs and accumulatorStats() equal the CPU backend exactly', async () => {
    const formats: pbq.AccumulatorConfig[] = [
      { type: 'int', bits: 12, overflow: 'saturate' },
      { type: 'float', mantissa: 7, exponent: 4, chunk: 16, rounding: 'floor' },
      { type: 'float', mantissa: 3, exponent: 2, chunk: 1, rounding: 'nearest' },
    ];
    let seed = 6000;
    let sawOverflow = false;
    let sawUnderflow = false;
    for (const accumulator of formats) {
      const c = randomCase(seed++, [2, 3, 100], [100, 4], 4, 8, { accumulator, activation: 'relu', bias: { values: [1, -1, 0.5, 0], shape: [4] } });
      c.a.values = c.a.values.map((v) => Math.abs(Number(v)));
      const gpu = await page.call('statsAfter', c);
      pbq.resetAccumulatorStats();
      const cpu = await cpuOutput(c);
      expect(gpu.out.runs).toEqual({ planes: 0, dot4: 0, cpu: 1 });
      expect(gpu.stats).toEqual(pbq.accumulatorStats());
      sawOverflow ||= gpu.stats.overflows > 0;
      sawUnderflow ||= gpu.stats.underflows > 0;
      expect(decodeFloats(gpu.out.values)).toEqual(cpu.values);
    }
    expect(sawOverflow && sawUnderflow).toBe(true);
  });
});

describe('PbqLSTMStep (WGSL)', () => {
  it('stock tf.layers.lstm runs the fused kernel on pbq-webgpu and equals the composed path to float32 rounding', async () => {
    for (const [act, bits, seed] of [['hardSigmoid', 4, 40], ['sigmoid', 8, 80], ['hardSigmoid', 2, 20]] as const) {
      const r = await page.call('lstm', act, bits, seed);
      expect(r.fused.usedKernel).toBe(true);
      expect(r.composed.usedKernel).toBe(false);
      const worst = Math.max(...r.fused.out.map((v: number, i: number) => Math.abs(v - r.composed.out[i])));
      expect(worst).toBeLessThan(2e-6);
      expect(r.after).toBe(r.before);
    }
  });
});

describe('GPU memory', () => {
  it('returns to its baseline after many calls (every width, both products) and after disposing the weight', async () => {
    const m = await page.call('memoryAfterManyCalls', 24);
    expect(m.during.cached).toBe(2); // one weight quantized on the CPU, one on the GPU
    expect(m.after.cached).toBe(0);
    expect(m.during.numTensors).toBe(m.before.numTensors + 2);
    expect(m.after.numTensors).toBe(m.before.numTensors);
    expect(m.after.dataIds).toBe(m.before.dataIds);
    expect(m.during.dataIds).toBe(m.before.dataIds + 2); // the weights' buffers are not tensors of the engine
    expect(m.during.numBytesInGPU).toBeGreaterThan(m.before.numBytesInGPU);
    expect(m.after.numBytesInGPU).toBe(m.before.numBytesInGPU);
  });
});
