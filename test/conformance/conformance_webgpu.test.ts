/** tfjs-core 4.22's matMul / fused matMul specs against 'pbq-webgpu' in headless Chromium (SwiftShader's WebGPU). */
import {closeBrowser} from '../../tools/harness/browser';
import {conformanceSuite} from './conformance_shared';

afterAll(closeBrowser);

conformanceSuite('webgpu', runs => {
  it('ran on the WebGPU-based pbq backend', () => {
    const r = runs()[0].result;
    expect({backend: r.backend, backendClass: r.backendClass, floatPrecision: r.floatPrecision})
      .toEqual({backend: 'pbq-webgpu', backendClass: 'PbqBackendWebGPU', floatPrecision: 32});
  });
});
