/**
 * The GLSL bitlayer products (WebGL 2 on SwiftShader in headless Chromium) against the CPU
 * engine, which runs in the same page (pbq-cpu): identical integer partial sums, outputs equal
 * to float32 rounding, every product of the PBQ_WEBGL_PRODUCT flag. Page: pages/bitlayer_page.ts.
 */
import * as path from 'path';
import { gpuRequested } from '../../tools/harness/browser';
import { usePage } from './page_fixture';
import * as pbq from '../../src/index';
import type { CaseSpec, Comparison, OperandSpec } from './pages/bitlayer_page';

const page = usePage(path.join(__dirname, 'pages', 'bitlayer_page.ts'));

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

/** Every value of the flag, and the products whose integer partial sums a test can read. */
const PRODUCTS = pbq.WEBGL_PRODUCTS;
const PARTIAL_SUM_PRODUCTS = ['planes', 'sampler'] as const;
/** GPU vs CPU outputs: |Δ| ≤ 4e-6 · max |y| (float32 rounding of the same integers and scales). */
const FLOAT32_ROUNDING = 4e-6;

const random = (shape: number[], seed: number, scale: number): OperandSpec => ({ shape, seed, scale });

/** A random case; shapes are the operands' shapes (transposes already applied). */
function randomCase(seed: number, aShape: number[], bShape: number[], weightBits: number, activationBits: number,
  opts: Partial<CaseSpec> = {}): CaseSpec {
  return { a: random(aShape, seed, 2), b: random(bShape, seed + 1, 0.7), weightBits, activationBits, ...opts };
}

/** K of a case (the contracted dimension of A). */
function kOf(c: CaseSpec): number {
  const s = c.a.shape;
  return c.transposeA ? s[s.length - 2] : s[s.length - 1];
}

function expectSame(cmp: Comparison, what: string) {
  expect({ what, mismatches: cmp.mismatches }).toEqual({ what, mismatches: [] });
  expect(cmp.length).toBeGreaterThan(0);
}

/** Where the planes' pack passes read the codes (A itself, or the codes pass: transposed A). */
const packSources = new Set<string>();

async function expectPartialsEqual(c: CaseSpec) {
  for (const product of PARTIAL_SUM_PRODUCTS) {
    const r = await page().call('partials', c, product);
    expect(r.program).toBe(product);
    if (r.from) packSources.add(r.from);
    expectSame(r, `${product} partial sums`);
  }
}

describe('GLSL partial sums equal the CPU engine bit for bit (planes core and sampler)', () => {
  it('on random shapes (transposes, batches, broadcasting) at every weight and activation width', async () => {
    let seed = 1;
    for (const [aShape, bShape, tA, tB] of SHAPES) {
      for (let bits = 1; bits <= 16; bits++) {
        // every weight width with a varying activation width, and vice versa
        await expectPartialsEqual(randomCase(seed++, aShape, bShape, bits, 1 + ((bits * 5) % 16), { transposeA: tA, transposeB: tB }));
        await expectPartialsEqual(randomCase(seed++, aShape, bShape, 1 + ((bits * 7) % 16), bits, { transposeA: tA, transposeB: tB }));
      }
    }
    expect([...packSources].sort()).toEqual(['activations', 'codes']);
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

/** Runs a case through every product; expects each output equal to the CPU engine's to float32 rounding. */
async function expectOutputsClose(c: CaseSpec) {
  const r = await page().call('outputs', c, PRODUCTS, FLOAT32_ROUNDING, false);
  for (const product of PRODUCTS) {
    expect(r.byProduct[product].shape).toEqual(r.cpuShape);
    expectSame(r.byProduct[product].vsCpu, `${product} output`);
  }
  return r;
}

describe('GLSL outputs equal the CPU backend to float32 rounding, under every product', () => {
  it('plain matmuls on random shapes and bit widths', async () => {
    let seed = 1000;
    for (const [aShape, bShape, tA, tB] of SHAPES) {
      for (const [w, a] of [[1, 8], [4, 8], [8, 8], [2, 16], [16, 16]]) {
        await expectOutputsClose(randomCase(seed++, aShape, bShape, w, a, { transposeA: tA, transposeB: tB }));
      }
    }
  });

  it('every fused activation with broadcast bias and prelu weights', async () => {
    let seed = 2000;
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'prelu', 'leakyrelu', 'sigmoid'] as const) {
      await expectOutputsClose(randomCase(seed++, [2, 3, 37], [37, 5], 4, 8, {
        activation,
        bias: { values: [0.5, -1, 2, 0, -0.25], shape: [5] },
        prelu: activation === 'prelu' ? { values: [0.1, 0.2, 0.3, 0.4, 0.5], shape: [5] } : undefined,
        leakyreluAlpha: activation === 'leakyrelu' ? 0.3 : undefined,
      }));
    }
  });

  it('row exponents are exact, including powers of two, zero, tiny, NaN and Inf rows', async () => {
    const rows = [[1, -0.5], [0.99999994, 0], [-3, 2.5], [0, 0], [1e-35, 0], ['NaN', 1], [1, '-Infinity'], [3e38, 1], [2 ** -100, 0]];
    const got = await page().call('rowExponents', rows.flat(), [rows.length, 2]);
    expect(got).toEqual(['0', '-1', '1', '-1000', '-1000', 'NaN', 'NaN', '127', '-100']);
  });

  it('NaN in a B operand that is not a weight gives NaN in that output column only', async () => {
    const r = await expectOutputsClose(randomCase(3100, [3, 20], [20, 4], 4, 8, { nan: [['b', 4 * 7 + 2]] })); // column 2
    expect(r.cpuNaN).toEqual([2, 6, 10]);
    for (const product of PRODUCTS) expect({ product, nan: r.byProduct[product].nan }).toEqual({ product, nan: [2, 6, 10] });
  });

  it('NaN in an activation row gives NaN in that output row only', async () => {
    const r = await expectOutputsClose(randomCase(3000, [3, 20], [20, 4], 4, 8, { nan: [['a', 25]] })); // row 1
    for (const product of PRODUCTS) expect({ product, nan: r.byProduct[product].nan }).toEqual({ product, nan: [4, 5, 6, 7] });
  });
});

describe('every WebGL product (PBQ_WEBGL_PRODUCT) gives the same integers', () => {
  /** The device profile of the page: SwiftShader, or a real GPU with PBQ_CHROMIUM_GPU=1 (tools/harness/browser.ts). */
  const PROFILE = gpuRequested() ? 'gpu' : 'swiftshader';

  /** The product the flag value serves for this case (select_product.ts, device_profile.ts). */
  function expectedProduct(flag: string, t: number, A: number): string {
    // pairsField: 2-bit codes for t ≤ 2 with A ≤ 9, 4-bit codes for t = 3, 4 with A ≤ 8
    const pairsFit = t <= 2 ? A <= 9 : t <= 4 && A <= 8;
    const swiftshaderAuto = pairsFit ? 'pairs' : t >= 4 && t <= 8 ? 'codes' : 'planes';
    const wanted = flag === 'auto' ? (PROFILE === 'gpu' ? 'planes' : swiftshaderAuto) : flag;
    const order = ['pairs', 'codes', 'planes', 'sampler'];
    const serves = (p: string) => (p === 'pairs' ? pairsFit : p === 'codes' ? t <= 8 : true);
    return order.slice(order.indexOf(wanted)).find(serves) as string;
  }

  /** Runs a case through every flag value; checks which program ran, that all agree, and the CPU. */
  async function expectKernelsAgree(c: CaseSpec) {
    // planes first: the others are compared with it. All sum the same integers d; exactly, while
    // |d| ≤ K(2^A−1)(2^t−1) stays below 2^24.
    const order = ['planes', ...PRODUCTS.filter((p) => p !== 'planes')];
    const exact = kOf(c) * (2 ** c.activationBits - 1) * (2 ** c.weightBits - 1) < 2 ** 24;
    const r = await page().call('outputs', c, order, FLOAT32_ROUNDING, exact);
    for (const flag of PRODUCTS) {
      const ran = expectedProduct(flag, c.weightBits, c.activationBits);
      const got = r.byProduct[flag];
      expect({ flag, runs: got.runs }).toEqual({ flag, runs: { planes: 0, codes: 0, pairs: 0, sampler: 0, narrow: 0, [ran]: 1 } });
      if (exact) expectSame(got.vsFirst, `${flag} vs planes`);
      expectSame(got.vsCpu, `${flag} vs CPU`);
    }
  }

  it(`reads the ${PROFILE} device profile from the renderer string`, async () => {
    expect(await page().call('deviceProfile')).toBe(PROFILE);
  });

  it('on random shapes at weight widths 1..8 and activation widths 4, 8, 16', async () => {
    let seed = 3000;
    for (const [aShape, bShape, tA, tB] of SHAPES) {
      for (let w = 1; w <= 8; w++) {
        const a = [4, 8, 16][w % 3];
        const c = randomCase(seed++, aShape, bShape, w, a, { transposeA: tA, transposeB: tB });
        await expectKernelsAgree(c);
        if (w <= 4 && a !== 8) await expectKernelsAgree({ ...c, activationBits: w <= 2 ? 9 : 8 });
      }
    }
  });

  it('on extreme codes (all-ones words, −2^(t−1) and 2^(A−1)), and in exact float chunks past 2^24 (W8A16, K = 300)', async () => {
    await expectKernelsAgree(randomCase(3100, [3, 300], [300, 9], 8, 16));
    for (const bits of [1, 2, 3, 4, 8]) {
      const K = 70;
      const A = bits <= 2 ? 9 : 8;
      const step = 2 ** -(A - 1);
      const a = Array.from({ length: 2 * K }, (_, i) => (i % K === 0 ? 1 : (i % 3 === 0 ? -1 : -step)));
      const b = Array.from({ length: K * 5 }, (_, i) => (i % 5 === 0 ? -1 : (i < 10 ? 1 : -1e-3)));
      await expectKernelsAgree({ a: { values: a, shape: [2, K] }, b: { values: b, shape: [K, 5] }, weightBits: bits, activationBits: A });
    }
  });
});

describe('stored planes (converter output) with per-channel bit widths', () => {
  it('equal the CPU engine on the same planes under every product, at full and truncated weight bits', async () => {
    const c = randomCase(4000, [3, 45], [45, 6], 6, 8);
    const stored = { ranges: [0.5, 0.6, 0.3, 0.7, 0.2, 0.65], channelBits: [6, 4, 2, 6, 5, 3] };
    for (const weightBits of [6, 4, 3, 1]) {
      const r: Record<string, Comparison> = await page().call('storedPlanes', { ...c, weightBits }, stored, PRODUCTS, FLOAT32_ROUNDING);
      for (const product of PRODUCTS) expectSame(r[product], `${product} at W${weightBits}`);
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
        // all-positive activations make sums large (overflow); the random signs give small ones (underflow)
        const c = randomCase(seed++, [...aShape], [...bShape], w, a, { accumulator });
        if (seed % 2 === 0) c.a = { shape: [...aShape], seed: seed - 1, scale: 2, abs: true };
        const r = await page().call('partials', c, 'planes');
        expect(r.program).toBe('narrow');
        expectSame(r, `${JSON.stringify(accumulator)} registers and events`);
      }
    }
  });

  it('outputs and accumulatorStats() agree with the CPU backend', async () => {
    let seed = 6000;
    let sawOverflow = false;
    let sawUnderflow = false;
    for (const accumulator of FORMATS) {
      const c = randomCase(seed, [2, 3, 100], [100, 4], 4, 8, { accumulator, activation: 'relu', bias: { values: [1, -1, 0.5, 0], shape: [4] } });
      c.a = { shape: [2, 3, 100], seed: seed++, scale: 2, abs: true };
      const r = await page().call('accumulatorRun', c, FLOAT32_ROUNDING);
      expect(r.runs.narrow).toBe(1);
      expect(r.gpuStats).toEqual(r.cpuStats);
      expect(r.gpuStats.additions).toBeGreaterThan(0);
      expectSame(r.vsCpu, `${JSON.stringify(accumulator)} output`);
      sawOverflow ||= r.gpuStats.overflows > 0;
      sawUnderflow ||= r.gpuStats.underflows > 0;
    }
    expect(sawOverflow && sawUnderflow).toBe(true);
  });
});

describe('GPU memory', () => {
  it('returns to its baseline after many calls (every product and width) and after disposing the weight', async () => {
    const m = await page().call('memoryAfterManyCalls', 40);
    expect(m.during.cached).toBe(1);
    expect(m.after.cached).toBe(0);
    expect(m.during.numTensors).toBe(m.before.numTensors + 1);
    expect(m.after.numTensors).toBe(m.before.numTensors);
    expect(m.during.numBytesInGPU).toBeGreaterThan(m.before.numBytesInGPU); // the weight's layouts, raw textures included
    expect(m.after.numBytesInGPU).toBe(m.before.numBytesInGPU);
  });
});
