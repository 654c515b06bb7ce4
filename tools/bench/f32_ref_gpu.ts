/**
 * `pbq-f32-ref`: the honesty baseline of the benchmark. A plain float32 matmul shader with the
 * same texture handling and fragment mapping as pbq's bitlayer product (own textures read with
 * texelFetch, rows placed so they never wrap, one fragment = one row × 4 output channels,
 * written to a packed tfjs tensor), but float32 weights (RGBA32F: 4 channels of one k per texel)
 * and float32 activations (4 consecutive k per texel) instead of bit planes.
 */
import type { PbqBackendWebGL } from '../../src/backend_webgl';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import {
  allocateTensorTexture, floatTexture, FragmentGrid, fragmentGrid, maxTextureSize, placementGLSL, placeRows, PRODUCT_COORDS,
  productCoordsGLSL, RAW_HEADER, RawTexture, runRaw,
} from '../../kernels/webgl/raw_program';

export class F32RefMatMul {
  private w: RawTexture;
  private x: RawTexture;
  private out: { info: TensorInfo; texture: WebGLTexture };
  private source: string;
  private grid: FragmentGrid;
  readonly weightBytes: number;

  constructor(private backend: PbqBackendWebGL, xv: Float32Array, wv: Float32Array, private m: number, k: number, n: number) {
    const maxSize = maxTextureSize(backend.gpgpu);
    const groups = Math.ceil(n / 4);
    const kq = Math.ceil(k / 4);
    const wPlace = placeRows(4 * kq, groups, maxSize);
    const xPlace = placeRows(kq, m, maxSize);
    const grid = fragmentGrid(m * groups, maxSize);
    if (!wPlace || !xPlace || !grid) throw new Error('f32 reference: shape does not fit');
    const wData = new Float32Array(wPlace.width * wPlace.height * 4);
    for (let g = 0; g < groups; g++) {
      const base = (Math.floor(g / wPlace.perLine) * wPlace.width + (g % wPlace.perLine) * wPlace.rowLength) * 4;
      for (let kk = 0; kk < k; kk++) {
        for (let l = 0; l < 4 && 4 * g + l < n; l++) wData[base + 4 * kk + l] = wv[kk * n + 4 * g + l];
      }
    }
    const xData = new Float32Array(xPlace.width * xPlace.height * 4);
    for (let r = 0; r < m; r++) {
      const base = (Math.floor(r / xPlace.perLine) * xPlace.width + (r % xPlace.perLine) * xPlace.rowLength) * 4;
      for (let kk = 0; kk < k; kk++) xData[base + kk] = xv[r * k + kk];
    }
    this.w = floatTexture(backend.gpgpu, wPlace.width, wPlace.height, wData);
    this.x = floatTexture(backend.gpgpu, xPlace.width, xPlace.height, xData);
    this.weightBytes = this.w.bytes;
    this.grid = grid;
    this.out = allocateTensorTexture(backend, [2 * grid.height, 2 * grid.width], true);
    this.source = `${RAW_HEADER}
      uniform sampler2D Wf;
      uniform sampler2D Xf;
      layout(location = 0) out vec4 outColor;
      ${placementGLSL('placeW', wPlace)}
      ${placementGLSL('placeX', xPlace)}
      ${productCoordsGLSL({ outBatch: 1, m, groups, grid })}
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
        outColor = acc;
      }`;
  }

  /** One product; `sync` reads the result back (waits for the GPU). */
  run(sync: boolean): void {
    runRaw(this.backend, this.source, [{ name: 'Wf', texture: this.w.texture }, { name: 'Xf', texture: this.x.texture }],
      { texture: this.out.texture, width: this.grid.width, height: this.grid.height });
    if (sync) {
      // readSync caches the values on the CPU: read a fresh tensor next time.
      this.backend.readSync(this.out.info.dataId);
      this.backend.disposeIntermediateTensorInfo(this.out.info);
      this.out = allocateTensorTexture(this.backend, [2 * this.grid.height, 2 * this.grid.width], true);
    }
  }

  dispose(): void {
    this.w.dispose();
    this.x.dispose();
    this.backend.disposeIntermediateTensorInfo(this.out.info);
  }
}
