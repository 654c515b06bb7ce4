/**
 * GLSL twin of src/accumulator.ts: the narrow register's add, in integer ops only. The CPU and
 * the shader run the same integer steps, so they agree bit for bit.
 */
import { AccumulatorConfig } from '../src/config';

type NarrowConfig = Exclude<AccumulatorConfig, { type: 'exact' }>;

/**
 * GLSL functions `int accAdd(int acc, int value, inout ivec2 events)` (events.x: overflows,
 * events.y: underflows) and, for float formats, `void accLimits(int bound)` that sets the
 * per-output limits from the output's largest possible |d|.
 */
export function accumulatorGLSL(config: NarrowConfig): string {
  if (config.type === 'int') {
    if (config.bits >= 31) {
      // |d| < 2^30 is required for simulation, so such a register never overflows.
      return 'int accAdd(int acc, int value, inout ivec2 events) { return acc + value; }';
    }
    const lo = -(2 ** (config.bits - 1));
    const hi = 2 ** (config.bits - 1) - 1;
    const onOverflow = config.overflow === 'saturate'
      ? `return sum < ${lo} ? ${lo} : ${hi};`
      // (sum - lo) mod 2^B + lo, through the two's complement bits of a uint
      : `return int(uint(sum - (${lo})) & ${2 ** config.bits - 1}u) + (${lo});`;
    return `
      int accAdd(int acc, int value, inout ivec2 events) {
        int sum = acc + value;
        if (sum >= ${lo} && sum <= ${hi}) return sum;
        events.x++;
        ${onOverflow}
      }`;
  }
  const M = config.mantissa;
  const roundUp = config.rounding === 'nearest'
    ? `uint rest = mag - kept * unit;
        uint halfUnit = unit >> 1u;
        if (rest > halfUnit || (rest == halfUnit && (kept & 1u) == 1u)) kept += 1u;`
    : '';
  return `
    int floorLog2(uint x) {
      int r = 0;
      if (x >= 65536u) { x >>= 16u; r += 16; }
      if (x >= 256u) { x >>= 8u; r += 8; }
      if (x >= 16u) { x >>= 4u; r += 4; }
      if (x >= 4u) { x >>= 2u; r += 2; }
      if (x >= 2u) { r += 1; }
      return r;
    }
    // Round an integer magnitude to ${M} fraction bits (${config.rounding}).
    uint roundMagnitude(uint mag) {
      if (mag == 0u) return 0u;
      int drop = floorLog2(mag) - ${M};
      if (drop <= 0) return mag;
      uint unit = 1u << uint(drop);
      uint kept = mag >> uint(drop);
      ${roundUp}
      return kept * unit;
    }
    int accMaxFinite;
    int accMinNormal;
    // Exponent bias from the output's largest |d| (see accumulator.ts).
    void accLimits(int bound) {
      int emax = floorLog2(uint(max(1, bound)));
      int emin = emax - ${2 ** config.exponent - 2};
      accMaxFinite = emax >= ${M} ? ${2 ** (M + 1) - 1} * (1 << (emax - ${M})) : (1 << (emax + 1)) - 1;
      accMinNormal = emin > 0 ? 1 << emin : 1;
    }
    int accAdd(int acc, int value, inout ivec2 events) {
      int sum = acc + value;
      uint mag = roundMagnitude(uint(abs(sum)));
      if (mag > uint(accMaxFinite)) {
        events.x++;
        mag = uint(accMaxFinite);
      } else if (mag != 0u && mag < uint(accMinNormal)) {
        events.y++;
        mag = 0u;
      }
      return sum < 0 ? -int(mag) : int(mag);
    }`;
}
