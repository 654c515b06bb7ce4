/** Every kernel of pbq-webgl: the stock webgl kernels, and pbq's over them. */
import { registerKernelsOver } from '../shared/kernels_for_base';
import { batchMatMulConfig } from './BatchMatMul';
import { fusedMatMulConfig } from './_FusedMatMul';
import { lstmStepConfig } from './PbqLSTMStep';

export const PBQ_KERNELS = [batchMatMulConfig, fusedMatMulConfig, lstmStepConfig];

/** Registers them under `backendName` ('pbq-webgl', or 'pbq' when webgl is its base). */
export function registerAllKernels(backendName: string): void {
  registerKernelsOver('webgl', backendName, PBQ_KERNELS);
}
