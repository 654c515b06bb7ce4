/**
 * The GLSL bitlayer kernels (WebGL 2 on SwiftShader in headless Chromium) against the CPU
 * engine: identical integer partial sums, outputs equal to float32 rounding.
 */
import * as path from 'path';
import { closeBrowser, openPage, PageHandle } from '../../tools/harness/browser';
import { cpuAccumulatorPartials, cpuOutput, cpuPartials, randomCase, seededOutput } from '../bitlayer_oracle';
import * as pbq from '../../src/index';
import type { MatMulCase } from './pages/bitlayer_page';
import { decodeFloats, encodeFloats } from './pages/float_codec';

let page: PageHandle;

beforeAll(async () => {
  page = await openPage(path.join(__dirname, 'pages', 'bitlayer_page.ts'));
}, 180_000);

afterAll(async () => {
  await page?.close();
  await closeBrowser();
});

/** Shapes [a, b] covering K not a multiple of 32, K = 1, N = 1, M = 1, batches and broadcasts. */
const SHAPES: Array<[number[], number[], boolean?, boolean?]> = [
  [[1, 1], [1, 1]],
  [[3, 17], [17, 5]],
  [[2, 32], [32, 1]],
  [[4, 33], [33, 3]],
  [[1, 100], [100, 7]],
  [[2, 3, 40], [2, 40, 4]],
  [[3, 2, 20], [1, 20, 3]],
  [[2, 1, 3, 9], [1, 4, 9, 2]],
  [[45, 2], [3, 45], true, true],
  [[5, 16], [3, 16], false, true],
];

async function expectPartialsEqual(c: MatMulCase) {
  const gpu = await page.call('partials', c);
  expect(decodeFloats(gpu.values)).toEqual(cpuPartials(c));
}

describe('GLSL partial sums equal the CPU engine bit for bit', () => {
  it('on random shapes (transposes, batches, broadcasting) at every weight and activation width', async () => {
    let seed = 1;
    for (const [aShape, bShape, tA, tB] of SHAPES) {
      const aS = tA ? [...aShape] : aShape;
      for (let bits = 1; bits <= 16; bits++) {
        // every weight width with a varying activation width, and vice versa
        await expectPartialsEqual(randomCase(seed++, aS, bShape, bits, 1 + ((bits * 5) % 16), { transposeA: tA, transposeB: tB }));
        await expectPartialsEqual(randomCase(seed++, aS, bShape, 1 + ((bits * 7) % 16), bits, { transposeA: tA, transposeB: tB }));
      }
    }
  });

  it('on all-ones words (codes -1 in every plane, full sign planes)', async () => {
    for (const bits of [1, 4, 8, 16]) {
      const K = 70;
      const step = 2 ** -(bits - 1);
      const a = Array.from({ length: 2 * K }, (_, i) => (i % K === 0 ? 1 : -step)); // codes 2^(A-1), then -1s
      const b = Array.from({ length: K * 2 }, (_, i) => (i % 2 === 0 ? -1 : (i < 4 ? 1 : -1e-3))); // q = -2^(n-1) / -1
      await expectPartialsEqual({ a: { values: a, shape: [2, K] }, b: { values: b, shape: [K, 2] }, weightBits: bits, activationBits: bits });
    }
  });

  it('with truncated weight planes after a higher-bit run (no re-quantization)', async () => {
    const c = randomCase(99, [3, 50], [50, 6], 12, 8);
    await expectPartialsEqual(c);
    for (const t of [8, 4, 2, 1]) await expectPartialsEqual({ ...c, weightBits: t });
  });
});

function expectCloseToFloat32Rounding(gpu: number[], cpu: number[]) {
  expect(gpu.length).toBe(cpu.length);
  const scale = Math.max(1e-30, ...cpu.filter((v) => !Number.isNaN(v)).map(Math.abs));
  for (let i = 0; i < cpu.length; i++) {
    if (Number.isNaN(cpu[i])) {
      expect(gpu[i]).toBeNaN();
    } else {
      expect(Math.abs(gpu[i] - cpu[i])).toBeLessThanOrEqual(4e-6 * scale);
    }
  }
}

describe('GLSL outputs equal the CPU backend to float32 rounding', () => {
  it('plain matmuls on random shapes and bit widths', async () => {
    let seed = 1000;
    for (const [aShape, bShape, tA, tB] of SHAPES) {
      for (const [w, a] of [[1, 8], [4, 8], [8, 8], [2, 16], [16, 16]]) {
        const c = randomCase(seed++, aShape, bShape, w, a, { transposeA: tA, transposeB: tB });
        const gpu = await page.call('matmul', c);
        const cpu = await cpuOutput(c);
        expect(gpu.shape).toEqual(cpu.shape);
        expectCloseToFloat32Rounding(decodeFloats(gpu.values), cpu.values);
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
      const gpu = await page.call('matmul', c);
      const cpu = await cpuOutput(c);
      expectCloseToFloat32Rounding(decodeFloats(gpu.values), cpu.values);
    }
  });

  it('row exponents are exact, including powers of two, zero, tiny, NaN and Inf rows', async () => {
    const rows = [[1, -0.5], [0.99999994, 0], [-3, 2.5], [0, 0], [1e-35, 0], [NaN, 1], [1, -Infinity], [3e38, 1], [2 ** -100, 0]];
    const got = await page.call('rowExponents', { values: encodeFloats(rows.flat()), shape: [rows.length, 2] });
    expect(decodeFloats(got)).toEqual([0, -1, 1, -1000, -1000, NaN, NaN, 127, -100]);
  });

  it('NaN in a B operand that is not a weight gives NaN in that output column only', async () => {
    const c = randomCase(3100, [3, 20], [20, 4], 4, 8);
    c.b.values[4 * 7 + 2] = 'NaN'; // column 2
    const gpu = decodeFloats((await page.call('matmul', c)).values);
    expect([2, 6, 10].every((i) => Number.isNaN(gpu[i]))).toBe(true);
    expect(gpu.filter(Number.isNaN).length).toBe(3);
    expectCloseToFloat32Rounding(gpu, (await cpuOutput(c)).values);
  });

  it('NaN in an activation row gives NaN in that output row only', async () => {
    const c = randomCase(3000, [3, 20], [20, 4], 4, 8);
    c.a.values[25] = 'NaN'; // row 1
    const gpu = await page.call('matmul', c);
    const cpu = await cpuOutput(c);
    expect(decodeFloats(gpu.values).slice(4, 8).every(Number.isNaN)).toBe(true);
    expectCloseToFloat32Rounding(decodeFloats(gpu.values), cpu.values);
  });
});

describe('every WebGL product (PBQ_WEBGL_PRODUCT) gives the same integers', () => {
  /** The product the flag value serves for this case (select_product.ts; the page runs SwiftShader). */
  function expectedProduct(flag: string, t: number, A: number): string {
    // pairsField: 2-bit codes for t ≤ 2 with A ≤ 9, 4-bit codes for t = 3, 4 with A ≤ 8
    const pairsFit = t <= 2 ? A <= 9 : t <= 4 && A <= 8;
    const wanted = flag === 'auto' ? (pairsFit ? 'pairs' : t >= 4 && t <= 8 ? 'codes' : 'planes') : flag;
    const order = ['pairs', 'codes', 'planes', 'sampler'];
    const serves = (p: string) => (p === 'pairs' ? pairsFit : p === 'codes' ? t <= 8 : true);
    return order.slice(order.indexOf(wanted)).find(serves) as string;
  }

  /** Runs a case through every flag value; checks which program ran and that all agree. */
  async function expectKernelsAgree(c: MatMulCase, k: number) {
    const r = await page.call('matmulAllProducts', c);
    for (const flag of pbq.WEBGL_PRODUCTS) {
      const ran = expectedProduct(flag, c.weightBits, c.activationBits);
      expect({ flag, runs: r[flag].runs }).toEqual({
        flag, runs: { planes: 0, codes: 0, pairs: 0, sampler: 0, narrow: 0, [ran]: 1 },
      });
    }
    const planes = decodeFloats(r.planes.values);
    const cpu = (await cpuOutput(c)).values;
    for (const flag of pbq.WEBGL_PRODUCTS) {
      const values = decodeFloats(r[flag].values);
      // All sum the same integers d; exactly, while |d| ≤ K(2^A−1)(2^t−1) stays below 2^24.
      if (k * (2 ** c.activationBits - 1) * (2 ** c.weightBits - 1) < 2 ** 24) expect(values).toEqual(planes);
      expectCloseToFloat32Rounding(values, cpu);
    }
  }

  it('reads the SwiftShader device profile from the renderer string', async () => {
    expect(await page.call('deviceProfile')).toBe('swiftshader');
  });

  it('on random shapes at weight widths 1..8 and activation widths 4, 8, 16', async () => {
    let seed = 3000;
    for (const [aShape, bShape, tA, tB] of SHAPES) {
      for (let w = 1; w <= 8; w++) {
        const a = [4, 8, 16][w % 3];
        const c = randomCase(seed++, aShape, bShape, w, a, { transposeA: tA, transposeB: tB });
        await expectKernelsAgree(c, tA ? aShape[aShape.length - 2] : aShape[aShape.length - 1]);
        if (w <= 4 && a !== 8) await expectKernelsAgree({ ...c, activationBits: w <= 2 ? 9 : 8 }, tA ? aShape[aShape.length - 2] : aShape[aShape.length - 1]);
      }
    }
  });

  it('on extreme codes (all-ones words, −2^(t−1) and 2^(A−1)), and in exact float chunks past 2^24 (W8A16, K = 300)', async () => {
    const big = randomCase(3100, [3, 300], [300, 9], 8, 16);
    await expectKernelsAgree(big, 300);
    for (const bits of [1, 2, 3, 4, 8]) {
      const K = 70;
      const A = bits <= 2 ? 9 : 8;
      const step = 2 ** -(A - 1);
      const a = Array.from({ length: 2 * K }, (_, i) => (i % K === 0 ? 1 : (i % 3 === 0 ? -1 : -step)));
      const b = Array.from({ length: K * 5 }, (_, i) => (i % 5 === 0 ? -1 : (i < 10 ? 1 : -1e-3)));
      await expectKernelsAgree({ a: { values: a, shape: [2, K] }, b: { values: b, shape: [K, 5] }, weightBits: bits, activationBits: A }, K);
    }
  });
});

describe('stored planes (converter output) with per-channel bit widths', () => {
  it('equal the CPU engine on the same seeded planes, at full and truncated weight bits', async () => {
    const c = randomCase(4000, [3, 45], [45, 6], 6, 8);
    const stored = { ranges: [0.5, 0.6, 0.3, 0.7, 0.2, 0.65], channelBits: [6, 4, 2, 6, 5, 3] };
    for (const weightBits of [6, 4, 3, 1]) {
      const gpu = await page.call('matmulSeeded', { ...c, weightBits }, stored);
      const cpu = await seededOutput({ ...c, weightBits }, stored);
      expectCloseToFloat32Rounding(decodeFloats(gpu.values), cpu.values);
    }
  });
});

describe('simulated narrow accumulators in GLSL equal the CPU engine bit for bit', () => {
  const FORMATS: pbq.AccumulatorConfig[] = [
    { type: 'int', bits: 8, overflow: 'wrap' },
    { type: 'int', bits: 12, overflow: 'saturate' },
    { type: 'int', bits: 20, overflow: 'wrap' },
    { type: 'int', bits: 32, overflow: 'saturate' },
    { type: 'float', mantissa: 7, exponent: 4, chunk: 16, rounding: 'floor' },
    { type: 'float', mantissa: 3, exponent: 2, chunk: 1, rounding: 'nearest' },
    { type: 'float', mantissa: 10, exponent: 5, chunk: 4, rounding: 'nearest' },
    { type: 'float', mantissa: 2, exponent: 3, chunk: 64, rounding: 'floor' },
  ];

  it('registers and overflow/saturation/underflow counts, on cases built to trigger them', async () => {
    let seed = 5000;
    for (const accumulator of FORMATS) {
      for (const [aShape, bShape, w, a] of [[[3, 300], [300, 5], 4, 8], [[2, 2, 70], [70, 3], 3, 6], [[1, 33], [33, 2], 8, 12]] as const) {
        const c = randomCase(seed++, [...aShape], [...bShape], w, a, { accumulator });
        // all-positive operands make sums large (overflow); the random signs give small ones (underflow)
        if (seed % 2 === 0) c.a.values = c.a.values.map((v) => Math.abs(Number(v)));
        const gpu = decodeFloats((await page.call('partials', c)).values);
        const cpu = cpuAccumulatorPartials(c);
        expect(gpu).toEqual(cpu);
      }
    }
  });

  it('outputs and accumulatorStats() agree with the CPU backend', async () => {
    let seed = 6000;
    let sawOverflow = false;
    let sawUnderflow = false;
    for (const accumulator of FORMATS) {
      const c = randomCase(seed++, [2, 3, 100], [100, 4], 4, 8, { accumulator, activation: 'relu', bias: { values: [1, -1, 0.5, 0], shape: [4] } });
      c.a.values = c.a.values.map((v) => Math.abs(Number(v)));
      const gpuStats = await page.call('statsAfter', c);
      pbq.resetAccumulatorStats();
      const cpu = await cpuOutput(c);
      expect(gpuStats).toEqual(pbq.accumulatorStats());
      sawOverflow ||= gpuStats.overflows > 0;
      sawUnderflow ||= gpuStats.underflows > 0;
      const gpu = await page.call('matmul', c);
      expectCloseToFloat32Rounding(decodeFloats(gpu.values), cpu.values);
    }
    expect(sawOverflow && sawUnderflow).toBe(true);
  });
});

describe('GPU memory', () => {
  it('returns to its baseline after many calls and after disposing the weight', async () => {
    const m = await page.call('memoryAfterManyCalls', 40);
    expect(m.during.cached).toBe(1);
    expect(m.after.cached).toBe(0);
    expect(m.during.numTensors).toBe(m.before.numTensors + 1);
    expect(m.after.numTensors).toBe(m.before.numTensors);
    expect(m.after.numBytesInGPU).toBe(m.before.numBytesInGPU);
  });
});
