/**
 * Weight quantization on the GPU, pass 1 (for a B operand whose values exist only on the GPU,
 * gpu_weight.ts DeviceQuantizedWeight): the per-channel range m_n = max_k |w_kn| of quantize.ts,
 * exact (a max over the |w| bits), NaN for a channel holding NaN or ±Inf (quantize.ts's 'nan'
 * policy: those outputs are NaN). One invocation per channel; B is [batch, K, N], or
 * [batch, N, K] when transposed.
 */
import { PbqFlatProgram } from './wgsl_common';

/** WGSL of element (b, k, n) of B in its layout. */
export function weightElement(transposed: boolean): string {
  return transposed ? 'B[(b * uniforms.n + n) * uniforms.k + k]' : 'B[(b * uniforms.k + k) * uniforms.n + n]';
}

export class WeightRangeProgram extends PbqFlatProgram {
  constructor(batch: number, k: number, n: number, transposed: boolean) {
    super({
      name: 'weight_range',
      key: `${transposed}`,
      outputShape: [batch * n],
      inputs: ['B'],
      uniforms: { ints: { k, n } },
      source: `
  fn main(index: i32) {
    if (index >= uniforms.size) { return; }
    let b = index / uniforms.n;
    let n = index - b * uniforms.n;
    var maxBits = 0u;
    var nonFinite = false;
    for (var k = 0; k < uniforms.k; k++) {
      let u = bitcast<u32>(${weightElement(transposed)}) & 0x7fffffffu;
      nonFinite = nonFinite || u >= 0x7f800000u;
      maxBits = max(maxBits, u);
    }
    setOutputAtIndex(index, select(bitcast<f32>(maxBits), uniforms.NAN, nonFinite));
  }`,
    });
  }
}
