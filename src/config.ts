/**
 * pbq's run-time configuration: one typed object, mirrored in `tf.env()` flags.
 *
 * The flags are the single source of truth, so `tf.env().set('PBQ_WEIGHT_BITS', 4)` and
 * `pbq.configure({weightBits: 4})` are the same thing. `configure` validates before it writes,
 * so a bad value never reaches a kernel; `getConfig` validates what it reads, so a bad value set
 * directly through `tf.env()` is reported by name at the next matmul.
 */
import { env } from '@tensorflow/tfjs-core';
import { describeValue } from './describe';
import { MAX_BITS } from './quantize';

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
  /**
   * Threads sharing pbq-wasm's large products (Node worker_threads, Web Workers in a
   * cross-origin isolated page; README, "Threads"): 0 = auto (the cores, at most 4), 1 = one
   * thread, up to MAX_WASM_THREADS. Other pages run one thread.
   */
  wasmThreads: number;
}

/** Most threads pbq-wasm's engine runs a product on (kernels/wasm/thread_pool.ts MAX_THREADS). */
export const MAX_WASM_THREADS = 16;

export { MAX_BITS };

export const DEFAULT_CONFIG: Readonly<PbqConfig> = Object.freeze<PbqConfig>({
  weightBits: 8,
  activationBits: 8,
  activationMatMul: 'quantize',
  accumulator: { type: 'exact' },
  webglProduct: 'auto',
  webgpuProduct: 'auto',
  wasmThreads: 0,
});

/** tf.env() flag of each config key. */
export const FLAGS = {
  weightBits: 'PBQ_WEIGHT_BITS',
  activationBits: 'PBQ_ACTIVATION_BITS',
  activationMatMul: 'PBQ_ACTIVATION_MATMUL',
  accumulator: 'PBQ_ACCUMULATOR',
  webglProduct: 'PBQ_WEBGL_PRODUCT',
  webgpuProduct: 'PBQ_WEBGPU_PRODUCT',
  wasmThreads: 'PBQ_WASM_THREADS',
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
    throw new PbqConfigError(`${name} must be an integer in ${min}..${max}, got ${describeValue(value)}`);
  }
  return value;
}

function checkOneOf<T extends string>(name: string, value: unknown, options: readonly T[]): T {
  if (!options.includes(value as T)) {
    throw new PbqConfigError(
      `${name} must be one of ${options.map((o) => `'${o}'`).join(', ')}, got ${describeValue(value)}`,
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
    throw new PbqConfigError(`accumulator must be an object like {type: 'exact'}, got ${describeValue(acc)}`);
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

const ACCUMULATOR_FLAG_FORMS = "'exact', 'int:BITS[:wrap|saturate]' or 'float:MANTISSA:EXPONENT[:CHUNK[:floor|nearest]]'";

/**
 * Parses the PBQ_ACCUMULATOR flag strictly: one of the forms above, numbers as plain decimal
 * digits (no '1e1', '0x10', signs or blanks), nothing after the last field.
 */
export function accumulatorFromFlag(flag: unknown): AccumulatorConfig {
  const bad = (why: string) => new PbqConfigError(`${FLAGS.accumulator} must look like ${ACCUMULATOR_FLAG_FORMS}, got ${describeValue(flag)}${why}`);
  if (typeof flag !== 'string') throw bad('');
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  let config: unknown;
  let m: RegExpExecArray | null;
  if (flag === 'exact') config = { type: 'exact' };
  else if ((m = /^int:(\d{1,3})(?::(wrap|saturate))?$/.exec(flag)) !== null) config = { type: 'int', bits: num(m[1]), overflow: m[2] };
  else if ((m = /^float:(\d{1,3}):(\d{1,3})(?::(\d{1,8})(?::(floor|nearest))?)?$/.exec(flag)) !== null) {
    config = { type: 'float', mantissa: num(m[1]), exponent: num(m[2]), chunk: num(m[3]), rounding: m[4] };
  } else throw bad('');
  try {
    return validateAccumulator(config);
  } catch (e) {
    throw bad(`: ${(e as Error).message.replace(/^pbq: /, '')}`);
  }
}

/** Checks a partial config (unknown keys, ranges) and returns it normalized. */
export function validateConfig(partial: Partial<PbqConfig>): Partial<PbqConfig> {
  const proto = partial !== null && typeof partial === 'object' ? Object.getPrototypeOf(partial) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new PbqConfigError(`configure() takes a plain object like {weightBits: 4}, got ${describeValue(partial)}`);
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
  if ('wasmThreads' in partial) out.wasmThreads = checkInteger('wasmThreads', partial.wasmThreads, 0, MAX_WASM_THREADS);
  return out;
}

let flagsRegistered = false;

/**
 * Whether weightBits was set by the user (configure, tf.env().set) since the last resetConfig.
 * A loaded pbq model whose stored planes exceed an unchosen weightBits raises it
 * (raiseWeightBits); a chosen one is respected (fewer bits truncate the stored planes).
 */
let weightBitsChosen = false;
let raising = false;

/** Registers the PBQ_* flags with their defaults (idempotent). */
export function registerFlags(): void {
  if (flagsRegistered) return;
  flagsRegistered = true;
  const e = env();
  e.registerFlag(FLAGS.weightBits, () => DEFAULT_CONFIG.weightBits, () => {
    if (!raising) weightBitsChosen = true;
  });
  e.registerFlag(FLAGS.activationBits, () => DEFAULT_CONFIG.activationBits);
  e.registerFlag(FLAGS.activationMatMul, () => DEFAULT_CONFIG.activationMatMul);
  e.registerFlag(FLAGS.accumulator, () => accumulatorToFlag(DEFAULT_CONFIG.accumulator));
  e.registerFlag(FLAGS.webglProduct, () => DEFAULT_CONFIG.webglProduct);
  e.registerFlag(FLAGS.webgpuProduct, () => DEFAULT_CONFIG.webgpuProduct);
  e.registerFlag(FLAGS.wasmThreads, () => DEFAULT_CONFIG.wasmThreads);
}

/** The setting of `key` in force, read from its flag and validated (the error names the flag). */
function readSetting<K extends keyof PbqConfig>(key: K): PbqConfig[K] {
  const e = env();
  const value = e.get(FLAGS[key]);
  switch (key) {
    case 'weightBits':
    case 'activationBits':
      return checkInteger(FLAGS[key], value, 1, MAX_BITS) as PbqConfig[K];
    case 'activationMatMul':
      return checkOneOf(FLAGS[key], value, ['quantize', 'float'] as const) as PbqConfig[K];
    case 'webglProduct':
      return checkOneOf(FLAGS[key], value, WEBGL_PRODUCTS) as PbqConfig[K];
    case 'webgpuProduct':
      return checkOneOf(FLAGS[key], value, WEBGPU_PRODUCTS) as PbqConfig[K];
    case 'wasmThreads':
      return checkInteger(FLAGS[key], value, 0, MAX_WASM_THREADS) as PbqConfig[K];
    default:
      return accumulatorFromFlag(value) as PbqConfig[K];
  }
}

function writeSettings(config: Partial<PbqConfig>): void {
  const e = env();
  if (config.weightBits !== undefined) e.set(FLAGS.weightBits, config.weightBits);
  if (config.activationBits !== undefined) e.set(FLAGS.activationBits, config.activationBits);
  if (config.activationMatMul !== undefined) e.set(FLAGS.activationMatMul, config.activationMatMul);
  if (config.accumulator !== undefined) e.set(FLAGS.accumulator, accumulatorToFlag(config.accumulator));
  if (config.webglProduct !== undefined) e.set(FLAGS.webglProduct, config.webglProduct);
  if (config.webgpuProduct !== undefined) e.set(FLAGS.webgpuProduct, config.webgpuProduct);
  if (config.wasmThreads !== undefined) e.set(FLAGS.wasmThreads, config.wasmThreads);
}

/**
 * Sets some settings; takes effect at the next kernel call (no re-quantization needed). All or
 * nothing: the call is checked first, together with the settings it leaves as they are (a bad
 * value set directly through tf.env() is reported by its flag), and a rejected call changes
 * nothing. The settings are global (tf.env() flags): they apply to every model and every async
 * task of the page or process; see withConfig for settings scoped to one synchronous call.
 */
export function configure(partial: Partial<PbqConfig>): PbqConfig {
  registerFlags();
  const valid = validateConfig(partial);
  const next = { ...valid } as PbqConfig;
  for (const key of KNOWN_KEYS) if (!(key in valid)) (next as unknown as Record<string, unknown>)[key] = readSetting(key);
  writeSettings(valid);
  return next;
}

/** The settings in force (read from the flags, validated). */
export function getConfig(): PbqConfig {
  registerFlags();
  return {
    weightBits: readSetting('weightBits'),
    activationBits: readSetting('activationBits'),
    activationMatMul: readSetting('activationMatMul'),
    accumulator: readSetting('accumulator'),
    webglProduct: readSetting('webglProduct'),
    webgpuProduct: readSetting('webgpuProduct'),
    wasmThreads: readSetting('wasmThreads'),
  };
}

/**
 * Runs the synchronous `fn` with `partial` in force, then restores the settings that were in
 * force before (also when `fn` throws). For a per-call override such as
 * `withConfig({weightBits: 4}, () => model.predict(x))`: kernels read the settings when they run,
 * and predict runs its kernels synchronously (on WebGL too: they are issued before it returns).
 * `fn` must not be async: the settings would leak to every task that runs while it awaits.
 */
export function withConfig<T>(partial: Partial<PbqConfig>, fn: () => T): T {
  if (typeof fn !== 'function') throw new PbqConfigError(`withConfig(config, fn) needs a function, got ${describeValue(fn)}`);
  const before = getConfig();
  const chosenBefore = weightBitsChosen;
  configure(partial);
  try {
    const result = fn();
    if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
      (result as unknown as Promise<unknown>).then(undefined, () => undefined);
      throw new PbqConfigError('withConfig(config, fn) runs a synchronous fn; it returned a promise (settings are global: ' +
        'an async fn would apply them to every task that runs while it awaits). Await outside: withConfig(c, () => model.predict(x)), then await data()');
    }
    return result;
  } finally {
    writeSettings(before);
    weightBitsChosen = chosenBefore;
  }
}

/** Restores every setting to its default (weightBits counts as not chosen again). */
export function resetConfig(): PbqConfig {
  const config = configure({ ...DEFAULT_CONFIG, accumulator: { ...DEFAULT_CONFIG.accumulator } });
  weightBitsChosen = false;
  return config;
}

/** True when the user set weightBits (configure or the PBQ_WEIGHT_BITS flag) since the last resetConfig. */
export function isWeightBitsChosen(): boolean {
  registerFlags();
  return weightBitsChosen;
}

/**
 * Raises weightBits to `bits` when it is lower and the user has not chosen it (the raise does
 * not count as a choice). Returns the weightBits in force.
 */
export function raiseWeightBits(bits: number): number {
  const current = getConfig().weightBits;
  if (weightBitsChosen || bits <= current) return current;
  raising = true;
  try {
    env().set(FLAGS.weightBits, checkInteger('weightBits', bits, 1, MAX_BITS));
  } finally {
    raising = false;
  }
  return bits;
}
