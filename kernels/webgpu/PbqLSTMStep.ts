/** PbqLSTMStep on pbq-webgpu (PbqLSTMStep_impl.ts). */
import { lstmStepConfig as makeConfig } from '../shared/kernels_for_base';
import { lstmStepImpl } from './PbqLSTMStep_impl';

export const lstmStepConfig = makeConfig('webgpu', lstmStepImpl);
