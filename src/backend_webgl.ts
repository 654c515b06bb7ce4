/**
 * The pbq backend in a browser with WebGL 2: tfjs-backend-webgl with BatchMatMul and
 * _FusedMatMul served by bitlayer GLSL shaders (kernels/bitlayer_matmul_gpu.ts).
 */
import '@tensorflow/tfjs-backend-webgl';
import { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import type { DataId, TensorInfo } from '@tensorflow/tfjs-core';
import { PbqConfig } from './config';
import { WeightCache } from './weight_cache';
import type { MatMulArgs } from '../kernels/bitlayer_matmul_cpu';
import { bitlayerMatMulWebGL, bitlayerPartialSumsWebGL } from '../kernels/bitlayer_matmul_webgl';
import type { BitlayerBackend } from '../kernels/matmul_dispatch';

export class PbqBackendWebGL extends MathBackendWebGL implements BitlayerBackend {
  readonly weightCache = new WeightCache();

  bitlayerMatMul(args: MatMulArgs, config: PbqConfig): TensorInfo {
    return bitlayerMatMulWebGL(this, args, config);
  }

  /** The shader's integer partial sums (tests compare them with the CPU engine). */
  bitlayerPartialSums(args: MatMulArgs, config: PbqConfig): TensorInfo {
    return bitlayerPartialSumsWebGL(this, args, config);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const freed = super.disposeData(dataId, force);
    if (freed) this.weightCache.forget(dataId);
    return freed;
  }

}
