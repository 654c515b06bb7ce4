/**
 * The cell pass of PbqLSTMStep on WebGL: gates and state update for every (batch, unit) from the
 * gate pre-activations z = x·W + h·U + b (kernels/shared/lstm_step.ts has the equations).
 */
import type { RecurrentActivation } from '../shared/lstm_step';
import { ShapeFreeProgram } from './glsl_common';

export class LstmCellProgram extends ShapeFreeProgram {
  variableNames = ['Z', 'C'];

  /** Z [B, 4H] gate pre-activations, C [B, H]; output [2, B, H] = (h', c'). */
  constructor(batch: number, units: number, recurrentActivation: RecurrentActivation) {
    super([2, batch, units], { units });
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
        float f = gate(getZ(b, units + j));
        float g = tanhOf(getZ(b, 2 * units + j));
        float o = gate(getZ(b, 3 * units + j));
        float c = f * getC(b, j) + i * g;
        setOutput(coords.x == 0 ? o * tanhOf(c) : c);
      }
    `;
  }
}
