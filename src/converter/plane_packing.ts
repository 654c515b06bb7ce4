/**
 * Per-channel plane storage for model.pbq. In memory (QuantizedWeight, src/quantize.ts) every
 * channel has `bits` planes, [batch][n][bits][words], and a multipoint channel with fewer
 * planes has zero planes past its count. On disk only each channel's own planes are written:
 * channel c holds channelBits[c]·words words, MSB plane first, channels in order. So a
 * multipoint file costs its average bits, not its widest channel's.
 */
import type { QuantizedWeight } from '../quantize';

/** Words of the per-channel packing: Σ_c channelBits[c] · words. */
export function packedPlaneWords(channelBits: ArrayLike<number>, words: number): number {
  let planes = 0;
  for (let c = 0; c < channelBits.length; c++) planes += channelBits[c];
  return planes * words;
}

/** Each channel's own planes, in channel order (the padding planes dropped). */
export function packChannelPlanes(w: QuantizedWeight): Uint32Array {
  const bitsOf = w.channelBits;
  if (!bitsOf) return w.planes;
  const out = new Uint32Array(packedPlaneWords(bitsOf, w.words));
  let at = 0;
  for (let c = 0; c < bitsOf.length; c++) {
    const from = c * w.bits * w.words;
    const len = bitsOf[c] * w.words;
    out.set(w.planes.subarray(from, from + len), at);
    at += len;
  }
  return out;
}

/** The in-memory [channels][bits][words] planes from the per-channel packing (zero padding planes). */
export function unpackChannelPlanes(packed: Uint32Array, channelBits: ArrayLike<number>, bits: number, words: number): Uint32Array {
  const planes = new Uint32Array(channelBits.length * bits * words);
  let at = 0;
  for (let c = 0; c < channelBits.length; c++) {
    const len = channelBits[c] * words;
    planes.set(packed.subarray(at, at + len), c * bits * words);
    at += len;
  }
  return planes;
}
