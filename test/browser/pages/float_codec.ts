/**
 * Puppeteer passes arguments and results as JSON, where NaN and ±Infinity become null. Float
 * arrays crossing the page boundary are therefore encoded: non-finite values travel as strings.
 */
export type EncodedFloats = Array<number | string>;

export function encodeFloats(values: ArrayLike<number>): EncodedFloats {
  return Array.from(values, (v) => (Number.isFinite(v) ? v : String(v)));
}

export function decodeFloats(values: EncodedFloats): number[] {
  return values.map((v) => (typeof v === 'string' ? Number(v) : v));
}
