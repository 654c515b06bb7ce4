/**
 * Registers the chained tensor methods (`t.flatten()`, `t.toInt()`, ...) on tf.Tensor.
 *
 * The Node (CommonJS) bundle of @tensorflow/tfjs-core 4.22 does not register them (only the
 * `@tensorflow/tfjs` union package does, via the ESM `public/chained_ops` files which cannot
 * be `require`d here), but @tensorflow/tfjs-layers calls some of them (e.g. the Orthogonal
 * initializer of LSTM/GRU calls `flatten`). This mirrors tfjs-core's chained_ops files.
 * Idempotent; existing methods are never overwritten.
 */
import * as tf from '@tensorflow/tfjs-core';

const GENERIC = ('abs acos acosh add all any argMax argMin asin asinh atan atan2 atanh batchNorm ' +
  'batchToSpaceND broadcastTo cast ceil clipByValue conv1d conv2d cos cosh cumprod cumsum depthToSpace div ' +
  'divNoNan dot elu equal erf euclideanNorm exp expandDims expm1 fft floor floorDiv gather greater ' +
  'greaterEqual ifft irfft isFinite isInf isNaN leakyRelu less lessEqual log log1p logSigmoid logSoftmax ' +
  'logSumExp logicalAnd logicalNot logicalOr logicalXor matMul max maximum mean min minimum mirrorPad mod mul ' +
  'neg norm notEqual oneHot onesLike pad pool pow prelu prod reciprocal relu relu6 reshape reverse rfft round ' +
  'rsqrt selu sigmoid sign sin sinh slice softmax softplus spaceToBatchND split sqrt square squaredDifference ' +
  'squeeze step stridedSlice sub sum tan tanh tile topk transpose unique unstack zerosLike').split(' ');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => any;

export function registerChainedOps(): void {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const proto = (tf.Tensor as any).prototype;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const ops = tf as any as Record<string, AnyFn>;
  const def = (name: string, fn: AnyFn) => {
    if (typeof proto[name] !== 'function') proto[name] = fn;
  };
  for (const name of GENERIC) {
    if (typeof ops[name] !== 'function') continue;
    def(name, function(this: tf.Tensor, ...args: unknown[]) { return ops[name](this, ...args); });
  }
  const flat = function(this: tf.Tensor) { return tf.reshape(this, [this.size]); };
  def('flatten', flat);
  def('as1D', flat);
  def('as2D', function(this: tf.Tensor, r: number, c: number) { return tf.reshape(this, [r, c]); });
  def('as3D', function(this: tf.Tensor, ...s: number[]) { return tf.reshape(this, s); });
  def('as4D', function(this: tf.Tensor, ...s: number[]) { return tf.reshape(this, s); });
  def('as5D', function(this: tf.Tensor, ...s: number[]) { return tf.reshape(this, s); });
  def('asScalar', function(this: tf.Tensor) { return tf.reshape(this, []); });
  def('asType', function(this: tf.Tensor, d: tf.DataType) { return tf.cast(this, d); });
  def('toFloat', function(this: tf.Tensor) { return tf.cast(this, 'float32'); });
  def('toInt', function(this: tf.Tensor) { return tf.cast(this, 'int32'); });
  def('toBool', function(this: tf.Tensor) { return tf.cast(this, 'bool'); });
  def('reshapeAs', function(this: tf.Tensor, x: tf.Tensor) { return tf.reshape(this, x.shape); });
  def('concat', function(this: tf.Tensor, x: tf.Tensor | tf.Tensor[], axis?: number) {
    return tf.concat([this, ...(x instanceof tf.Tensor ? [x] : x)], axis);
  });
  def('stack', function(this: tf.Tensor, x: tf.Tensor | tf.Tensor[], axis?: number) {
    return tf.stack([this, ...(x instanceof tf.Tensor ? [x] : x)], axis);
  });
  def('where', function(this: tf.Tensor, cond: tf.Tensor, x: tf.Tensor) { return tf.where(cond, this, x); });
}

registerChainedOps();
