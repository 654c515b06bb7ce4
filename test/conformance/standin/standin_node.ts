import {MathBackendCPU} from '@tensorflow/tfjs-backend-cpu';
import {registerStandin} from './standin_common';
export {configure, getConfig} from './standin_common';
registerStandin('cpu', () => new MathBackendCPU());
