/**
 * PbqLSTMStep on WebGL 2: the gate products are two bitlayer matmul passes (x·W + b, then h·U
 * with the first product fused in as its bias), and one cell pass below computes the gates and
 * the state update for every (batch, unit). CPU twin: lstm_step_cpu.ts.
 */
import { getKernel, TensorInfo } from '@tensorflow/tfjs-core';
import type { GPGPUProgram } from '@tensorflow/tfjs-backend-webgl';
import { PbqConfig } from '../src/config';
import { BitlayerWebGLBackend, bitlayerMatMulWebGL } from './bitlayer_matmul_webgl';
import { checkLstmShapes, LstmStepArgs, RecurrentActivation } from './lstm_step';

export class LstmCellProgram implements GPGPUProgram {
  variableNames = ['Z', 'C'];
  outputShape: number[];
  userCode: string;

  /** Z [B, 4H] gate pre-activations, C [B, H]; output [2, B, H] = (h', c'). */
  constructor(batch: number, units: number, recurrentActivation: RecurrentActivation) {
    this.outputShape = [2, batch, units];
    const gate = recurrentActivation === 'sigmoid'
      ? 'return 1.0 / (1.0 + exp(-1.0 * z));'
      : 'return clamp(0.2 * z + 0.5, 0.0, 1.0);';
    this.userCode = `
      float gate(float z) { ${gate} }
      // tanh as tfjs-backend-webgl computes it
      float tanhOf(float x) {
        float e2x = exp(-2.0 * abs(x));
        return sign(x) * (1.0 - e2x) / (1.0 + e2x);
      }
      void main() {
        ivec3 coords = getOutputCoords();
        int b = coords.y;
        int j = coords.z;
        float i = gate(getZ(b, j));
        float f = gate(getZ(b, ${units} + j));
        float g = tanhOf(getZ(b, ${2 * units} + j));
        float o = gate(getZ(b, ${3 * units} + j));
        float c = f * getC(b, j) + i * g;
        setOutput(coords.x == 0 ? o * tanhOf(c) : c);
      }
    `;
  }
}

function slice(backend: BitlayerWebGLBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const kernel = getKernel('Slice', 'webgl');
  if (!kernel) throw new Error('pbq: the webgl Slice kernel is not registered');
  return kernel.kernelFunc({ inputs: { x }, backend, attrs: { begin, size } }) as TensorInfo;
}

export function lstmStepWebGL(backend: BitlayerWebGLBackend, args: LstmStepArgs, config: PbqConfig): [TensorInfo, TensorInfo] {
  const { batch, units } = checkLstmShapes(args);
  const zx = bitlayerMatMulWebGL(backend, { a: args.x, b: args.kernel, transposeA: false, transposeB: false, bias: args.bias }, config);
  const temps = [zx];
  try {
    const z = bitlayerMatMulWebGL(backend, { a: args.h, b: args.recurrentKernel, transposeA: false, transposeB: false, bias: zx }, config);
    temps.push(z);
    const both = backend.compileAndRun(new LstmCellProgram(batch, units, args.recurrentActivation), [z, args.c]);
    temps.push(both);
    const h = slice(backend, both, [0, 0, 0], [1, batch, units]);
    const c = slice(backend, both, [1, 0, 0], [1, batch, units]);
    return [{ ...h, shape: [batch, units] }, { ...c, shape: [batch, units] }];
  } finally {
    for (const t of temps) backend.disposeIntermediateTensorInfo(t);
  }
}
