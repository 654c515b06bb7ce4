/**
 * The pbq-webgl backend (a browser with WebGL 2): tfjs-backend-webgl with pbq's kernels
 * (kernels/webgl/) registered over its own. State: the quantized-weight cache (with each
 * weight's GPU copies) and the GL objects of the raw passes.
 */
import '@tensorflow/tfjs-backend-webgl';
import { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';
import { env } from '@tensorflow/tfjs-core';
import type { DataId } from '@tensorflow/tfjs-core';
import { Disposable, WeightCache } from './weight_cache';

export class PbqBackendWebGL extends MathBackendWebGL {
  readonly weightCache = new WeightCache();
  /** GPU tensors owned by cached weights (kernels/webgl/gpu_weight.ts), not tensors of the engine. */
  cacheOwnedDataIds = 0;
  /** The raw passes' programs and scratch textures (kernels/webgl/raw_program.ts, RawResources). */
  kernelResources?: Disposable;

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

  override disposeData(dataId: DataId, force = false): boolean {
    const freed = super.disposeData(dataId, force);
    if (freed) this.weightCache.forget(dataId);
    return freed;
  }

  override dispose(): void {
    this.weightCache.clear();
    this.kernelResources?.dispose();
    this.kernelResources = undefined;
    super.dispose();
  }
}
