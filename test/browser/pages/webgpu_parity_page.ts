/** The model parity page (parity_page.ts) with pbq-webgpu available: the app hands pbq its tfjs-backend-webgpu. */
import * as webgpu from '@tensorflow/tfjs-backend-webgpu';
import * as pbq from '../../../src/index';
import './parity_page';

pbq.useWebGPU(webgpu);
