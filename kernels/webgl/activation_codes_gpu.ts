/**
 * Per-element activation codes a = clamp(round_half_up(x / 2^e), ±(2^A − 1)) as exact floats,
 * from A and its row exponents (row_exponent_gpu.ts); 0 in zero and NaN rows. Computed once per
 * call; the raw products' pack passes read them.
 */
import { MIN_ROW_EXPONENT } from '../../src/quantize';
import { activationCodeGLSL, POW2_HELPERS, ShapeFreeProgram } from './glsl_common';
import { placedFragmentGLSL } from './raw_layout';
import { RAW_HEADER } from './raw_program';
import { aElement } from './row_exponent_gpu';

export class ActivationCodesProgram extends ShapeFreeProgram {
  variableNames = ['A', 'RowExp'];

  /** a: [batch·M, K] (or [batch·K, M] with transposeA: aView; `direct`: aElement), RowExp [batch, M]. Output [batch·M, K]. */
  constructor(batch: number, m: number, k: number, transposeA: boolean, direct: boolean, bits: number) {
    super([batch * m, k], { shapeM: m, shapeK: k });
    this.userCode = `
      ${POW2_HELPERS}
      ${activationCodeGLSL(bits)}
      void main() {
        ivec2 c = getOutputCoords();
        int b = c.x / shapeM;
        int r = c.x - b * shapeM;
        int k = c.y;
        float rowExp = getRowExp(b, r);
        if (isnan(rowExp) || rowExp < ${MIN_ROW_EXPONENT}.0) {
          setOutput(0.0);
          return;
        }
        float x = ${aElement(transposeA, direct)};
        setOutput(float(activationCode(x, activationFactors(rowExp))));
      }
    `;
  }
}

/**
 * Where a pack pass reads the codes: the codes texture this program wrote, or A itself (the 2D
 * view [batch·M, K], unpacked, texture shaped like it) and its row exponents, quantized on the
 * fly with the same GLSL (activationCodeGLSL): one pass fewer, used whenever the textures allow.
 */
export type CodesSource = 'codes' | 'activations';

/**
 * GLSL of a pack pass's code reader. The codes of activation row ra are the flat indices
 * ra·K + k, row-major in a texture `codesWidth` texels wide (K for A itself): `startRow(ra)` once
 * per fragment, `codeTexel(fi)` finds an index once, `nextCode(p)` reads it and steps to the
 * next, so a pass reading consecutive codes divides once.
 */
export function codeReaderGLSL(from: CodesSource, bits: number): string {
  const step = `p.x++;
      if (p.x == codesWidth) p = ivec2(0, p.y + 1);`;
  const common = `uniform int codesWidth;
    ivec2 codeTexel(int fi) { return ivec2(fi % codesWidth, fi / codesWidth); }`;
  if (from === 'codes') {
    return `uniform sampler2D Codes;
    ${common}
    void startRow(int ra) {}
    float nextCode(inout ivec2 p) {
      float c = texelFetch(Codes, p, 0).r;
      ${step}
      return c;
    }`;
  }
  return `uniform sampler2D A;
    uniform sampler2D RowExp;
    uniform int shapeM;
    ${common}
    ${POW2_HELPERS}
    ${activationCodeGLSL(bits)}
    vec2 rowFactors;
    bool rowZero;
    // E of row ra = b·M + r is RowExp[b, r]; NaN and zero rows have code 0 (ActivationCodesProgram)
    void startRow(int ra) {
      int b = ra / shapeM;
      float e = texelFetch(RowExp, ivec2(ra - b * shapeM, b), 0).r;
      rowZero = isnan(e) || e < ${MIN_ROW_EXPONENT}.0;
      rowFactors = rowZero ? vec2(0.0) : activationFactors(e);
    }
    float nextCode(inout ivec2 p) {
      float x = texelFetch(A, p, 0).r;
      ${step}
      return rowZero ? 0.0 : float(activationCode(x, rowFactors));
    }`;
}

/** The samplers of a pack pass. */
export function packSamplers(from: CodesSource): string[] {
  return from === 'codes' ? ['Codes'] : ['A', 'RowExp'];
}

/** The uniforms of a pack pass: rows placed (activation rows × texture rows per row), the codes' texture width (and M). */
export function packUniforms(from: CodesSource): Array<{ name: string; type: 'int' }> {
  const u: Array<{ name: string; type: 'int' }> = [{ name: 'rows', type: 'int' }, { name: 'codesWidth', type: 'int' }];
  return from === 'codes' ? u : [...u, { name: 'shapeM', type: 'int' }];
}

/** What a pack pass adds to the frame packPassSource writes. */
export interface PackPassParts {
  /** The output texel type. */
  out: 'uvec4' | 'vec4';
  /** Placement of the placed rows (PlacementShape), K, A, and where the codes come from. */
  place: { rowLength: number; perLine: number };
  k: number;
  activationBits: number;
  from: CodesSource;
  /** GLSL after `j`, `rr` are known: declares `int ra`, the activation row of placed row rr (default: rr). */
  row?: string;
  /** The texel of a row that holds T = Σ_k a_k, and a GLSL condition for the rows whose T is written (default: all). */
  tTexel: number;
  tWhen?: string;
  /** GLSL of the other texels: reads codes from `base` = ra·K on (codeTexel, nextCode) and writes outColor. */
  body: string;
}

/**
 * A pack pass (raw_program.ts): fragment (texel j, placed row rr) → its texel of the activation
 * layout, zero past `rows`; texel tTexel of a row holds T.
 */
export function packPassSource(p: PackPassParts): string {
  const T = p.out === 'vec4' ? 'float(T)' : 'uint(T)';
  return `${RAW_HEADER}
    ${codeReaderGLSL(p.from, p.activationBits)}
    uniform int rows;
    layout(location = 0) out ${p.out} outColor;
    void main() {
      ${placedFragmentGLSL(p.place)}
      if (rr >= rows) { outColor = ${p.out}(0); return; }
      ${p.row ?? 'int ra = rr;'}
      startRow(ra);
      int base = ra * ${p.k};
      if (j == ${p.tTexel}) {
        int T = 0;
        ivec2 p = codeTexel(base);
        if (${p.tWhen ?? 'true'}) for (int i = 0; i < ${p.k}; i++) T += int(nextCode(p));
        outColor = ${p.out}(${T}, 0, 0, 0);
        return;
      }
      ${p.body}
    }`;
}
