/** The demo page's setting and the accumulator selector's values (no DOM: the page test imports it). */
import type { AccumulatorConfig } from '../../src/index';

export interface DemoSetting { backend: string; weightBits: number; activationBits: number; accumulator: string }

/** The accumulator selector's values: 'exact', 'int:B:wrap|saturate', 'float:M:E:chunk' (floor rounding). */
export function parseAccumulator(v: string): AccumulatorConfig {
  const [type, ...rest] = v.split(':');
  if (type === 'int') return { type: 'int', bits: Number(rest[0]), overflow: rest[1] as 'wrap' | 'saturate' };
  if (type === 'float') return { type: 'float', mantissa: Number(rest[0]), exponent: Number(rest[1]), chunk: Number(rest[2]), rounding: 'floor' };
  if (type !== 'exact') throw new Error(`unknown accumulator '${v}'`);
  return { type: 'exact' };
}
