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
import { activationWGSL, BATCH_INDEX_WGSL, NAN_ROW, PbqFlatProgram, POW2_WGSL, ZERO_ROW } from './wgsl_common';

export interface EpilogueShape {
  outShape: number[];
  outBatch: number;
  m: number;
  n: number;
  np4: number;
  splits: number;
  activationBits: number;
  /** Weight planes used (the planes parts' shifts). */
  t: number;
  rowLength: number;
  /** The product's parts; undefined: the product is zero (K = 0), only bias and activation run. */
  parts?: IntegerParts;
  /** Per-channel δ_n = t − t_n (the Shift input). */
  channelShifts: boolean;
  hasBias: boolean;
  activation: backend_util.Activation;
  leakyreluAlpha?: number;
}

/**
 * WGSL forming `d: f32` from the parts of output (ob, m, n). The part count, their shifts
 * (planes: 1 + t − min((g+1)·len, t); dot4: 1 + 7g) and c_T are uniforms.
 */
function dSource(s: EpilogueShape & { parts: IntegerParts }): string {
  const delta = s.channelShifts ? 'Shift[bi * uniforms.n + n]' : '0';
  const shift = s.parts.planeRanges
    ? '1 + uniforms.t - min((g + 1) * uniforms.partLength, uniforms.t)'
    : '1 + 7 * g';
  const combine = s.parts.exactInt
    ? `var p = 0;
      for (var g = 0; g < uniforms.parts; g++) { p += part(g, ob, m, n) << u32(${shift}); }
      return f32((p >> u32(delta)) + uniforms.codeSumFactor * codeSum);`
    : `var d = f32(uniforms.codeSumFactor * codeSum);
      for (var g = 0; g < uniforms.parts; g++) { d += f32(part(g, ob, m, n)) * pow2i(${shift} - delta); }
      return d;`;
  return `
    fn part(g: i32, ob: i32, m: i32, n: i32) -> i32 {
      var p = 0;
      for (var sp = 0; sp < uniforms.splits; sp++) {
        p += P[(((g * uniforms.splits + sp) * uniforms.outBatch + ob) * uniforms.m + m) * uniforms.np4 * 4 + n];
      }
      return p;
    }
    fn productD(ob: i32, m: i32, n: i32, bi: i32, codeSum: i32) -> f32 {
      let delta = ${delta};
      ${combine}
    }`;
}

export class EpilogueProgram extends PbqFlatProgram {
  constructor(readonly shape: EpilogueShape) {
    const s = shape;
    const p = s.parts;
    const inputs = p ? ['P', 'X', 'Scale', 'BatchIndex'] : [];
    if (p && s.channelShifts) inputs.push('Shift');
    if (s.hasBias) inputs.push('bias');
    if (s.activation === 'prelu') inputs.push('preluActivationWeights');
    super({
      name: 'epilogue',
      key: [p ? `${p.planeRanges ? 'planes' : 'dot4'}_${p.exactInt}` : 'zero',
        s.channelShifts, s.hasBias, s.activation].join('_'),
      outputShape: s.outShape,
      inputs,
      uniforms: {
        ints: {
          outBatch: s.outBatch, m: s.m, n: s.n, np4: s.np4, splits: s.splits, rowLength: s.rowLength, bits: s.activationBits,
          parts: p?.groups ?? 0, codeSumFactor: p?.codeSumFactor ?? 0, t: s.t, partLength: p?.planeRanges?.[0][1] ?? 0,
        },
        alpha: s.activation === 'leakyrelu' ? s.leakyreluAlpha ?? 0.2 : undefined,
      },
      source: `
  ${POW2_WGSL}
  ${activationWGSL(s.activation)}
  ${p ? dSource({ ...s, parts: p }) : ''}
  fn main(index: i32) {
    if (index >= uniforms.size) { return; }
    ${p ? productY(s) : 'var y = 0.0;'}
    ${s.hasBias ? 'y = y + getBiasByOutputIndex(index);' : ''}
    setOutputAtIndex(index, activation(y, index));
  }`,
    });
  }
}

/** WGSL declaring y = 2^(E−(A−1)) · (m_n 2^−t_n) · d of output `index` (NaN rows: NaN, zero rows: 0). */
function productY(s: EpilogueShape): string {
  return `
    let n = index % uniforms.n;
    let rest = index / uniforms.n;
    let m = rest % uniforms.m;
    let ob = rest / uniforms.m;
    ${BATCH_INDEX_WGSL}
    let row = (ai * uniforms.m + m) * uniforms.rowLength;
    let e = X[row];
    var y: f32;
    if (e == ${NAN_ROW}) {
      y = uniforms.NAN;
    } else if (e == ${ZERO_ROW}) {
      y = 0.0;
    } else {
      // y = 2^e · (m_n 2^-t_n) · d with e = E − (A−1)
      y = pow2i(e - uniforms.bits + 1) * (Scale[bi * uniforms.n + n] * productD(ob, m, n, bi, X[row + 1]));
    }`;
}
