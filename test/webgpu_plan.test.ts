/**
 * The host-side logic of pbq-webgpu, in Node (the WGSL itself is tested in Chromium,
 * test/browser/webgpu_matmul.test.ts): how d is held in exact i32 parts, the planes layout,
 * the product selection and its flag, the device profiles, the hand-over of tfjs-backend-webgpu.
 */
import * as pbq from '../src/index';
import { PbqConfigError } from '../src/config';
import { quantizeWeights } from '../src/quantize';
import { GPU_PROFILE, profileForAdapter, SWIFTSHADER_PROFILE } from '../kernels/webgpu/device_profile';
import { planesBuffer, paddedChannels } from '../kernels/webgpu/gpu_weight';
import { codeField, codeSumFits, dot4Parts, planesParts } from '../kernels/webgpu/product_parts';
import { canServe, selectProduct } from '../kernels/webgpu/select_product';
import { planeWidth } from '../kernels/webgpu/activation_quantize_wgsl';
import { randomValues } from './helpers';
import { createPbqBackendWebGPU, webgpuModuleGiven, WebGPUModule } from '../src/backend_webgpu';

const EXACT = { type: 'exact' } as const;

/** The largest |d| of a product: K (2^t − 1)(2^A − 1). */
function dBound(k: number, t: number, a: number): number {
  return k * (2 ** t - 1) * (2 ** a - 1);
}

describe('exact i32 parts of d (product_parts.ts)', () => {
  it('keep W4A8 and W8A8 at K = 4096 in one part, combined in i32', () => {
    expect(planesParts(4096, 4, 8)).toEqual({ groups: 1, shifts: [1], codeSumFactor: 1, exactInt: true, planeRanges: [[0, 4]] });
    expect(planesParts(4096, 8, 8)?.exactInt).toBe(true);
    expect(dot4Parts(4096, 4, 8)).toEqual({ groups: 2, shifts: [1, 8], codeSumFactor: -15, exactInt: true });
    expect(dot4Parts(4096, 8, 8)).toEqual({ groups: 2, shifts: [1, 8], codeSumFactor: 1, exactInt: true });
  });

  it('split the planes so that every part is below 2^31 and together they cover t planes in order', () => {
    for (const [k, t, a] of [[3000, 16, 16], [1000, 16, 16], [4096, 12, 9], [100, 16, 16], [32768, 3, 16]]) {
      const p = planesParts(k, t, a)!;
      expect(p.planeRanges!.flat()).toEqual(p.planeRanges!.flatMap(([i0, i1], g) => [g === 0 ? 0 : p.planeRanges![g - 1][1], i1]));
      expect(p.planeRanges![p.groups - 1][1]).toBe(t);
      for (const [i0, i1] of p.planeRanges!) expect(k * (2 ** a - 1) * (2 ** (i1 - i0) - 1)).toBeLessThan(2 ** 31);
      // the part after this one's length would not fit (parts are as long as they can be)
      const len = p.planeRanges![0][1];
      if (len < t) expect(k * (2 ** a - 1) * (2 ** (len + 1) - 1)).toBeGreaterThanOrEqual(2 ** 31);
      // shifts: d = Σ 2^shift_g P_g + T with P_g weighted from its last plane
      expect(p.shifts).toEqual(p.planeRanges!.map(([, i1]) => 1 + t - i1));
      expect(p.exactInt).toBe(p.groups === 1 && 2 * dBound(k, t, a) < 2 ** 31);
    }
  });

  it('combine in i32 only while every sum fits, and refuse what cannot be held', () => {
    expect(planesParts(3000, 16, 16)!.exactInt).toBe(false);
    expect(dot4Parts(3000, 8, 16)!.exactInt).toBe(false);
    // one plane of T·(2^A−1) beyond 2^31: no GPU product (the CPU engine serves)
    expect(codeSumFits(32769, 16)).toBe(false);
    expect(planesParts(32769, 1, 16)).toBeUndefined();
    expect(codeSumFits(32768, 16)).toBe(true);
    // dot4: codes up to 8 planes, digit sums K·128·max|code| below 2^31
    expect(dot4Parts(100, 9, 8)).toBeUndefined();
    expect(dot4Parts(2 ** 17, 8, 8)).toBeUndefined();
    expect(dot4Parts(2 ** 17 - 1, 8, 8)).toBeDefined();
    expect([1, 2, 3, 4, 5, 8, 9].map(codeField)).toEqual([1, 2, 4, 4, 8, 8, 0]);
    expect([1, 2, 3, 5, 8, 9, 16].map(planeWidth)).toEqual([1, 2, 4, 8, 8, 16, 16]);
  });
});

describe('the planes layout (gpu_weight.ts planesBuffer)', () => {
  it('puts word w of plane i of channel n at ((b·bits + i)·words + w)·N4 + n, padded channels zero', () => {
    const layout = { batch: 2, k: 40, n: 3, transposed: false };
    const w = quantizeWeights(randomValues(2 * 40 * 3, 9, 1), layout, 5);
    const out = planesBuffer(w);
    const np = paddedChannels(3);
    expect(np).toBe(4);
    expect(out.length).toBe(2 * 5 * 2 * np);
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < 5; i++) {
        for (let word = 0; word < 2; word++) {
          for (let n = 0; n < np; n++) {
            const expected = n < 3 ? w.planes[((b * 3 + n) * 5 + i) * 2 + word] : 0;
            expect(out[((b * 5 + i) * 2 + word) * np + n] >>> 0).toBe(expected);
          }
        }
      }
    }
  });
});

describe('product selection (select_product.ts) and PBQ_WEBGPU_PRODUCT', () => {
  const request = (weightPlanes: number, activationBits = 8, k = 4096) => ({ weightPlanes, activationBits, k, accumulator: EXACT });

  it('auto follows the device profile; a named product serves what it can, then the other, then the CPU', () => {
    expect([1, 2, 3, 4, 8, 9].map((t) => selectProduct(request(t), 'auto', SWIFTSHADER_PROFILE))).toEqual(['planes', 'planes', 'dot4', 'dot4', 'dot4', 'planes']);
    expect([1, 2, 4, 8, 9].map((t) => selectProduct(request(t), 'auto', GPU_PROFILE))).toEqual(['planes', 'dot4', 'dot4', 'dot4', 'planes']);
    expect(selectProduct(request(12), 'dot4', SWIFTSHADER_PROFILE)).toBe('planes');
    expect(selectProduct(request(4), 'planes', SWIFTSHADER_PROFILE)).toBe('planes');
    expect(selectProduct(request(4, 16, 32769), 'planes', SWIFTSHADER_PROFILE)).toBe('cpu');
    const narrow = { ...request(4), accumulator: { type: 'int', bits: 16, overflow: 'wrap' } as const };
    expect(selectProduct(narrow, 'dot4', SWIFTSHADER_PROFILE)).toBe('cpu');
    expect(canServe('cpu', narrow)).toBe(true);
    expect(canServe('planes', narrow)).toBe(false);
  });

  it('reads the profile from the adapter', () => {
    expect(profileForAdapter({ vendor: 'google', architecture: 'swiftshader', description: '', isFallbackAdapter: true }).name).toBe('swiftshader');
    expect(profileForAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200', isFallbackAdapter: false }).name).toBe('gpu');
  });

  it('tiles batch 1 as one row per workgroup, split over K on GPUs only', () => {
    const r = { m: 1, np4: 1024, outBatch: 1, weightWords: 128, maxStagePerWord: 9 };
    expect(SWIFTSHADER_PROFILE.tile(r)).toMatchObject({ rows: 1, splits: 1, staged: false });
    expect(GPU_PROFILE.tile(r)).toMatchObject({ rows: 1, splits: 8, staged: true });
    expect(GPU_PROFILE.tile({ ...r, m: 64 })).toMatchObject({ rows: 4, splits: 1 });
  });

  it('is a validated config key mirrored in a tf.env() flag', () => {
    pbq.resetConfig();
    expect(pbq.configure({ webgpuProduct: 'dot4' }).webgpuProduct).toBe('dot4');
    expect(pbq.getConfig().webgpuProduct).toBe('dot4');
    expect(() => pbq.configure({ webgpuProduct: 'popcount' as never })).toThrow(PbqConfigError);
    expect(() => pbq.configure({ webgpuProduct: 'popcount' as never })).toThrow("webgpuProduct must be one of 'auto', 'planes', 'dot4', got 'popcount' (string)");
    pbq.resetConfig();
    expect(pbq.getConfig().webgpuProduct).toBe('auto');
  });
});

describe("handing over the app's tfjs-backend-webgpu (pbq.useWebGPU)", () => {
  // stand-ins: the real module registers its kernels on import, which these checks do not need
  const fakeModule = (): WebGPUModule => ({ WebGPUBackend: class {} as unknown as WebGPUModule['WebGPUBackend'] });

  it("before it, creating 'pbq-webgpu' throws at once (so the factory registers no kernel) and names the fix", () => {
    expect(webgpuModuleGiven()).toBe(false);
    expect(() => createPbqBackendWebGPU()).toThrow("call pbq.useWebGPU(await import('@tensorflow/tfjs-backend-webgpu')) before tf.setBackend('pbq-webgpu')");
  });

  it('refuses what is not the module, and a second, different copy', async () => {
    expect(() => pbq.useWebGPU({} as WebGPUModule)).toThrow('this has no WebGPUBackend');
    const m = fakeModule();
    pbq.useWebGPU(m);
    pbq.useWebGPU(m); // the same copy again is fine
    expect(webgpuModuleGiven()).toBe(true);
    expect(() => pbq.useWebGPU(fakeModule())).toThrow('already given another copy of tfjs-backend-webgpu');
    // given, creation is asynchronous: in Node (no navigator.gpu) it rejects with the reason
    await expect(createPbqBackendWebGPU()).rejects.toThrow('WebGPU is not available here');
  });
});
