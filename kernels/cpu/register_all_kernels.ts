/** Every kernel of pbq-cpu: the stock cpu kernels, and pbq's over them. */
import { registerKernelsOver } from '../shared/kernels_for_base';
import { batchMatMulConfig } from './BatchMatMul';
import { fusedMatMulConfig } from './_FusedMatMul';
import { lstmStepConfig } from './PbqLSTMStep';

export const PBQ_KERNELS = [batchMatMulConfig, fusedMatMulConfig, lstmStepConfig];

/** Registers them under `backendName` ('pbq-cpu', or 'pbq' when cpu is its base). */
export function registerAllKernels(backendName: string): void {
  registerKernelsOver('cpu', backendName, PBQ_KERNELS);
}
