/**
 * pbq's run-time configuration: one typed object, mirrored in `tf.env()` flags.
 *
 * The flags are the single source of truth, so `tf.env().set('PBQ_WEIGHT_BITS', 4)` and
 * `pbq.configure({weightBits: 4})` are the same thing. `configure` validates before it writes,
 * so a bad value never reaches a kernel; `getConfig` validates what it reads, so a bad value set
 * directly through `tf.env()` is reported by name at the next matmul.
 */
import { env } from '@tensorflow/tfjs-core';

/** Accumulator of the integer dot products (see README, "Accumulator"). */
export type AccumulatorConfig =
  | { type: 'exact' }
  | { type: 'int'; bits: number; overflow: 'wrap' | 'saturate' }
  | {
      type: 'float';
      mantissa: number;
      exponent: number;
      chunk: number;
      rounding: 'floor' | 'nearest';
    };

/** The WebGL product (kernels/webgl/select_product.ts): 'auto' asks the device profile. */
export const WEBGL_PRODUCTS = ['auto', 'planes', 'codes', 'pairs', 'sampler'] as const;
export type WebGLProductFlag = typeof WEBGL_PRODUCTS[number];

/**
 * The WebGPU product (kernels/webgpu/select_product.ts): 'planes' = bit-plane AND + countOneBits,
 * 'dot4' = packed codes with dot4I8Packed; 'auto' asks the device profile.
 */
export const WEBGPU_PRODUCTS = ['auto', 'planes', 'dot4'] as const;
export type WebGPUProductFlag = typeof WEBGPU_PRODUCTS[number];

export interface PbqConfig {
  /** Weight bit planes used at run time, 1..16 (MSB first: fewer bits drop LSB planes). */
  weightBits: number;
  /** Magnitude bits of the per-row activation fixed point, 1..16 (plus a sign plane). */
  activationBits: number;
  /**
   * Policy for a matmul whose B operand is not a model weight (not a tf.Variable), e.g. the
   * product of two activations: 'quantize' treats it like a weight (quantized per column,
   * cached until the tensor is disposed); 'float' runs the base backend's float32 kernel.
   */
  activationMatMul: 'quantize' | 'float';
  /** How the integer dot products are accumulated; 'exact' unless simulating narrow hardware. */
  accumulator: AccumulatorConfig;
  /** Which WebGL program computes the exact products ('auto': the device profile's choice). */
  webglProduct: WebGLProductFlag;
  /** Which WebGPU program computes the exact products ('auto': the device profile's choice). */
  webgpuProduct: WebGPUProductFlag;
}

export const MAX_BITS = 16;

export const DEFAULT_CONFIG: Readonly<PbqConfig> = Object.freeze<PbqConfig>({
  weightBits: 8,
  activationBits: 8,
  activationMatMul: 'quantize',
  accumulator: { type: 'exact' },
  webglProduct: 'auto',
  webgpuProduct: 'auto',
});

/** tf.env() flag of each config key. */
export const FLAGS = {
  weightBits: 'PBQ_WEIGHT_BITS',
  activationBits: 'PBQ_ACTIVATION_BITS',
  activationMatMul: 'PBQ_ACTIVATION_MATMUL',
  accumulator: 'PBQ_ACCUMULATOR',
  webglProduct: 'PBQ_WEBGL_PRODUCT',
  webgpuProduct: 'PBQ_WEBGPU_PRODUCT',
} as const;

const KNOWN_KEYS = Object.keys(FLAGS) as Array<keyof PbqConfig>;

/** An error whose message names the bad setting; thrown for every invalid configuration. */
export class PbqConfigError extends Error {
  constructor(message: string) {
    super(`pbq: ${message}`);
    this.name = 'PbqConfigError';
  }
}

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new PbqConfigError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

function checkOneOf<T extends string>(name: string, value: unknown, options: readonly T[]): T {
  if (!options.includes(value as T)) {
    throw new PbqConfigError(
      `${name} must be one of ${options.map((o) => `'${o}'`).join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

function checkKeys(name: string, obj: object, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new PbqConfigError(`unknown ${name} key '${key}' (known: ${allowed.join(', ')})`);
    }
  }
}

/** Validates an accumulator description and fills in defaults ('wrap', chunk 1, 'floor'). */
export function validateAccumulator(acc: unknown): AccumulatorConfig {
  if (acc === null || typeof acc !== 'object') {
    throw new PbqConfigError(`accumulator must be an object like {type: 'exact'}, got ${String(acc)}`);
  }
  const a = acc as Record<string, unknown>;
  const type = checkOneOf('accumulator.type', a.type, ['exact', 'int', 'float'] as const);
  if (type === 'exact') {
    checkKeys('accumulator', a, ['type']);
    return { type };
  }
  if (type === 'int') {
    checkKeys('accumulator', a, ['type', 'bits', 'overflow']);
    return {
      type,
      bits: checkInteger('accumulator.bits', a.bits, 2, 32),
      overflow: checkOneOf('accumulator.overflow', a.overflow ?? 'wrap', ['wrap', 'saturate'] as const),
    };
  }
  checkKeys('accumulator', a, ['type', 'mantissa', 'exponent', 'chunk', 'rounding']);
  return {
    type,
    mantissa: checkInteger('accumulator.mantissa', a.mantissa, 1, 23),
    exponent: checkInteger('accumulator.exponent', a.exponent, 2, 8),
    chunk: checkInteger('accumulator.chunk', a.chunk ?? 1, 1, 1 << 20),
    rounding: checkOneOf('accumulator.rounding', a.rounding ?? 'floor', ['floor', 'nearest'] as const),
  };
}

/** Accumulator as one flag string: 'exact' | 'int:16:wrap' | 'float:7:4:16:floor'. */
export function accumulatorToFlag(acc: AccumulatorConfig): string {
  switch (acc.type) {
    case 'exact':
      return 'exact';
    case 'int':
      return `int:${acc.bits}:${acc.overflow}`;
    case 'float':
      return `float:${acc.mantissa}:${acc.exponent}:${acc.chunk}:${acc.rounding}`;
  }
}

export function accumulatorFromFlag(flag: unknown): AccumulatorConfig {
  if (typeof flag !== 'string') {
    throw new PbqConfigError(`${FLAGS.accumulator} must be a string like 'int:16:wrap', got ${String(flag)}`);
  }
  const [type, ...f] = flag.split(':');
  const num = (s: string | undefined) => (s === undefined || s === '' ? undefined : Number(s));
  if (type === 'int') return validateAccumulator({ type, bits: num(f[0]), overflow: f[1] });
  if (type === 'float') {
    return validateAccumulator({
      type, mantissa: num(f[0]), exponent: num(f[1]), chunk: num(f[2]), rounding: f[3] || undefined,
    });
  }
  return validateAccumulator({ type });
}

/** Checks a partial config (unknown keys, ranges) and returns it normalized. */
export function validateConfig(partial: Partial<PbqConfig>): Partial<PbqConfig> {
  if (partial === null || typeof partial !== 'object') {
    throw new PbqConfigError(`configure() takes an object, got ${String(partial)}`);
  }
  checkKeys('config', partial, KNOWN_KEYS);
  const out: Partial<PbqConfig> = {};
  if ('weightBits' in partial) out.weightBits = checkInteger('weightBits', partial.weightBits, 1, MAX_BITS);
  if ('activationBits' in partial) {
    out.activationBits = checkInteger('activationBits', partial.activationBits, 1, MAX_BITS);
  }
  if ('activationMatMul' in partial) {
    out.activationMatMul = checkOneOf('activationMatMul', partial.activationMatMul, ['quantize', 'float'] as const);
  }
  if ('accumulator' in partial) out.accumulator = validateAccumulator(partial.accumulator);
  if ('webglProduct' in partial) out.webglProduct = checkOneOf('webglProduct', partial.webglProduct, WEBGL_PRODUCTS);
  if ('webgpuProduct' in partial) out.webgpuProduct = checkOneOf('webgpuProduct', partial.webgpuProduct, WEBGPU_PRODUCTS);
  return out;
}

let flagsRegistered = false;

/** Registers the PBQ_* flags with their defaults (idempotent). */
export function registerFlags(): void {
  if (flagsRegistered) return;
  flagsRegistered = true;
  const e = env();
  e.registerFlag(FLAGS.weightBits, () => DEFAULT_CONFIG.weightBits);
  e.registerFlag(FLAGS.activationBits, () => DEFAULT_CONFIG.activationBits);
  e.registerFlag(FLAGS.activationMatMul, () => DEFAULT_CONFIG.activationMatMul);
  e.registerFlag(FLAGS.accumulator, () => accumulatorToFlag(DEFAULT_CONFIG.accumulator));
  e.registerFlag(FLAGS.webglProduct, () => DEFAULT_CONFIG.webglProduct);
  e.registerFlag(FLAGS.webgpuProduct, () => DEFAULT_CONFIG.webgpuProduct);
}

/** Sets some settings; takes effect at the next kernel call (no re-quantization needed). */
export function configure(partial: Partial<PbqConfig>): PbqConfig {
  registerFlags();
  const valid = validateConfig(partial);
  const e = env();
  if (valid.weightBits !== undefined) e.set(FLAGS.weightBits, valid.weightBits);
  if (valid.activationBits !== undefined) e.set(FLAGS.activationBits, valid.activationBits);
  if (valid.activationMatMul !== undefined) e.set(FLAGS.activationMatMul, valid.activationMatMul);
  if (valid.accumulator !== undefined) e.set(FLAGS.accumulator, accumulatorToFlag(valid.accumulator));
  if (valid.webglProduct !== undefined) e.set(FLAGS.webglProduct, valid.webglProduct);
  if (valid.webgpuProduct !== undefined) e.set(FLAGS.webgpuProduct, valid.webgpuProduct);
  return getConfig();
}

/** The settings in force (read from the flags, validated). */
export function getConfig(): PbqConfig {
  registerFlags();
  const e = env();
  return {
    weightBits: checkInteger(FLAGS.weightBits, e.get(FLAGS.weightBits), 1, MAX_BITS),
    activationBits: checkInteger(FLAGS.activationBits, e.get(FLAGS.activationBits), 1, MAX_BITS),
    activationMatMul: checkOneOf(FLAGS.activationMatMul, e.get(FLAGS.activationMatMul), ['quantize', 'float'] as const),
    accumulator: accumulatorFromFlag(e.get(FLAGS.accumulator)),
    webglProduct: checkOneOf(FLAGS.webglProduct, e.get(FLAGS.webglProduct), WEBGL_PRODUCTS),
    webgpuProduct: checkOneOf(FLAGS.webgpuProduct, e.get(FLAGS.webgpuProduct), WEBGPU_PRODUCTS),
  };
}

/** Restores every setting to its default. */
export function resetConfig(): PbqConfig {
  return configure({ ...DEFAULT_CONFIG, accumulator: { ...DEFAULT_CONFIG.accumulator } });
}
