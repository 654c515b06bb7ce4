/**
 * The storage buffers of one cached weight (WeightCache entry.device), in the layouts the
 * products read, each made on first use and freed with the weight:
 *
 *   planes()      the stored planes, [batch][plane][word][channel]: bits/32 of float32's bytes
 *                 (planes_product_wgsl.ts reads the first t of them)
 *   codes(t)      f-bit codes at t planes (f = t rounded up to 1, 2, 4, 8), [batch][word·f][channel]:
 *                 f/32 of float32's bytes (dot4_product_wgsl.ts)
 *   scales(t)     m_n · 2^−t_n per channel (the epilogue)
 *   shifts(t)     δ_n = t − t_n per channel, for weights whose channels store different plane
 *                 counts (planes product only)
 *
 * Channels are padded to a multiple of 4 (vec4 loads). These tfjs tensors are not tensors of the
 * engine: PbqBackendWebGPU.numDataIds leaves them out of tfjs's per-kernel leak check
 * (cacheOwnedDataIds); their bytes show in tf.memory().numBytesInGPU.
 */
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGPU } from '../../src/backend_webgpu';
import { channelPlanes, QuantizedWeight } from '../../src/quantize';
import type { CachedWeight, Disposable } from '../../src/weight_cache';
import { codeField } from './product_parts';

/** Channels rounded up to whole vec4s. */
export function paddedChannels(n: number): number {
  return 4 * Math.ceil(n / 4);
}

/** The planes as the planes product reads them: word (b, i, w) of channel n at ((b·bits + i)·words + w)·N4 + n. */
export function planesBuffer(w: QuantizedWeight): Int32Array {
  const np = paddedChannels(w.n);
  const out = new Int32Array(w.batch * w.bits * w.words * np);
  for (let b = 0; b < w.batch; b++) {
    for (let n = 0; n < w.n; n++) {
      const src = (b * w.n + n) * w.bits * w.words;
      for (let i = 0; i < w.bits; i++) {
        for (let word = 0; word < w.words; word++) {
          out[((b * w.bits + i) * w.words + word) * np + n] = w.planes[src + i * w.words + word];
        }
      }
    }
  }
  return out;
}

/**
 * The f-bit codes of t planes (dot4_product_wgsl.ts): code of (channel, k) in word
 * g = floor(k·f/32), byte b = k mod 4, field j = floor((k mod 32/f) / 4), bits 8b + f·j. f = 8:
 * q_t as a signed byte; f < 8: the offset code v = q_t + 2^(f−1) (product_parts.ts).
 */
export function codesBuffer(w: QuantizedWeight, t: number): Int32Array {
  const f = codeField(t);
  if (f === 0) throw new Error(`pbq: dot4 codes need 1..8 planes, got ${t}`);
  const np = paddedChannels(w.n);
  const groups = w.words * f;
  const out = new Int32Array(w.batch * groups * np);
  const perWord = 32 / f;
  const codes = new Int32Array(32);
  for (let c = 0; c < w.batch * w.n; c++) {
    const b = Math.floor(c / w.n);
    const n = c - b * w.n;
    const tn = channelPlanes(w, c, t);
    const base = c * w.bits * w.words;
    for (let word = 0; word < w.words; word++) {
      // q_tn of the 32 columns of this word, from its first tn planes (MSB first)
      codes.fill(0);
      for (let p = 0; p < tn; p++) {
        const bits = w.planes[base + p * w.words + word];
        if (bits === 0) continue;
        const weight = p === 0 ? -(2 ** (tn - 1)) : 2 ** (tn - 1 - p);
        for (let l = 0; l < 32; l++) if ((bits >>> l) & 1) codes[l] += weight;
      }
      for (let l = 0; l < 32; l++) {
        const k = word * 32 + l;
        const code = f === 8 ? codes[l] & 0xff : codes[l] + 2 ** (f - 1);
        const kk = k % perWord;
        out[(b * groups + Math.floor(k / perWord)) * np + n] |= code << (8 * (kk % 4) + f * Math.floor(kk / 4));
      }
    }
  }
  return out;
}

/** m_n · 2^−t_n per channel: the factor between d and y, without the row step. */
export function channelScales(w: QuantizedWeight, t: number): Float32Array {
  return w.ranges.map((m, c) => m * 2 ** -channelPlanes(w, c, t));
}

/** δ_n = t − t_n per channel. */
export function channelShifts(w: QuantizedWeight, t: number): Int32Array {
  return Int32Array.from(w.ranges, (_, c) => t - channelPlanes(w, c, t));
}

export class WebGPUWeight implements Disposable {
  private planeTensor?: TensorInfo;
  private readonly codeTensors = new Map<number, TensorInfo>();
  private readonly scaleTensors = new Map<number, TensorInfo>();
  private readonly shiftTensors = new Map<number, TensorInfo>();

  constructor(private readonly backend: PbqBackendWebGPU, readonly weight: QuantizedWeight) {}

  /** A tfjs tensor owned by this weight (counted out of the engine's data ids). */
  private owned(dtype: DataType, values: Int32Array | Float32Array): TensorInfo {
    this.backend.cacheOwnedDataIds++;
    return this.backend.makeTensorInfo([values.length], dtype, values);
  }

  private memo(map: Map<number, TensorInfo>, t: number, make: () => TensorInfo): TensorInfo {
    let info = map.get(t);
    if (!info) {
      info = make();
      map.set(t, info);
    }
    return info;
  }

  planes(): TensorInfo {
    this.planeTensor ??= this.owned('int32', planesBuffer(this.weight));
    return this.planeTensor;
  }

  codes(t: number): TensorInfo {
    return this.memo(this.codeTensors, t, () => this.owned('int32', codesBuffer(this.weight, t)));
  }

  scales(t: number): TensorInfo {
    return this.memo(this.scaleTensors, t, () => this.owned('float32', channelScales(this.weight, t)));
  }

  /** Per-channel δ_n at t, or undefined when every channel stores the same planes. */
  shifts(t: number): TensorInfo | undefined {
    if (!this.weight.channelBits) return undefined;
    return this.memo(this.shiftTensors, t, () => this.owned('int32', channelShifts(this.weight, t)));
  }

  private tensors(): TensorInfo[] {
    return [...(this.planeTensor ? [this.planeTensor] : []), ...this.codeTensors.values(), ...this.scaleTensors.values(),
      ...this.shiftTensors.values()];
  }

  /** Bytes held (4 per element). */
  get bytes(): number {
    return this.tensors().reduce((sum, info) => sum + 4 * info.shape[0], 0);
  }

  dispose(): void {
    for (const info of this.tensors()) {
      this.backend.disposeData(info.dataId);
      this.backend.cacheOwnedDataIds--;
    }
    this.planeTensor = undefined;
    this.codeTensors.clear();
    this.scaleTensors.clear();
    this.shiftTensors.clear();
  }
}

/** The WebGPU copies of a cached weight (made on first use). */
export function webgpuWeight(backend: PbqBackendWebGPU, entry: CachedWeight): WebGPUWeight {
  if (entry.device instanceof WebGPUWeight) return entry.device;
  const copies = new WebGPUWeight(backend, entry.weight);
  entry.device = copies;
  return copies;
}
