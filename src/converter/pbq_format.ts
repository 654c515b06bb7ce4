/**
 * The compact pbq model file, `model.pbq` (little endian):
 *
 *   bytes 0..3   magic "PBQ1"
 *   bytes 4..7   uint32 H = byte length of the header
 *   bytes 8..    header: UTF-8 JSON (PbqHeader), zero-padded to a multiple of 4 bytes (H counts
 *                the padding); version 2 headers hold the CRC-32 of the data section
 *   then         the data section; every offset in the header is relative to its start:
 *                packed planes (Uint32, [batch][n][bits][words] exactly as QuantizedWeight; with
 *                `packing: 'channel'` (multipoint tensors) only each channel's own
 *                channelBits[c] planes, channel after channel: plane_packing.ts),
 *                ranges (Float32, one per channel), channelBits (Uint8, one per channel, only
 *                for multipoint tensors), and the float32/int32 values of every weight that is
 *                not quantized (biases, embeddings, …), each section 4-byte aligned.
 *
 * The header carries the model topology, so model.pbq alone rebuilds the model. Every field and
 * section is validated at load (pbq_validate.ts); version 1 files (no checksum) still load.
 */
import type { QuantizedWeight } from '../quantize';
import type { WeightLayout } from '../weight_cache';
import { crc32 } from './crc32';
import { checkFloatContents, checkHeader, checkPlanesContents, headerText, pbqError, PbqModelFormat, PBQ_VERSION } from './pbq_validate';
import { packChannelPlanes, unpackChannelPlanes } from './plane_packing';

export { PBQ_FORMATS } from './pbq_validate';
export type { PbqModelFormat } from './pbq_validate';

export const PBQ_MAGIC = 'PBQ1';
export const PBQ_FILE = 'model.pbq';

interface Section { offset: number; length: number }

export interface PbqFloatWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  kind: 'float';
  data: Section;
}

export interface PbqPlanesWeight {
  name: string;
  shape: number[];
  dtype: 'float32';
  kind: 'planes';
  layout: WeightLayout;
  bits: number;
  words: number;
  planes: Section;
  ranges: Section;
  channelBits?: Section;
  /** 'channel': the planes section holds each channel's channelBits[c] planes only (absent: all `bits`). */
  packing?: 'channel';
}

export type PbqWeightSpec = PbqFloatWeight | PbqPlanesWeight;

export interface PbqHeader {
  /** A LayersModel (topology: Keras JSON) or a GraphModel (topology: GraphDef JSON, graph_model.ts). */
  format: PbqModelFormat;
  /** 1: no checksum; 2: `checksum` holds the CRC-32 of the data section (pbq_validate.ts). */
  version: 1 | 2;
  checksum?: { crc32: number };
  modelTopology: unknown;
  /** Other model.json keys kept as they were (format, generatedBy, …). */
  modelJsonExtras: Record<string, unknown>;
  /** Settings the model was converted with (weightBits = max planes of any tensor). */
  settings: Record<string, unknown>;
  weights: PbqWeightSpec[];
}

export interface PbqWeightInput {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values?: Float32Array | Int32Array;
  quantized?: { weight: QuantizedWeight; layout: WeightLayout };
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function encodePbq(
  modelTopology: unknown, modelJsonExtras: Record<string, unknown>, settings: Record<string, unknown>,
  weights: PbqWeightInput[], format: PbqModelFormat = 'pbq-layers-model',
): Uint8Array {
  const chunks: Uint8Array[] = [];
  let at = 0;
  const add = (bytes: Uint8Array): Section => {
    const s = { offset: at, length: bytes.byteLength };
    chunks.push(bytes);
    const padded = pad4(bytes.byteLength);
    if (padded > bytes.byteLength) chunks.push(new Uint8Array(padded - bytes.byteLength));
    at += padded;
    return s;
  };
  const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const specs: PbqWeightSpec[] = weights.map((w) => {
    if (w.quantized) {
      const q = w.quantized.weight;
      const spec: PbqPlanesWeight = {
        name: w.name, shape: w.shape, dtype: 'float32', kind: 'planes', layout: w.quantized.layout,
        bits: q.bits, words: q.words, planes: add(asBytes(packChannelPlanes(q))), ranges: add(asBytes(q.ranges)),
      };
      if (q.channelBits) {
        spec.channelBits = add(asBytes(q.channelBits));
        spec.packing = 'channel';
      }
      return spec;
    }
    return { name: w.name, shape: w.shape, dtype: w.dtype, kind: 'float', data: add(asBytes(w.values as ArrayBufferView)) };
  });
  let checksum = 0;
  for (const c of chunks) checksum = crc32(c, checksum);
  const header: PbqHeader = {
    format, version: PBQ_VERSION, checksum: { crc32: checksum }, modelTopology, modelJsonExtras, settings, weights: specs,
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = pad4(headerBytes.byteLength);
  const out = new Uint8Array(8 + headerLen + at);
  out.set(new TextEncoder().encode(PBQ_MAGIC), 0);
  new DataView(out.buffer).setUint32(4, headerLen, true);
  out.set(headerBytes, 8);
  let pos = 8 + headerLen;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.byteLength;
  }
  return out;
}

export interface DecodedPbq {
  header: PbqHeader;
  /** Values of float weights by name. */
  floats: Map<string, Float32Array | Int32Array>;
  /** Stored planes by weight name. */
  planes: Map<string, { weight: QuantizedWeight; layout: WeightLayout }>;
}

/**
 * Decodes and validates a model.pbq file (pbq_validate.ts): a corrupt file is a ConversionError
 * naming `source` (the file) and the field.
 */
export function decodePbq(bytes: Uint8Array, source: string = PBQ_FILE): DecodedPbq {
  if (bytes.byteLength < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== PBQ_MAGIC) pbqError(source, 'not a pbq model file (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(4, true);
  const text = headerText(bytes, headerLen, source);
  let header: PbqHeader;
  try {
    header = JSON.parse(text);
  } catch (e) {
    pbqError(source, `corrupt header JSON: ${(e as Error).message}`);
  }
  // Copy into an aligned buffer so typed views work at any offset multiple of 4.
  // A copy of its own (offset 0): Node's Buffer.slice would return a view into a shared pool.
  const data = new Uint8Array(bytes.subarray(8 + headerLen));
  const specs = checkHeader(header, data, source);
  const section = (s: { offset: number; length: number }) => data.buffer.slice(s.offset, s.offset + s.length);
  const floats = new Map<string, Float32Array | Int32Array>();
  const planes = new Map<string, { weight: QuantizedWeight; layout: WeightLayout }>();
  for (const w of specs) {
    if (w.kind === 'float') {
      const values = w.dtype === 'int32' ? new Int32Array(section(w.data)) : new Float32Array(section(w.data));
      checkFloatContents(source, w.name, values);
      floats.set(w.name, values);
      continue;
    }
    const { batch, k, n } = w.layout;
    const channelBits = w.channelBits ? new Uint8Array(section(w.channelBits)) : undefined;
    const stored = new Uint32Array(section(w.planes));
    const weight: QuantizedWeight = {
      bits: w.bits, batch, k, n, words: w.words,
      planes: w.packing === 'channel' && channelBits ? unpackChannelPlanes(stored, channelBits, w.bits, w.words) : stored,
      ranges: new Float32Array(section(w.ranges)),
      ...(channelBits ? { channelBits } : {}),
    };
    checkPlanesContents(source, w.name, weight);
    planes.set(w.name, { weight, layout: w.layout });
  }
  return { header, floats, planes };
}
