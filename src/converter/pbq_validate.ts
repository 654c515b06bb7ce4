/**
 * Validation of a `model.pbq` file (pbq_format.ts) at load: every header field and every
 * section, so that a corrupt or crafted file is a clear error naming the field and the file,
 * never NaN outputs or a confusing failure at predict.
 *
 * Header: the JSON must fill the declared length exactly (up to 3 NUL padding bytes), numbers
 * must be JSON numbers (not strings), shapes non-negative integers, layouts consistent with the
 * shapes, bit counts in 1..16. Sections: 4-byte aligned, in bounds, of the exact size their
 * weight needs, laid out back to back (each at the 4-aligned end of the previous one) so none
 * overlaps and no byte is unaccounted for. Contents: ranges finite and ≥ 0, per-channel plane
 * counts in 1..bits, no bits set past column K or past a channel's plane count, float weights
 * finite. Version 2 files carry a CRC-32 of the data section, checked before anything is read.
 */
import { describeValue } from '../describe';
import { isBitCount, MAX_BITS, QuantizedWeight } from '../quantize';
import type { WeightLayout } from '../weight_cache';
import { crc32 } from './crc32';
import { ConversionError } from './errors';

/** Versions this pbq reads: 1 (no checksum) and 2 (CRC-32 of the data section). */
export const PBQ_VERSIONS = [1, 2] as const;
export const PBQ_VERSION = 2;

interface Section { offset: number; length: number }

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isCount(v: unknown, min = 0): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function pad4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/** Throws the file's error: `<file>: <field> <problem>`. */
export function pbqError(file: string, message: string): never {
  throw new ConversionError(`${file}: ${message}`);
}

/**
 * The header JSON text of a file whose header field declares `declared` bytes: the JSON must
 * fill them up to at most 3 NUL padding bytes (the encoder's 4-byte alignment).
 */
export function headerText(bytes: Uint8Array, declared: number, file: string): string {
  if (declared % 4 !== 0) pbqError(file, `header length ${declared} is not a multiple of 4 (the file is corrupt)`);
  if (8 + declared > bytes.byteLength) pbqError(file, `header length ${declared} runs past the end of the file (${bytes.byteLength} bytes): truncated`);
  let end = 8 + declared;
  while (end > 8 && bytes[end - 1] === 0) end--;
  if (8 + declared - end > 3) pbqError(file, `header length ${declared} does not match the header (${end - 8} bytes of JSON, then ${8 + declared - end} NUL bytes)`);
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(8, end));
}

export type PbqModelFormat = 'pbq-layers-model' | 'pbq-graph-model';
export const PBQ_FORMATS: readonly PbqModelFormat[] = ['pbq-layers-model', 'pbq-graph-model'];

/** A validated header's weight entry (fields as in pbq_format.ts). */
export interface CheckedFloatWeight {
  name: string; shape: number[]; dtype: 'float32' | 'int32'; kind: 'float'; data: Section;
}
export interface CheckedPlanesWeight {
  name: string; shape: number[]; dtype: 'float32'; kind: 'planes'; layout: WeightLayout; bits: number; words: number;
  planes: Section; ranges: Section; channelBits?: Section; packing?: 'channel';
}
export type CheckedWeight = CheckedFloatWeight | CheckedPlanesWeight;

/** Checks one section field `{offset, length}` of exactly `bytes` bytes. */
function checkSection(file: string, field: string, s: unknown, bytes: number, dataLength: number, all: Array<Section & { field: string }>): Section {
  if (!isObject(s)) pbqError(file, `${field} must be an object {offset, length}, got ${describeValue(s)}`);
  if (!isCount(s.offset)) pbqError(file, `${field}.offset must be a non-negative integer, got ${describeValue(s.offset)}`);
  if (!isCount(s.length)) pbqError(file, `${field}.length must be a non-negative integer, got ${describeValue(s.length)}`);
  if (s.offset % 4 !== 0) pbqError(file, `${field}.offset ${s.offset} is not 4-byte aligned`);
  if (s.offset + s.length > dataLength) {
    pbqError(file, `${field} [${s.offset}, ${s.offset + s.length}) runs past the end of the data section (${dataLength} bytes)`);
  }
  if (s.length !== bytes) pbqError(file, `${field}.length is ${s.length} bytes, the weight needs ${bytes}`);
  const section = { offset: s.offset, length: s.length };
  all.push({ ...section, field });
  return section;
}

function checkShape(file: string, field: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.some((d) => !isCount(d))) {
    pbqError(file, `${field}.shape must be an array of non-negative integers, got ${describeValue(shape)}`);
  }
  return shape as number[];
}

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function checkLayout(file: string, field: string, w: Json, shape: number[]): WeightLayout {
  const layout = w.layout;
  if (!isObject(layout)) pbqError(file, `${field}.layout must be an object {batch, k, n, transposed}, got ${describeValue(layout)}`);
  for (const key of ['batch', 'k', 'n'] as const) {
    if (!isCount(layout[key], 1)) pbqError(file, `${field}.layout.${key} must be a positive integer, got ${describeValue(layout[key])}`);
  }
  if (typeof layout.transposed !== 'boolean') pbqError(file, `${field}.layout.transposed must be true or false, got ${describeValue(layout.transposed)}`);
  const { batch, k, n, transposed } = layout as unknown as WeightLayout;
  const inner = transposed ? [n, k] : [k, n];
  if (shape.length < 2 || product(shape.slice(0, -2)) !== batch || shape[shape.length - 2] !== inner[0] || shape[shape.length - 1] !== inner[1]) {
    pbqError(file, `${field}.layout ${JSON.stringify({ batch, k, n, transposed })} disagrees with its shape [${shape.join(', ')}]`);
  }
  return { batch, k, n, transposed };
}

/**
 * Checks the parsed header against the data section's length; returns its weights, typed.
 * Also checks the CRC-32 of version 2 files (`data` is the data section).
 */
export function checkHeader(header: unknown, data: Uint8Array, file: string): CheckedWeight[] {
  if (!isObject(header)) pbqError(file, `the header must be a JSON object, got ${describeValue(header)}`);
  if (!(PBQ_FORMATS as readonly unknown[]).includes(header.format)) {
    pbqError(file, `format must be ${PBQ_FORMATS.map((f) => `'${f}'`).join(' or ')}, got ${describeValue(header.format)}`);
  }
  if (!(PBQ_VERSIONS as readonly unknown[]).includes(header.version)) {
    pbqError(file, `version ${describeValue(header.version)} is not supported (this pbq reads versions ${PBQ_VERSIONS.join(' and ')}): ` +
      'convert the model again with this version of pbq');
  }
  if (header.version === 2) {
    const c = header.checksum;
    if (!isObject(c) || !isCount(c.crc32) || c.crc32 > 0xffffffff) pbqError(file, `checksum.crc32 must be a 32-bit unsigned integer, got ${describeValue(isObject(c) ? c.crc32 : c)}`);
    const actual = crc32(data);
    if (actual !== c.crc32) {
      pbqError(file, `the data section's CRC-32 is ${actual}, the header says ${c.crc32 as number}: the file is corrupt (truncated or modified)`);
    }
  }
  for (const key of ['modelTopology', 'modelJsonExtras', 'settings']) {
    if (!isObject(header[key])) pbqError(file, `${key} must be a JSON object, got ${describeValue(header[key])}`);
  }
  if (!Array.isArray(header.weights)) pbqError(file, `weights must be an array, got ${describeValue(header.weights)}`);
  const names = new Set<string>();
  const sections: Array<Section & { field: string }> = [];
  const out = header.weights.map((w: unknown, i: number): CheckedWeight => {
    let field = `weights[${i}]`;
    if (!isObject(w)) pbqError(file, `${field} must be an object, got ${describeValue(w)}`);
    if (typeof w.name !== 'string' || w.name.length === 0) pbqError(file, `${field}.name must be a non-empty string, got ${describeValue(w.name)}`);
    field = `${field} ('${w.name}')`;
    if (names.has(w.name)) pbqError(file, `${field}: the name appears twice`);
    names.add(w.name);
    const shape = checkShape(file, field, w.shape);
    const size = product(shape);
    if (w.kind === 'float') {
      if (w.dtype !== 'float32' && w.dtype !== 'int32') pbqError(file, `${field}.dtype must be 'float32' or 'int32', got ${describeValue(w.dtype)}`);
      return { name: w.name, shape, dtype: w.dtype, kind: 'float', data: checkSection(file, `${field}.data`, w.data, size * 4, data.byteLength, sections) };
    }
    if (w.kind !== 'planes') pbqError(file, `${field}.kind must be 'float' or 'planes', got ${describeValue(w.kind)}`);
    if (w.dtype !== 'float32') pbqError(file, `${field}.dtype must be 'float32' for stored planes, got ${describeValue(w.dtype)}`);
    const layout = checkLayout(file, field, w, shape);
    if (!isBitCount(w.bits)) pbqError(file, `${field}.bits must be an integer in 1..${MAX_BITS}, got ${describeValue(w.bits)}`);
    const words = Math.ceil(layout.k / 32);
    if (w.words !== words) pbqError(file, `${field}.words must be ceil(k / 32) = ${words}, got ${describeValue(w.words)}`);
    const channels = layout.batch * layout.n;
    const channelBits = w.channelBits === undefined ? undefined : checkSection(file, `${field}.channelBits`, w.channelBits, channels, data.byteLength, sections);
    if (w.packing !== undefined && (w.packing !== 'channel' || !channelBits)) {
      pbqError(file, `${field}.packing must be 'channel' (with channelBits) or absent, got ${describeValue(w.packing)}`);
    }
    // Per-channel packing (plane_packing.ts): the planes section holds Σ channelBits[c] planes.
    let planeCount = channels * w.bits;
    if (w.packing === 'channel' && channelBits) {
      const counts = data.subarray(channelBits.offset, channelBits.offset + channelBits.length);
      counts.forEach((b, c) => {
        if (b < 1 || b > (w.bits as number)) pbqError(file, `${field}: channelBits[${c}] is ${b}, it must be in 1..${w.bits} (the stored planes)`);
      });
      planeCount = counts.reduce((sum, b) => sum + b, 0);
    }
    const spec: CheckedPlanesWeight = {
      name: w.name, shape, dtype: 'float32', kind: 'planes', layout, bits: w.bits, words,
      planes: checkSection(file, `${field}.planes`, w.planes, planeCount * words * 4, data.byteLength, sections),
      ranges: checkSection(file, `${field}.ranges`, w.ranges, channels * 4, data.byteLength, sections),
      ...(channelBits ? { channelBits } : {}),
      ...(w.packing === 'channel' ? { packing: 'channel' as const } : {}),
    };
    return spec;
  });
  checkSectionsTile(file, sections, data.byteLength);
  return out;
}

/** Sections lie back to back from offset 0, each at the 4-aligned end of the previous one, to the end. */
function checkSectionsTile(file: string, sections: Array<Section & { field: string }>, dataLength: number): void {
  const sorted = [...sections].sort((a, b) => a.offset - b.offset || a.length - b.length);
  let end = 0;
  let previous = 'the start of the data section';
  for (const s of sorted) {
    if (s.offset < end) pbqError(file, `${s.field} [${s.offset}, ${s.offset + s.length}) overlaps ${previous}`);
    if (s.offset !== end) pbqError(file, `${s.field} starts at ${s.offset}, expected ${end} (right after ${previous}): the layout is corrupt`);
    end = pad4(s.offset + s.length);
    previous = s.field;
  }
  if (dataLength !== end) pbqError(file, `the data section holds ${dataLength} bytes, its sections account for ${end}`);
}

/** Checks the values of one stored-planes weight (ranges, channel plane counts, unused bits). */
export function checkPlanesContents(file: string, name: string, w: QuantizedWeight): void {
  const channels = w.batch * w.n;
  for (let c = 0; c < channels; c++) {
    const m = w.ranges[c];
    if (!(Number.isFinite(m) && m >= 0)) pbqError(file, `weight '${name}': ranges[${c}] is ${m}, a range must be finite and >= 0`);
  }
  if (w.channelBits) {
    for (let c = 0; c < channels; c++) {
      const b = w.channelBits[c];
      if (b < 1 || b > w.bits) pbqError(file, `weight '${name}': channelBits[${c}] is ${b}, it must be in 1..${w.bits} (the stored planes)`);
    }
  }
  // Bits past column K in each plane's last word, and planes past a channel's count, are zero.
  const tail = w.k % 32 === 0 ? 0 : (~0 << (w.k % 32)) >>> 0;
  for (let c = 0; c < channels; c++) {
    const used = w.channelBits ? w.channelBits[c] : w.bits;
    for (let p = 0; p < w.bits; p++) {
      const base = (c * w.bits + p) * w.words;
      if (p >= used) {
        for (let i = 0; i < w.words; i++) {
          if (w.planes[base + i] !== 0) pbqError(file, `weight '${name}': channel ${c} has ${used} planes but bits set in plane ${p}`);
        }
      } else if ((w.planes[base + w.words - 1] & tail) !== 0) {
        pbqError(file, `weight '${name}': plane ${p} of channel ${c} has bits set past column k = ${w.k}`);
      }
    }
  }
}

/** Float32 values must be finite (a NaN bias would make every output NaN). */
export function checkFloatContents(file: string, name: string, values: Float32Array | Int32Array): void {
  if (!(values instanceof Float32Array)) return;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) pbqError(file, `weight '${name}' holds ${values[i]} at index ${i}: weights must be finite`);
  }
}
