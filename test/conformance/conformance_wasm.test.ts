/**
 * tfjs-core 4.22 jasmine specs against 'pbq-wasm' in Node (child process, npm jasmine), and
 * against stock 'wasm' for the failures pbq-wasm inherits from tfjs-backend-wasm.
 */
import {conformanceSuite} from './conformance_shared';

conformanceSuite('node-wasm', runs => {
  it('ran on the wasm-based pbq backend', () => {
    expect(runs()[0].result.backendClass).toBe('PbqBackendWasm');
    expect(runs()[0].result.floatPrecision).toBe(32);
  });
});
