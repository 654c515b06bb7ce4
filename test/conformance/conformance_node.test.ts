/** tfjs-core 4.22 jasmine specs against 'pbq' in Node (child process, npm jasmine). */
import {conformanceSuite} from './conformance_shared';

conformanceSuite('node', runs => {
  it('ran on the CPU-based pbq backend', () => {
    expect(runs()[0].result.backendClass).toMatch(/CPU/i);
  });
});
