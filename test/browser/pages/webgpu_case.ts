/**
 * A matmul case of the WebGPU tests, as it crosses the page boundary. Puppeteer passes arguments
 * and results as JSON, where NaN and ±Infinity become null, so float arrays are encoded:
 * non-finite values travel as strings.
 */
import type { backend_util } from '@tensorflow/tfjs-core';
import type { AccumulatorConfig } from '../../../src/config';

export type EncodedFloats = Array<number | string>;

export function encodeFloats(values: ArrayLike<number>): EncodedFloats {
  return Array.from(values, (v) => (Number.isFinite(v) ? v : String(v)));
}

export function decodeFloats(values: EncodedFloats): number[] {
  return values.map((v) => (typeof v === 'string' ? Number(v) : v));
}

/** A tensor crossing the page boundary. */
export interface Operand { values: EncodedFloats; shape: number[] }

export interface MatMulCase {
  a: Operand; b: Operand; transposeA?: boolean; transposeB?: boolean;
  bias?: Operand; prelu?: Operand; activation?: backend_util.Activation; leakyreluAlpha?: number;
  weightBits: number; activationBits: number;
  accumulator?: AccumulatorConfig;
}
