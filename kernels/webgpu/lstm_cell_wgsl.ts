/**
 * The cell of PbqLSTMStep (kernels/shared/lstm_step.ts) after its gate products: from
 * z = x·W + h·U + b [B, 4H] (Keras gate order i, f, g, o) and c [B, H],
 *   c' = σ(f)·c + σ(i)·tanh(g),   h' = σ(o)·tanh(c')
 * with σ = hardSigmoid (clip(0.2x + 0.5, 0, 1)) or sigmoid. One program writes h' or c'
 * (`output`), so the step needs no slice. CPU twin: kernels/cpu/PbqLSTMStep_impl.ts.
 */
import type { RecurrentActivation } from '../shared/lstm_step';
import { PbqFlatProgram } from './wgsl_common';

export class LstmCellProgram extends PbqFlatProgram {
  constructor(batch: number, units: number, recurrentActivation: RecurrentActivation, output: 'h' | 'c') {
    const gate = recurrentActivation === 'sigmoid'
      ? 'return 1.0 / (1.0 + exp(-x));'
      : 'return clamp(0.2 * x + 0.5, 0.0, 1.0);';
    super({
      name: 'lstm_cell',
      key: `${recurrentActivation}_${output}`,
      outputShape: [batch, units],
      inputs: ['Z', 'C'],
      uniforms: { ints: { units } },
      source: `
  fn gate(x: f32) -> f32 { ${gate} }
  // tfjs-backend-webgpu's tanh (the builtin may overflow to NaN for large |x| on some devices)
  fn tanhOf(x: f32) -> f32 {
    let e2x = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e2x) / (1.0 + e2x);
  }
  fn main(index: i32) {
    if (index >= uniforms.size) { return; }
    let h = uniforms.units;
    let b = index / h;
    let j = index - b * h;
    let z = b * 4 * h + j;
    let i = gate(Z[z]);
    let f = gate(Z[z + h]);
    let g = tanhOf(Z[z + 2 * h]);
    let c = f * C[index] + i * g;
    ${output === 'c' ? 'setOutputAtIndex(index, c);' : `setOutputAtIndex(index, gate(Z[z + 3 * h]) * tanhOf(c));`}
  }`,
    });
  }
}
