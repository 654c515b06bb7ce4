/**
 * The WebAssembly SIMD engine (kernels/wasm/) equals the TypeScript engine bit for bit: the
 * integers d and the outputs y, on every width pair 1..16 × 1..16, random shapes, extreme codes,
 * special rows, per-channel planes, batched weights and strided activations (the cases are in
 * wasm_engine_cases.ts; test/browser/wasm_engine.test.ts runs the same ones in Chromium).
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  defaultWasmLocation, loadWasmEngine, loadWasmEngineSync, SCRATCH_BLOCKS, TABLE_PAIRS, WasmEngine,
} from '../kernels/wasm/engine';
import { OwnHeap } from '../kernels/wasm/heap';
import {
  activationDigits, chunkBlocks, exactChunkBlocks, weightCodeBound, activationCodeBound, digitBound,
  laneGainPerBlock, tablePairsPerChunk,
} from '../kernels/wasm/plan';
import { quantizeWeights } from '../src/quantize';
import {
  everyWidthCases, extremeCases, layoutCases, randomFloats, randomShapeCases, runCases, specialRowCases,
} from './wasm_engine_cases';

describe('wasm engine equals the TypeScript engine', () => {
  let engine: WasmEngine;
  beforeAll(() => {
    engine = loadWasmEngineSync();
  });
  afterAll(() => engine.dispose());

  const suites = {
    'every weight width 1..16 × activation width 1..16 (batch 1 and 6 rows)': everyWidthCases,
    'random shapes: K=1, K not a multiple of 32, N=1, N not a multiple of 4': () => randomShapeCases(60, 777),
    'extreme codes (max |a|, q = -2^(t-1)) at the int32 chunk bounds': extremeCases,
    'NaN, Inf, zero, tiny and mixed-magnitude rows': specialRowCases,
    'per-channel planes, batched weights, transposed and offset activations': layoutCases,
  };
  for (const [name, make] of Object.entries(suites)) {
    it(name, () => {
      const report = runCases(engine, make());
      expect(report.outputs).toBeGreaterThan(0);
      expect(report.failed).toEqual([]);
    });
  }

  it('empty products: no rows, no channels, K = 0', () => {
    const w = quantizeWeights(randomFloats(30, 1), { batch: 1, k: 10, n: 3, transposed: false }, 4);
    const p = engine.packWeight(w, 4);
    expect(engine.matMul(new Float32Array(0), { rows: 0, k: 10, rowStride: 10, colStride: 1 }, p, 0, 8).values).toHaveLength(0);
    p.dispose();
    const none = engine.packWeight(quantizeWeights(new Float32Array(0), { batch: 1, k: 10, n: 0, transposed: false }, 4), 4);
    expect(engine.matMul(randomFloats(20, 2), { rows: 2, k: 10, rowStride: 10, colStride: 1 }, none, 0, 8).values).toHaveLength(0);
    none.dispose();
    const flat = engine.packWeight(quantizeWeights(new Float32Array(0), { batch: 1, k: 0, n: 3, transposed: false }, 4), 4);
    const r = engine.matMul(new Float32Array(0), { rows: 2, k: 0, rowStride: 0, colStride: 1 }, flat, 0, 8, { integers: true });
    expect(Array.from(r.values)).toEqual([0, 0, 0, 0, 0, 0]);
    flat.dispose();
  });

  it('one packing per run width: a packed weight keeps its width after others are packed', () => {
    const w = quantizeWeights(randomFloats(64 * 8, 3), { batch: 1, k: 64, n: 8, transposed: false }, 8);
    const x = randomFloats(64, 4);
    const layout = { rows: 1, k: 64, rowStride: 64, colStride: 1 };
    const p8 = engine.packWeight(w, 8);
    const first = engine.matMul(x, layout, p8, 0, 8).values;
    const p3 = engine.packWeight(w, 3);
    expect(engine.matMul(x, layout, p3, 0, 8).values).not.toEqual(first);
    expect(engine.matMul(x, layout, p8, 0, 8).values).toEqual(first);
    expect([p8.format, p3.format, p8.planes, p3.planes]).toEqual([8, 4, 8, 3]);
    p8.dispose();
    p3.dispose();
  });

  it('which product serves which widths and rows', () => {
    const w = quantizeWeights(randomFloats(40 * 6, 8), { batch: 1, k: 40, n: 6, transposed: false }, 8);
    const served = (bits: number, rows: number, activationBits: number) => {
      const p = engine.packWeight(w, bits);
      engine.matMul(randomFloats(rows * 40, 9), { rows, k: 40, rowStride: 40, colStride: 1 }, p, 0, activationBits);
      p.dispose();
      return engine.lastProduct;
    };
    // rows up to ROW_PRODUCT_MAX_ROWS (4) one by one, 16-bit activations as two digit rows each
    expect([served(1, 1, 8), served(2, 1, 10), served(2, 1, 11), served(3, 1, 8), served(1, 4, 8), served(8, 5, 8),
      served(1, 2, 16), served(1, 3, 16)])
      .toEqual(['tables', 'tables', 'codes-row', 'codes-row', 'codes-row', 'codes-rows', 'codes-row', 'codes-rows']);
  });

  it('bad input gives errors that name the problem', () => {
    const w = quantizeWeights(randomFloats(40, 5), { batch: 2, k: 4, n: 5, transposed: false }, 4);
    const p = engine.packWeight(w, 4);
    const x = randomFloats(8, 6);
    expect(() => engine.matMul(x, { rows: 2, k: 3, rowStride: 3, colStride: 1 }, p, 0, 8))
      .toThrow('pbq: inner dimensions differ: activations K=3, weights K=4');
    expect(() => engine.matMul(x, { rows: 2, k: 4, rowStride: 4, colStride: 1 }, p, 2, 8))
      .toThrow('pbq: weight batch 2 out of range 0..1');
    expect(() => engine.matMul(x, { rows: 2, k: 4, rowStride: 4, colStride: 1 }, p, 0, 17))
      .toThrow('pbq: activationBits must be an integer in 1..16, got 17');
    expect(() => engine.matMul(x, { rows: 3, k: 4, rowStride: 4, colStride: 1 }, p, 0, 8))
      .toThrow('pbq: activation layout reads index 11 of 8 values');
    expect(() => engine.packWeight(w, 0)).toThrow('pbq: weightBits must be an integer in 1..16, got 0');
    p.dispose();
    expect(() => engine.matMul(x, { rows: 2, k: 4, rowStride: 4, colStride: 1 }, p, 0, 8))
      .toThrow('pbq-wasm: the packed weight was disposed');
  });
});

describe('wasm engine memory', () => {
  it('scratch does not grow with K; buffers are reused; nothing leaks', () => {
    const heap = new OwnHeap();
    const engine = loadWasmEngineSync({}, heap);
    const sizes: Record<string, number>[] = [];
    for (const k of [64, 4096]) {
      const w = quantizeWeights(randomFloats(k * 8, k), { batch: 1, k, n: 8, transposed: false }, 4);
      for (const [bits, rows] of [[4, 6], [1, 1]]) {
        const p = engine.packWeight(w, bits); // W4 at 6 rows: unpacked-weight scratch; W1 at 1 row: tables
        engine.matMul(randomFloats(rows * k, 1), { rows, k, rowStride: k, colStride: 1 }, p, 0, 8);
        p.dispose();
      }
      sizes.push(engine.bufferBytes());
    }
    expect(sizes[0].scratch).toBe(SCRATCH_BLOCKS * 4 * 64);
    expect(sizes[1].scratch).toBe(sizes[0].scratch);
    expect(sizes[0].tables).toBe(TABLE_PAIRS * 64);
    expect(sizes[1].tables).toBe(sizes[0].tables);
    // the codes are the only per-call buffer proportional to K: 2 bytes per activation
    expect(sizes[1].codes).toBeGreaterThanOrEqual(6 * 4096 * 2);
    const before = heap.allocatedBytes;
    const w = quantizeWeights(randomFloats(4096 * 8, 9), { batch: 1, k: 4096, n: 8, transposed: false }, 4);
    for (let i = 0; i < 3; i++) {
      const p = engine.packWeight(w, 4);
      engine.matMul(randomFloats(6 * 4096, i), { rows: 6, k: 4096, rowStride: 4096, colStride: 1 }, p, 0, 8);
      p.dispose();
    }
    expect(heap.allocatedBytes).toBe(before); // same buffers, packed weights freed
    engine.dispose();
    expect(heap.allocatedBytes).toBe(0);
  });

  it('OwnHeap: aligned, coalescing, rejects bad frees', () => {
    const heap = new OwnHeap();
    const a = heap.malloc(10);
    const b = heap.malloc(100);
    const c = heap.malloc(70000); // grows the memory past one page
    expect([a % 16, b % 16, c % 16]).toEqual([0, 0, 0]);
    expect(heap.memory.buffer.byteLength).toBeGreaterThanOrEqual(c + 70000);
    heap.free(a);
    heap.free(b);
    expect(heap.malloc(112)).toBe(a); // a and b coalesced
    expect(() => heap.free(b)).toThrow(`pbq-wasm: free of ${b}, which is not allocated`);
  });
});

describe('wasm engine exactness bounds (kernels/wasm/plan.ts)', () => {
  it('every lane stays below 2^31 at the chosen chunk, one block more would overflow', () => {
    for (let t = 1; t <= 16; t++) {
      for (let a = 1; a <= 16; a++) {
        const digits = activationDigits(a, t);
        const amax = digits === 1 ? activationCodeBound(a) : digitBound(a);
        const chunk = chunkBlocks(a, t, digits);
        expect(chunk).toBeGreaterThanOrEqual(1);
        expect(chunk * laneGainPerBlock(t, amax)).toBeLessThanOrEqual(2 ** 31 - 1);
        expect((chunk + 1) * laneGainPerBlock(t, amax)).toBeGreaterThan(2 ** 31 - 1);
        // the table product (1-2 planes): two entries of ≤ 4 amax per pair in int16 lanes
        const pairs = tablePairsPerChunk(t, a);
        if (pairs > 0) {
          expect(t).toBeLessThanOrEqual(2);
          expect(8 * pairs * activationCodeBound(a)).toBeLessThanOrEqual(32767);
          expect(8 * (pairs + 1) * activationCodeBound(a)).toBeGreaterThan(32767);
        }
        if (a <= 15 && exactChunkBlocks(t, activationCodeBound(a)) >= 4) expect(digits).toBe(1);
      }
    }
    expect(activationDigits(16, 1)).toBe(2); // 2^16 - 1 does not fit int16
    expect(activationDigits(15, 16)).toBe(2);
    expect(activationDigits(8, 16)).toBe(1);
    expect([tablePairsPerChunk(1, 8), tablePairsPerChunk(2, 10), tablePairsPerChunk(2, 11), tablePairsPerChunk(3, 8)])
      .toEqual([16, 4, 0, 0]);
  });
});

describe('loading the module', () => {
  const file = defaultWasmLocation();

  it('the built file sits next to the wrapper and is small', () => {
    expect(file).toBe(path.join(__dirname, '..', 'kernels', 'wasm', 'build', 'pbq_simd.wasm'));
    expect(fs.statSync(file).size).toBeLessThan(16 * 1024);
  });

  it('loads from bytes, a compiled Module or a path, and reports a missing file clearly', async () => {
    const bytes = fs.readFileSync(file);
    const w = quantizeWeights(randomFloats(33 * 3, 1), { batch: 1, k: 33, n: 3, transposed: false }, 4);
    const x = randomFloats(33, 2);
    const layout = { rows: 1, k: 33, rowStride: 33, colStride: 1 };
    const outputs = [];
    for (const engine of [
      loadWasmEngineSync({ bytes }), loadWasmEngineSync({ module: new WebAssembly.Module(bytes) }),
      await loadWasmEngine({ path: file }),
    ]) {
      const p = engine.packWeight(w, 4);
      outputs.push(Array.from(engine.matMul(x, layout, p, 0, 8).values));
      p.dispose();
      engine.dispose();
    }
    expect(outputs[1]).toEqual(outputs[0]);
    expect(outputs[2]).toEqual(outputs[0]);
    expect(() => loadWasmEngineSync({ path: '/nonexistent/pbq_simd.wasm' }))
      .toThrow('pbq-wasm: /nonexistent/pbq_simd.wasm not found: build it with `npm run build:wasm`');
    expect(() => loadWasmEngineSync({ bytes: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1]) }))
      .toThrow(/pbq-wasm: cannot compile the engine .* needs WebAssembly SIMD/);
  });
});
