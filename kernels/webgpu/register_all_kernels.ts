/** Every kernel of pbq-webgpu: the stock webgpu kernels, and pbq's over them. */
import { registerKernelsOver } from '../shared/kernels_for_base';
import { batchMatMulConfig } from './BatchMatMul';
import { fusedMatMulConfig } from './_FusedMatMul';
import { lstmStepConfig } from './PbqLSTMStep';

export const PBQ_KERNELS = [batchMatMulConfig, fusedMatMulConfig, lstmStepConfig];

/** Registers them under `backendName` ('pbq-webgpu'). */
export function registerAllKernels(backendName: string): void {
  registerKernelsOver('webgpu', backendName, PBQ_KERNELS);
}
