/**
 * The pbq backend in Node (or any place without WebGL 2): tfjs-backend-cpu with BatchMatMul and
 * _FusedMatMul served by the CPU bitlayer engine.
 */
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { DataId, TensorInfo } from '@tensorflow/tfjs-core';
import { PbqConfig } from './config';
import { WeightCache } from './weight_cache';
import { bitlayerMatMulCPU, MatMulArgs } from '../kernels/bitlayer_matmul_cpu';
import type { BitlayerBackend } from '../kernels/matmul_dispatch';
import type { LstmStepArgs, LstmStepBackend } from '../kernels/lstm_step';
import { lstmStepCPU } from '../kernels/lstm_step_cpu';

export class PbqBackendCPU extends MathBackendCPU implements BitlayerBackend, LstmStepBackend {
  readonly weightCache = new WeightCache();

  bitlayerMatMul(args: MatMulArgs, config: PbqConfig): TensorInfo {
    return bitlayerMatMulCPU(this, args, config);
  }

  bitlayerLstmStep(args: LstmStepArgs, config: PbqConfig): [TensorInfo, TensorInfo] {
    return lstmStepCPU(this, args, config);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const freed = super.disposeData(dataId, force);
    if (freed) this.weightCache.forget(dataId);
    return freed;
  }
}
