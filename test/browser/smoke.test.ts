/** Smoke test of the browser harness: WebGL 2 via SwiftShader and a tfjs `webgl` matMul. */
import * as path from 'path';
import {usePage} from './page_fixture';

describe('browser harness smoke', () => {
  const p = usePage(path.join(__dirname, 'pages', 'smoke_page.ts'));

  it('has WebGL 2', async () => {
    const info = await p().call('webgl2Info');
    expect(info.webgl2).toBe(true);
    expect(String(info.version)).toMatch(/WebGL 2\.0/);
  });

  it('runs a tfjs webgl matMul with correct values', async () => {
    const a = [[1, 2, 3], [4, 5, 6]];
    const b = [[7, 8], [9, 10], [11, 12]];
    const r = await p().call('webglMatMul', a, b);
    expect(r.backend).toBe('webgl');
    expect(r.webglVersion).toBe(2);
    const expected = [[58, 64], [139, 154]];
    expect(r.values).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 2; j++) expect(r.values[i][j]).toBeCloseTo(expected[i][j], 3);
    }
  });

  it('reports a clear error for a missing page function', async () => {
    await expect(p().call('noSuchFunction')).rejects.toThrow(/window\.noSuchFunction is not a function/);
  });
});
