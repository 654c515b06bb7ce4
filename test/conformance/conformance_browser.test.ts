/** tfjs-core 4.22 jasmine specs against 'pbq' in headless Chromium (WebGL 2 via SwiftShader). */
import {closeBrowser} from '../../tools/harness/browser';
import {conformanceSuite} from './conformance_shared';

afterAll(closeBrowser);

conformanceSuite('browser', runs => {
  it('ran on the WebGL-based pbq backend (not a CPU fallback)', () => {
    const r = runs()[0].result;
    if (!/webgl/i.test(r.backendClass)) {
      throw new Error(`in the browser 'pbq' was created as ${r.backendClass} (${r.implementation}): ` +
        'expected the WebGL-based backend (src/backend_webgl.ts); the browser conformance then only re-tests the CPU engine');
    }
    expect(r.floatPrecision).toBe(32);
  });
});
