/**
 * The pbq backend in a browser with WebGL 2: tfjs-backend-webgl with BatchMatMul and
 * _FusedMatMul served by bitlayer GLSL shaders (kernels/bitlayer_matmul_gpu.ts).
 */
import '@tensorflow/tfjs-backend-webgl';
import { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { env } from '@tensorflow/tfjs-core';
import type { DataId, TensorInfo } from '@tensorflow/tfjs-core';
import { PbqConfig } from './config';
import { WeightCache } from './weight_cache';
import type { MatMulArgs } from '../kernels/bitlayer_matmul_cpu';
import { bitlayerMatMulWebGL, bitlayerPartialSumsWebGL } from '../kernels/bitlayer_matmul_webgl';
import type { BitlayerBackend } from '../kernels/matmul_dispatch';
import type { LstmStepArgs, LstmStepBackend } from '../kernels/lstm_step';
import { lstmStepWebGL } from '../kernels/lstm_step_gpu';

export class PbqBackendWebGL extends MathBackendWebGL implements BitlayerBackend, LstmStepBackend {
  readonly weightCache = new WeightCache();
  cacheOwnedDataIds = 0;

  /**
   * 32 when textures are float32. tfjs-backend-webgl 4.22 returns 16 exactly when
   * WEBGL_RENDER_FLOAT32_ENABLED is true (its check is inverted), which would, e.g., loosen the
   * tolerance of tfjs's own test specs to 0.1 and hide quantization errors.
   */
  override floatPrecision(): 16 | 32 {
    return env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') ? 32 : super.floatPrecision();
  }

  /**
   * Data ids of tensors, excluding the plane/scale textures that cached weights own: those are
   * freed with their weight, not by the engine, so tfjs's per-kernel leak check must not count
   * them. Their bytes still show in tf.memory().numBytesInGPU.
   */
  override numDataIds(): number {
    return super.numDataIds() - this.cacheOwnedDataIds;
  }

  bitlayerMatMul(args: MatMulArgs, config: PbqConfig): TensorInfo {
    return bitlayerMatMulWebGL(this, args, config);
  }

  bitlayerLstmStep(args: LstmStepArgs, config: PbqConfig): [TensorInfo, TensorInfo] {
    return lstmStepWebGL(this, args, config);
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
