/**
 * `pbq-f32-ref`: the honesty baseline of the benchmark. A plain float32 matmul shader with the
 * same texture handling and fragment mapping as pbq's bitlayer product (own textures read with
 * texelFetch, rows placed so they never wrap, one fragment = one row × 4 output channels,
 * written as one RGBA32F texel), but float32 weights (RGBA32F: 4 channels of one k per texel)
 * and float32 activations (4 consecutive k per texel) instead of bit planes.
 */
import type { PbqBackendWebGL } from '../../src/backend_webgl';
import {
  channelGroups, FragmentGrid, fragmentGrid, PlacementShape, placedTexel, placementGLSL, placementShape, placeRows, PRODUCT_COORD_UNIFORMS,
  PRODUCT_COORDS, PRODUCT_OUTPUTS, productCoordsGLSL,
} from '../../kernels/webgl/raw_layout';
import {
  floatTexture, maxTextureSize, RawProgram, RAW_HEADER, RawTexture, runRaw,
} from '../../kernels/webgl/raw_program';

/** The reference product pass: K/4 texels of activations per row, 4K texels of weights per group. */
class F32RefPass extends RawProgram<{ kq: number; groups: number; singleRow: boolean; wPlace: PlacementShape; xPlace: PlacementShape }> {
  constructor(p: F32RefPass['p']) {
    super('F32RefProduct', p, ['Wf', 'Xf'], PRODUCT_COORD_UNIFORMS);
  }

  source(): string {
    const { kq, groups, singleRow, wPlace, xPlace } = this.p;
    return `${RAW_HEADER}
      uniform sampler2D Wf;
      uniform sampler2D Xf;
      ${PRODUCT_OUTPUTS}
      ${placementGLSL('placeW', wPlace)}
      ${placementGLSL('placeX', xPlace)}
      ${productCoordsGLSL(groups, singleRow)}
      void main() {
        ${PRODUCT_COORDS}
        ivec2 pw = placeW(g);
        ivec2 p0 = placeX(m);
        vec4 acc = vec4(0.0);
        for (int q = 0; q < ${kq}; q++) {
          vec4 x = texelFetch(Xf, p0 + ivec2(q, 0), 0);
          int c = 4 * q;
          acc += x.x * texelFetch(Wf, pw + ivec2(c, 0), 0) + x.y * texelFetch(Wf, pw + ivec2(c + 1, 0), 0)
               + x.z * texelFetch(Wf, pw + ivec2(c + 2, 0), 0) + x.w * texelFetch(Wf, pw + ivec2(c + 3, 0), 0);
        }
        writeD(acc);
      }`;
  }
}

export class F32RefMatMul {
  private w: RawTexture;
  private x: RawTexture;
  /** The product's RGBA32F texture (4 channels per fragment), as the bitlayer products write theirs. */
  private out: RawTexture;
  private pass: F32RefPass;
  private grid: FragmentGrid;
  readonly weightBytes: number;

  constructor(private backend: PbqBackendWebGL, xv: Float32Array, wv: Float32Array, private m: number, k: number, n: number) {
    const maxSize = maxTextureSize(backend.gpgpu);
    const groups = channelGroups(n);
    const kq = Math.ceil(k / 4);
    const wPlace = placeRows(4 * kq, groups, maxSize);
    const xPlace = placeRows(kq, m, maxSize);
    const grid = fragmentGrid(m * groups, maxSize);
    if (!wPlace || !xPlace || !grid) throw new Error('f32 reference: shape does not fit');
    const wData = new Float32Array(wPlace.width * wPlace.height * 4);
    for (let g = 0; g < groups; g++) {
      const base = placedTexel(wPlace, g, 0);
      for (let kk = 0; kk < k; kk++) {
        for (let l = 0; l < 4 && 4 * g + l < n; l++) wData[base + 4 * kk + l] = wv[kk * n + 4 * g + l];
      }
    }
    const xData = new Float32Array(xPlace.width * xPlace.height * 4);
    for (let r = 0; r < m; r++) {
      const base = placedTexel(xPlace, r, 0);
      for (let kk = 0; kk < k; kk++) xData[base + kk] = xv[r * k + kk];
    }
    this.w = floatTexture(backend, wPlace.width, wPlace.height, wData);
    this.x = floatTexture(backend, xPlace.width, xPlace.height, xData);
    this.weightBytes = this.w.bytes;
    this.grid = grid;
    this.out = floatTexture(backend, grid.width, grid.height, null);
    this.pass = new F32RefPass({ kq, groups, singleRow: m === 1, wPlace: placementShape(wPlace), xPlace: placementShape(xPlace) });
  }

  /** One product; `sync` reads the result back (waits for the GPU). */
  run(sync: boolean): void {
    runRaw(this.backend, this.pass, [this.w.texture, this.x.texture],
      { texture: this.out.texture, width: this.grid.width, height: this.grid.height },
      { shapeM: this.m, fragments: this.grid.count, gridWidth: this.grid.width });
    if (sync) {
      // the products' d, read back from the target still bound to the framebuffer
      const gl = this.backend.gpgpu.gl as WebGL2RenderingContext;
      gl.readPixels(0, 0, this.grid.width, this.grid.height, gl.RGBA, gl.FLOAT, new Float32Array(this.grid.width * this.grid.height * 4));
    }
  }

  dispose(): void {
    this.w.dispose();
    this.x.dispose();
    this.out.dispose();
  }
}
