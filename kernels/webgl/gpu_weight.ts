/**
 * The GPU copies of one cached weight (WeightCache entry.device), in the layouts the products
 * read, each made on first use and freed with the weight:
 *
 *   samplerPlanes   16-bit float texels of every stored plane (sampler and narrow products)
 *   scales(t)       m_n · 2^−t_n per channel (every product's epilogue)
 *   planeCounts(t)  t_n per channel, for multipoint weights (sampler and narrow products)
 *   planes()        RGBA32UI planes + per-channel meta texels (planes product)
 *   codes(t, f)     f-bit codes at t planes (codes product); pairs(t, f) likewise (pairs product)
 *
 * The tfjs tensors among them are not tensors of the engine: PbqBackendWebGL.numDataIds leaves
 * them out of tfjs's per-kernel leak check (cacheOwnedDataIds). Their bytes, and those of the
 * raw textures, show in tf.memory().numBytesInGPU.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGL } from '../../src/backend_webgl';
import type { QuantizedWeight } from '../../src/quantize';
import type { CachedWeight, Disposable } from '../../src/weight_cache';
import { codeTexels, codeWordCount } from './codes_product_gpu';
import { pairCodeTexels } from './pairs_product_gpu';
import { planesWeightTexels } from './planes_product_gpu';
import { channelGroups, placeRows, RowPlacement } from './raw_layout';
import { RawTexture, uintTexture } from './raw_program';
import { channelPlaneCounts, channelScales, samplerWeightTexels } from './sampler_product_gpu';

/** RGBA32UI planes of the planes product, with their placements. */
export interface PlanesTextures {
  w: RawTexture;
  meta: RawTexture;
  wPlace: RowPlacement;
  mPlace: RowPlacement;
}

/** RGBA32UI codes of the codes or pairs product at one width, with their placement. */
export interface CodesTexture {
  w: RawTexture;
  place: RowPlacement;
}

export class WebGLWeight implements Disposable {
  private sampler?: TensorInfo;
  private readonly scaleTensors = new Map<number, TensorInfo>();
  private readonly planeCountTensors = new Map<number, TensorInfo>();
  /** null: the layout does not fit the texture size limit (the call goes to another product). */
  private planeTextures?: PlanesTextures | null;
  private readonly codeTextures = new Map<string, CodesTexture | null>();

  constructor(private readonly backend: PbqBackendWebGL, readonly weight: QuantizedWeight) {}

  /** A tfjs tensor owned by this weight (counted out of the engine's data ids). */
  private owned(shape: number[], values: Float32Array): TensorInfo {
    this.backend.cacheOwnedDataIds++;
    return this.backend.makeTensorInfo(shape, 'float32', values);
  }

  samplerPlanes(): TensorInfo {
    const w = this.weight;
    this.sampler ??= this.owned([w.batch * w.n * w.bits, 2 * w.words], samplerWeightTexels(w));
    return this.sampler;
  }

  /** The tensor of `values(t)` per channel in `byT`, made at the first call with t. */
  private perChannel(byT: Map<number, TensorInfo>, t: number, values: (t: number) => Float32Array): TensorInfo {
    let info = byT.get(t);
    if (!info) {
      info = this.owned([this.weight.batch * this.weight.n], values(t));
      byT.set(t, info);
    }
    return info;
  }

  scales(t: number): TensorInfo {
    return this.perChannel(this.scaleTensors, t, (tt) => channelScales(this.weight, tt));
  }

  /** Per-channel plane counts at t, or undefined when every channel has the same planes. */
  planeCounts(t: number): TensorInfo | undefined {
    if (!this.weight.channelBits) return undefined;
    return this.perChannel(this.planeCountTensors, t, (tt) => channelPlaneCounts(this.weight, tt));
  }

  planes(maxSize: number): PlanesTextures | undefined {
    if (this.planeTextures === undefined) {
      const w = this.weight;
      const groups = channelGroups(w.n);
      const wPlace = placeRows(w.words, w.batch * groups * w.bits, maxSize);
      const mPlace = placeRows(w.bits + 1, w.batch * groups, maxSize);
      if (!wPlace || !mPlace) {
        this.planeTextures = null;
      } else {
        const data = planesWeightTexels(w.planes, w.batch, w.n, w.bits, w.words,
          (c) => (w.channelBits ? w.channelBits[c] : w.bits), wPlace, mPlace);
        this.planeTextures = {
          w: uintTexture(this.backend, wPlace.width, wPlace.height, data.w),
          meta: uintTexture(this.backend, mPlace.width, mPlace.height, data.meta),
          wPlace, mPlace,
        };
      }
    }
    return this.planeTextures ?? undefined;
  }

  /** Codes (or, with `pairs`, pair codes + Q = Σ_k q_k per channel) of field f at t planes. */
  codes(t: number, field: number, pairs: boolean, maxSize: number): CodesTexture | undefined {
    const key = `${pairs ? 'pairs' : 'codes'}:${t}:${field}`;
    if (!this.codeTextures.has(key)) {
      const w = this.weight;
      // pairs: one more texel per row, Q = Σ_k q_k of the 4 channels
      const place = placeRows(codeWordCount(w.k, field) + (pairs ? 1 : 0), w.batch * channelGroups(w.n), maxSize);
      const data = place && (pairs ? pairCodeTexels(w, t, field, place) : codeTexels(w, t, field, place));
      this.codeTextures.set(key, place && data
        ? { w: uintTexture(this.backend, place.width, place.height, data), place } : null);
    }
    return this.codeTextures.get(key) ?? undefined;
  }

  /** GPU bytes held (raw textures, and tfjs textures by their texture shape). */
  get bytes(): number {
    let bytes = 0;
    for (const info of this.tensors()) {
      const texShape = this.backend.texData.get(info.dataId)?.texShape;
      if (texShape) bytes += texShape[0] * texShape[1] * 4;
    }
    for (const tex of this.rawTextures()) bytes += tex.bytes;
    return bytes;
  }

  private tensors(): TensorInfo[] {
    return [...(this.sampler ? [this.sampler] : []), ...this.scaleTensors.values(), ...this.planeCountTensors.values()];
  }

  private rawTextures(): RawTexture[] {
    const raw: RawTexture[] = [];
    if (this.planeTextures) raw.push(this.planeTextures.w, this.planeTextures.meta);
    for (const c of this.codeTextures.values()) if (c) raw.push(c.w);
    return raw;
  }

  dispose(): void {
    for (const info of this.tensors()) {
      this.backend.disposeIntermediateTensorInfo(info);
      this.backend.cacheOwnedDataIds--;
    }
    for (const tex of this.rawTextures()) tex.dispose();
    this.sampler = undefined;
    this.scaleTensors.clear();
    this.planeCountTensors.clear();
    this.planeTextures = undefined;
    this.codeTextures.clear();
  }
}

/** The WebGL copies of a cached weight (made on first use). */
export function webglWeight(backend: PbqBackendWebGL, entry: CachedWeight): WebGLWeight {
  if (entry.device instanceof WebGLWeight) return entry.device;
  const copies = new WebGLWeight(backend, entry.weight);
  entry.device = copies;
  return copies;
}
