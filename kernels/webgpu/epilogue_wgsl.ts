/**
 * The epilogue of both products: adds the split-K slices of each exact part, forms d
 * (product_parts.ts), then y = 2^(E−(A−1)) · (m_n 2^−t_n) · d, the bias and the fused activation
 * (a NaN row gives NaN, a zero row 0, as the CPU engine's). One invocation per output element.
 *
 * Inputs: P (parts [group][split][outBatch][M][np4·4]), X (activation rows: E, T), Scale
 * (m_n 2^−t_n per channel, [bBatch·N]), Shift (δ_n per channel, planes with per-channel plane
 * counts), BatchIndex, bias, preluActivationWeights (tfjs broadcasts both at the output index).
 */
import type { backend_util } from '@tensorflow/tfjs-core';
import type { IntegerParts } from './product_parts';
import { activationUniforms, activationWGSL, NAN_ROW, PbqFlatProgram, POW2_WGSL, ZERO_ROW } from './wgsl_common';

export interface EpilogueShape {
  outShape: number[];
  outBatch: number;
  m: number;
  n: number;
  np4: number;
  splits: number;
  activationBits: number;
  rowLength: number;
  aIndex: string;
  bIndex: string;
  parts: IntegerParts;
  /** Per-channel δ_n = t − t_n (the Shift input). */
  channelShifts: boolean;
  hasBias: boolean;
  activation: backend_util.Activation;
}

/** WGSL forming `d: f32` from the parts of output (ob, m, n). */
function dSource(s: EpilogueShape): string {
  const np = s.np4 * 4;
  const part = (g: number) => `part(${g}, ob, m, n)`;
  const delta = s.channelShifts ? 'Shift[bi * ' + s.n + ' + n]' : '0';
  const cT = s.parts.codeSumFactor;
  const lines = [`
    fn part(g: i32, ob: i32, m: i32, n: i32) -> i32 {
      var p = 0;
      for (var sp = 0; sp < ${s.splits}; sp++) {
        p += P[(((g * ${s.splits} + sp) * ${s.outBatch} + ob) * ${s.m} + m) * ${np} + n];
      }
      return p;
    }
    fn productD(ob: i32, m: i32, n: i32, bi: i32, codeSum: i32) -> f32 {
      let delta = ${delta};`];
  if (s.parts.exactInt) {
    const sum = s.parts.shifts.map((sh, g) => `(${part(g)} << ${sh}u)`).join(' + ');
    lines.push(`      return f32(((${sum}) >> u32(delta)) + ${cT} * codeSum);`);
  } else {
    const sum = s.parts.shifts.map((sh, g) => `f32(${part(g)}) * pow2i(${sh} - delta)`).join(' + ');
    lines.push(`      return f32(${cT} * codeSum) + ${sum};`);
  }
  lines.push('    }');
  return lines.join('\n');
}

export class EpilogueProgram extends PbqFlatProgram {
  constructor(readonly shape: EpilogueShape) {
    const s = shape;
    const inputs = ['P', 'X', 'Scale'];
    if (s.channelShifts) inputs.push('Shift');
    if (s.aIndex.includes('BatchIndex') || s.bIndex.includes('BatchIndex')) inputs.push('BatchIndex');
    if (s.hasBias) inputs.push('bias');
    if (s.activation === 'prelu') inputs.push('preluActivationWeights');
    super({
      name: 'epilogue',
      key: [s.outShape.join('x'), s.outBatch, s.m, s.n, s.splits, s.activationBits, s.rowLength, s.aIndex, s.bIndex,
        s.parts.shifts.join(','), s.parts.codeSumFactor, s.parts.exactInt, s.channelShifts, s.hasBias, s.activation].join('_'),
      outputShape: s.outShape,
      inputs,
      uniforms: activationUniforms(s.activation).declaration,
      source: `
  ${POW2_WGSL}
  ${activationWGSL(s.activation)}
  ${dSource(s)}
  fn main(index: i32) {
    if (index >= uniforms.size) { return; }
    let n = index % ${s.n};
    let rest = index / ${s.n};
    let m = rest % ${s.m};
    let ob = rest / ${s.m};
    let ai = ${s.aIndex};
    let bi = ${s.bIndex};
    let row = (ai * ${s.m} + m) * ${s.rowLength};
    let e = X[row];
    var y: f32;
    if (e == ${NAN_ROW}) {
      y = uniforms.NAN;
    } else if (e == ${ZERO_ROW}) {
      y = 0.0;
    } else {
      // y = 2^e · (m_n 2^-t_n) · d with e = E − (A−1)
      y = pow2i(e - ${s.activationBits - 1}) * (Scale[bi * ${s.n} + n] * productD(ob, m, n, bi, X[row + 1]));
    }
    ${s.hasBias ? 'y = y + getBiasByOutputIndex(index);' : ''}
    setOutputAtIndex(index, activation(y, index));
  }`,
    });
  }
}
