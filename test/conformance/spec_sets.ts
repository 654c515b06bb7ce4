/** tfjs-core 4.22 spec files (relative to node_modules/@tensorflow/tfjs-core/dist) run against 'pbq'. */

/** (a) the kernels pbq replaces. */
export const MATMUL_SPECS = [
  'ops/mat_mul_test.js',
  'ops/fused/fused_mat_mul_test.js',
];

/** (b) a broad sample of the other kernels, which pbq inherits from its base backend. */
export const BROAD_SPECS = [
  'ops/add_test.js',
  'ops/sub_test.js',
  'ops/arithmetic_test.js',
  'ops/relu_test.js',
  'ops/relu6_test.js',
  'ops/leaky_relu_test.js',
  'ops/elu_test.js',
  'ops/sigmoid_test.js',
  'ops/tanh_test.js',
  'ops/softmax_test.js',
  'ops/exp_test.js',
  'ops/log_test.js',
  'ops/sqrt_test.js',
  'ops/abs_test.js',
  'tensor_test.js',  // reshape, cast, clone, data/dataSync, …
  'ops/clip_by_value_test.js',
  'ops/transpose_test.js',
  'ops/concat_test.js',
  'ops/slice_test.js',
  'ops/split_test.js',
  'ops/stack_test.js',
  'ops/sum_test.js',
  'ops/max_test.js',
  'ops/mean_test.js',
  'ops/arg_max_test.js',
  'ops/gather_test.js',
  'ops/where_test.js',
  'ops/pad_test.js',
  'ops/tile_test.js',
  'ops/one_hot_test.js',
  'ops/batchnorm_test.js',
  'ops/conv2d_test.js',
  'ops/max_pool_test.js',
  'ops/avg_pool_test.js',
  'ops/equal_test.js',
  'ops/greater_test.js',
];

export type SpecSetName = 'matmul' | 'broad' | 'all';

export function specsFor(set: SpecSetName): string[] {
  if (set === 'matmul') return MATMUL_SPECS;
  if (set === 'broad') return BROAD_SPECS;
  return [...MATMUL_SPECS, ...BROAD_SPECS];
}
