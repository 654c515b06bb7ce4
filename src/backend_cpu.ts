/**
 * The pbq-cpu backend (Node, or any place without WebGL 2 or WebAssembly): tfjs-backend-cpu
 * with pbq's kernels (kernels/cpu/) registered over its own. State: the quantized-weight cache.
 */
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { DataId } from '@tensorflow/tfjs-core';
import { WeightCache } from './weight_cache';

export class PbqBackendCPU extends MathBackendCPU {
  readonly weightCache = new WeightCache();

  override disposeData(dataId: DataId, force = false): boolean {
    const freed = super.disposeData(dataId, force);
    if (freed) this.weightCache.forget(dataId);
    return freed;
  }
}
