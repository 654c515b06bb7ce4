/**
 * Device profiles of the WebGL products: which exact product `'auto'` picks (select_product.ts),
 * named, with the evidence behind it. The profile is read from the renderer string
 * (WEBGL_debug_renderer_info), so a real GPU is not tuned by numbers measured on a CPU emulator.
 */
import { pairsField } from './pairs_product_gpu';

export type ExactProduct = 'planes' | 'codes' | 'pairs';

export interface DeviceProfile {
  readonly name: 'swiftshader' | 'gpu';
  /** Where the choice comes from. */
  readonly evidence: string;
  /** The exact product for t weight planes (the widest channel's) at A activation bits and K. */
  autoProduct(t: number, activationBits: number, k: number): ExactProduct;
}

/**
 * SwiftShader (a CPU-emulated GPU: multiplies cost what bit operations cost, shifts by a
 * variable amount cost 3.5x): pair products wherever they fit (1–4 planes at A ≤ 8/9), codes for
 * 4–8 planes, the plane form above 8 planes and for 1–3 planes at wide activations.
 */
export const SWIFTSHADER_PROFILE: DeviceProfile = {
  name: 'swiftshader',
  evidence: 'tools/bench/README.md, round 3 (codes vs plane form, pairs vs codes; 1×4096×4096 and MLP, W1–8 × A8/16) and tools/bench/results/results.md',
  autoProduct(t, activationBits, k) {
    if (pairsField(t, activationBits, k) !== 0) return 'pairs';
    return t >= 4 && t <= 8 ? 'codes' : 'planes';
  },
};

/**
 * Real GPUs (not measured yet: no GPU machine was available). The plane form reads exactly t/32
 * of float32's weight bytes and its bit-sliced adds are ALU work a GPU has to spare at batch 1,
 * where a matmul is bound by memory; the code layouts round t up to 2, 4 or 8 bits.
 */
export const GPU_PROFILE: DeviceProfile = {
  name: 'gpu',
  evidence: 'unmeasured: bytes read per weight (planes t bits, codes/pairs 2/4/8 bits); DESIGN-NOTES §1',
  autoProduct: () => 'planes',
};

/** The profile of a renderer string (UNMASKED_RENDERER_WEBGL, or RENDERER when masked). */
export function profileForRenderer(renderer: string): DeviceProfile {
  return /swiftshader/i.test(renderer) ? SWIFTSHADER_PROFILE : GPU_PROFILE;
}

/** The renderer string of a WebGL 2 context. */
export function rendererOf(gl: WebGL2RenderingContext): string {
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
}
