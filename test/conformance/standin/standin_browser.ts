import {MathBackendWebGL} from '@tensorflow/tfjs-backend-webgl';
import {registerStandin} from './standin_common';
export {configure, getConfig} from './standin_common';
registerStandin('webgl', () => new MathBackendWebGL());
