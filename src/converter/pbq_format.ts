/**
 * The compact pbq model file, `model.pbq` (little endian):
 *
 *   bytes 0..3   magic "PBQ1"
 *   bytes 4..7   uint32 H = byte length of the header
 *   bytes 8..    header: UTF-8 JSON (PbqHeader), zero-padded to a multiple of 4 bytes
 *   then         the data section; every offset in the header is relative to its start:
 *                packed planes (Uint32, [batch][n][bits][words] exactly as QuantizedWeight; with
 *                `packing: 'channel'` (multipoint tensors) only each channel's own
 *                channelBits[c] planes, channel after channel: plane_packing.ts),
 *                ranges (Float32, one per channel), channelBits (Uint8, one per channel, only
 *                for multipoint tensors), and the float32/int32 values of every weight that is
 *                not quantized (biases, embeddings, …), each section 4-byte aligned.
 *
 * The header carries the model topology, so model.pbq alone rebuilds the model.
 */
import type { QuantizedWeight } from '../quantize';
import type { WeightLayout } from '../weight_cache';
import { ConversionError } from './errors';
import { packChannelPlanes, packedPlaneWords, unpackChannelPlanes } from './plane_packing';

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
  version: 1;
  modelTopology: unknown;
  /** Other model.json keys kept as they were (format, generatedBy, …). */
  modelJsonExtras: Record<string, unknown>;
  /** Settings the model was converted with (weightBits = max planes of any tensor). */
  settings: Record<string, unknown>;
  weights: PbqWeightSpec[];
}

export type PbqModelFormat = 'pbq-layers-model' | 'pbq-graph-model';
export const PBQ_FORMATS: readonly PbqModelFormat[] = ['pbq-layers-model', 'pbq-graph-model'];

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
  const header: PbqHeader = { format, version: 1, modelTopology, modelJsonExtras, settings, weights: specs };
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

function fail(msg: string): never {
  throw new ConversionError(`model.pbq: ${msg}`);
}

export function decodePbq(bytes: Uint8Array): DecodedPbq {
  if (bytes.byteLength < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== PBQ_MAGIC) fail('not a pbq model file (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = view.getUint32(4, true);
  if (8 + headerLen > bytes.byteLength) fail('truncated header');
  let header: PbqHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)).replace(/\0+$/, ''));
  } catch (e) {
    fail(`corrupt header JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || !PBQ_FORMATS.includes(header.format) || header.version !== 1 ||
    !Array.isArray(header.weights)) {
    fail(`unsupported header (format ${PBQ_FORMATS.join(' or ')}, version 1 expected)`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  // Copy into an aligned buffer so typed views work at any offset multiple of 4.
  const data = new Uint8Array(dataLen);
  data.set(bytes.subarray(dataStart));
  const section = (s: Section | undefined, elemBytes: number, expected: number, what: string): ArrayBuffer => {
    if (!s || !Number.isInteger(s.offset) || !Number.isInteger(s.length) || s.offset < 0 || s.offset % 4 !== 0 ||
      s.offset + s.length > dataLen) fail(`${what}: section out of bounds`);
    if (s.length !== expected * elemBytes) fail(`${what}: ${s.length} bytes, expected ${expected * elemBytes}`);
    return data.buffer.slice(s.offset, s.offset + s.length);
  };
  const floats = new Map<string, Float32Array | Int32Array>();
  const planes = new Map<string, { weight: QuantizedWeight; layout: WeightLayout }>();
  for (const w of header.weights) {
    if (!w || typeof w.name !== 'string' || !Array.isArray(w.shape)) fail('weight entry without name/shape');
    const size = w.shape.reduce((a: number, b: number) => a * b, 1);
    if (w.kind === 'float') {
      const buf = section(w.data, 4, size, w.name);
      floats.set(w.name, w.dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf));
    } else if (w.kind === 'planes') {
      const { batch, k, n } = w.layout ?? ({} as WeightLayout);
      if (!(batch * k * n === size) || !(w.bits >= 1 && w.bits <= 16) || w.words !== Math.ceil(k / 32)) fail(`${w.name}: bad planes layout`);
      const channels = batch * n;
      const channelBits = w.channelBits ? new Uint8Array(section(w.channelBits, 1, channels, `${w.name} channelBits`)) : undefined;
      if (w.packing !== undefined && (w.packing !== 'channel' || !channelBits)) fail(`${w.name}: unknown planes packing ${JSON.stringify(w.packing)}`);
      if (channelBits?.some((b) => b < 1 || b > w.bits)) fail(`${w.name}: channelBits outside 1..${w.bits}`);
      const planesData = w.packing === 'channel' && channelBits
        ? unpackChannelPlanes(new Uint32Array(section(w.planes, 4, packedPlaneWords(channelBits, w.words), `${w.name} planes`)), channelBits, w.bits, w.words)
        : new Uint32Array(section(w.planes, 4, channels * w.bits * w.words, `${w.name} planes`));
      const weight: QuantizedWeight = {
        bits: w.bits, batch, k, n, words: w.words, planes: planesData,
        ranges: new Float32Array(section(w.ranges, 4, channels, `${w.name} ranges`)),
        ...(channelBits ? { channelBits } : {}),
      };
      planes.set(w.name, { weight, layout: w.layout });
    } else {
      fail(`${(w as { name: string }).name}: unknown weight kind`);
    }
  }
  return { header, floats, planes };
}
