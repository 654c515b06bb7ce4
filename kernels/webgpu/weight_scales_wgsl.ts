/**
 * m_n · 2^−t of a weight quantized on the GPU (weight_range_wgsl.ts), the epilogue's channel
 * factor: a power-of-two scaling of the range, exact (gpu_weight.ts channelScales is its CPU twin).
 */
import { PbqFlatProgram, POW2_WGSL } from './wgsl_common';

export class WeightScalesProgram extends PbqFlatProgram {
  constructor(channels: number, t: number) {
    super({
      name: 'weight_scales',
      key: '',
      outputShape: [channels],
      inputs: ['Range'],
      uniforms: { ints: { t } },
      source: `
  ${POW2_WGSL}
  fn main(index: i32) {
    if (index >= uniforms.size) { return; }
    setOutputAtIndex(index, Range[index] * pow2i(-uniforms.t));
  }`,
    });
  }
}
