/** Every kernel of pbq-wasm: the stock wasm kernels, and pbq's over them. */
import { getKernel, KernelConfig } from '@tensorflow/tfjs-core';
import { registerKernelsOver } from '../shared/kernels_for_base';
import { batchMatMulConfig } from './BatchMatMul';
import { fusedMatMulConfig } from './_FusedMatMul';
import { lstmStepConfig } from './PbqLSTMStep';

export const PBQ_KERNELS = [batchMatMulConfig, fusedMatMulConfig, lstmStepConfig];

/**
 * pbq's kernel with the setup of the stock wasm kernel it replaces: the stock kernel, which
 * pbq's hands the calls it does not quantize (int32, empty, 'float' policy), calls the module
 * function its setupFunc binds, and tfjs-core runs setupFuncs only of the active backend's
 * registered kernels.
 */
function withStockSetup(config: KernelConfig): KernelConfig {
  const stock = getKernel(config.kernelName, 'wasm');
  return stock?.setupFunc ? { ...config, setupFunc: stock.setupFunc, disposeFunc: stock.disposeFunc } : config;
}

/** Registers them under `backendName` ('pbq-wasm', or 'pbq' when wasm is its base). */
export function registerAllKernels(backendName: string): void {
  registerKernelsOver('wasm', backendName, PBQ_KERNELS.map(withStockSetup));
}
