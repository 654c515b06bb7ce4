/**
 * WebGL context loss on pbq-webgl (headless Chromium, WEBGL_lose_context): after the loss every
 * call fails with a clear PbqContextLostError — a read in flight, dataSync(), data(), new
 * kernels — instead of tfjs-backend-webgl's zeros (dataSync) or a promise that never resolves
 * (data()); tensors and models can still be disposed; pbq.recreateBackend() gives a backend on a
 * new context whose results equal those before the loss. Page: pages/context_loss_page.ts.
 */
import * as path from 'path';
import { usePage } from './page_fixture';

const page = usePage(path.join(__dirname, 'pages', 'context_loss_page.ts'));

describe('WebGL context loss', () => {
  it('makes every later call fail with PbqContextLostError (no hang, no zeros); recreateBackend() recovers', async () => {
    const r = await page().call('loseContext');
    expect(r.before).toHaveLength(18);
    expect(r.before.some((v: number) => v !== 0)).toBe(true);
    const lost = { error: 'PbqContextLostError', message: expect.stringMatching(/WebGL context .* was lost .*recreateBackend/) };
    expect(r.after.pendingRead).toEqual(lost);
    expect(r.after.predictSync).toEqual(lost);
    expect(r.after.predictAsync).toEqual(lost);
    expect(r.after.readOldResult).toEqual(lost);
    expect(r.after.matMul).toEqual(lost);
    expect(r.after.isContextLost).toBe(true);
    expect(r.dispose.error).toBeUndefined();
    expect(r.recreated).toEqual({ value: true });
    expect(r.newBackend).toBe(true);
    expect(r.newContextLost).toBe(false);
    expect(r.backend).toBe('pbq');
    expect(r.again).toEqual({ value: r.before });
  });
});
