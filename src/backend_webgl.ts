/**
 * The pbq-webgl backend (a browser with WebGL 2): tfjs-backend-webgl with pbq's kernels
 * (kernels/webgl/) registered over its own. State: the quantized-weight cache (with each
 * weight's GPU copies), the GL objects of the raw passes, and whether the WebGL context is lost.
 */
import '@tensorflow/tfjs-backend-webgl';
import { GPGPUProgram, MathBackendWebGL, WebGLMemoryInfo } from '@tensorflow/tfjs-backend-webgl';
import { env } from '@tensorflow/tfjs-core';
import type { BackendValues, DataId, DataType, TensorInfo } from '@tensorflow/tfjs-core';
import { PbqContextLostError } from './errors';
import { Disposable, WeightCache } from './weight_cache';

export class PbqBackendWebGL extends MathBackendWebGL {
  readonly weightCache = new WeightCache();
  /** GPU tensors owned by cached weights (kernels/webgl/gpu_weight.ts), not tensors of the engine. */
  cacheOwnedDataIds = 0;
  /** The raw passes' programs and scratch textures (kernels/webgl/raw_program.ts, RawResources). */
  kernelResources?: Disposable;
  /** Bytes of pbq's own textures (raw weight layouts, scratch), which tfjs does not count. */
  rawTextureBytes = 0;
  /** Set by the canvas's webglcontextlost event (or found by gl.isContextLost()). */
  private contextLost = false;
  /** Rejects pending reads when the context is lost (a lost context never signals their fences). */
  private readonly lostSignal: Promise<never>;

  constructor() {
    super();
    let reject: (e: Error) => void = () => undefined;
    this.lostSignal = new Promise<never>((_, r) => { reject = r; });
    this.lostSignal.catch(() => undefined); // observed by the reads that race it
    const onLost = () => {
      this.contextLost = true;
      reject(new PbqContextLostError());
    };
    (this.gpgpu.gl.canvas as EventTarget).addEventListener('webglcontextlost', onLost);
  }

  /** Whether the WebGL context is lost (this backend can no longer compute or read). */
  isContextLost(): boolean {
    if (!this.contextLost && this.gpgpu.gl.isContextLost()) this.contextLost = true;
    return this.contextLost;
  }

  /** Throws PbqContextLostError once the context is lost. */
  assertContext(): void {
    if (this.isContextLost()) throw new PbqContextLostError();
  }

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
  /** tfjs's memory info, with pbq's own textures in numBytesInGPU (and apart in numBytesInRawTextures). */
  override memory(): WebGLMemoryInfo & { numBytesInRawTextures: number } {
    const info = super.memory() as WebGLMemoryInfo;
    return { ...info, numBytesInGPU: info.numBytesInGPU + this.rawTextureBytes, numBytesInRawTextures: this.rawTextureBytes };
  }

  override numDataIds(): number {
    return super.numDataIds() - this.cacheOwnedDataIds;
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const freed = super.disposeData(dataId, force);
    if (freed) this.weightCache.forget(dataId);
    return freed;
  }

  // Every path to the GPU checks the context first: on a lost context tfjs-backend-webgl reads
  // zeros (dataSync) or never resolves (data()).
  override runWebGLProgram(
    program: GPGPUProgram, inputs: TensorInfo[], outputDtype: DataType, customUniformValues?: number[][],
    preventEagerUnpackingOfOutput = false, customTexShape?: [number, number],
  ): TensorInfo {
    this.assertContext();
    return super.runWebGLProgram(program, inputs, outputDtype, customUniformValues, preventEagerUnpackingOfOutput, customTexShape);
  }

  override uploadToGPU(dataId: DataId): void {
    this.assertContext();
    super.uploadToGPU(dataId);
  }

  override readSync(dataId: DataId): BackendValues {
    this.assertContext();
    return super.readSync(dataId);
  }

  override read(dataId: DataId): Promise<BackendValues> {
    if (this.isContextLost()) return Promise.reject(new PbqContextLostError());
    return Promise.race([super.read(dataId), this.lostSignal]);
  }

  override dispose(): void {
    this.weightCache.clear();
    this.kernelResources?.dispose();
    this.kernelResources = undefined;
    super.dispose();
  }
}
