/**
 * The storage buffers of one quantized weight, in the layouts the products read, each made on
 * first use and freed with the weight:
 *
 *   planes()      the stored planes, [batch][plane][word][channel]: bits/32 of float32's bytes
 *                 (planes_product_wgsl.ts reads the first t of them)
 *   codes(t)      f-bit codes at t planes (f = t rounded up to 1, 2, 4, 8), [batch][word·f][channel]:
 *                 f/32 of float32's bytes, made from the planes on the GPU (weight_codes_wgsl.ts;
 *                 dot4_product_wgsl.ts)
 *   scales(t)     m_n · 2^−t_n per channel (the epilogue)
 *   shifts(t)     δ_n = t − t_n per channel, for weights whose channels store different plane
 *                 counts (planes product, codes pass)
 *
 * Two kinds: WebGPUWeight, from planes quantized on the CPU (src/quantize.ts, the WeightCache
 * entry's `device` copy: the usual case, B's values are in host memory), and
 * DeviceQuantizedWeight, quantized on the GPU by the same rule, bit for bit (weight_range_wgsl.ts,
 * weight_planes_wgsl.ts), for a B operand whose values exist only on the GPU (the output of a GPU
 * op): WebGPU has no synchronous read-back, and tfjs-webgpu's canvas-based readSync loses the
 * device in headless Chromium. Channels are padded to a multiple of 4 (vec4 loads). These tfjs
 * tensors are not tensors of the engine: PbqBackendWebGPU.numDataIds leaves them out of tfjs's
 * per-kernel leak check (cacheOwnedDataIds); their bytes show in tf.memory().numBytesInGPU.
 */
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import type { PbqBackendWebGPU } from '../../src/backend_webgpu';
import { channelPlanes, QuantizedWeight, wordsFor } from '../../src/quantize';
import type { CachedWeight, Disposable, WeightLayout } from '../../src/weight_cache';
import { codeField } from './product_parts';
import { WeightCodesProgram } from './weight_codes_wgsl';
import { WeightPlanesProgram } from './weight_planes_wgsl';
import { WeightRangeProgram } from './weight_range_wgsl';
import { WeightScalesProgram } from './weight_scales_wgsl';
import type { PbqFlatProgram } from './wgsl_common';

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

/** m_n · 2^−t_n per channel: the factor between d and y, without the row step. */
export function channelScales(w: QuantizedWeight, t: number): Float32Array {
  return w.ranges.map((m, c) => m * 2 ** -channelPlanes(w, c, t));
}

/** δ_n = t − t_n per channel. */
export function channelShifts(w: QuantizedWeight, t: number): Int32Array {
  return Int32Array.from(w.ranges, (_, c) => t - channelPlanes(w, c, t));
}

/** What the products read of a weight, whichever side quantized it. */
export interface WeightBuffers extends Disposable {
  /** Planes stored per channel. */
  readonly bits: number;
  readonly batch: number;
  readonly n: number;
  readonly words: number;
  /** t_n: the planes channel c (batch·N + n) uses at t. */
  channelPlanes(c: number, t: number): number;
  planes(): TensorInfo;
  codes(t: number): TensorInfo;
  scales(t: number): TensorInfo;
  /** Per-channel δ_n at t, or undefined when every channel stores the same planes. */
  shifts(t: number): TensorInfo | undefined;
  /** GPU bytes held (4 per element). */
  readonly bytes: number;
}

/** The buffers and bookkeeping both kinds share: owned tensors, memoized per t, freed together. */
abstract class OwnedBuffers implements Disposable {
  private readonly held: TensorInfo[] = [];
  private readonly memos = new Map<string, TensorInfo>();

  constructor(protected readonly backend: PbqBackendWebGPU) {}

  /** Takes ownership of a tensor (counted out of the engine's data ids). */
  protected own(info: TensorInfo): TensorInfo {
    this.backend.cacheOwnedDataIds++;
    this.held.push(info);
    return info;
  }

  protected upload(dtype: DataType, values: Int32Array | Float32Array): TensorInfo {
    return this.own(this.backend.makeTensorInfo([values.length], dtype, values));
  }

  protected run(program: PbqFlatProgram, inputs: TensorInfo[], dtype: DataType): TensorInfo {
    return this.own(this.backend.runWebGPUProgram(program, inputs, dtype, program.uniformData));
  }

  protected memo(key: string, make: () => TensorInfo): TensorInfo {
    let info = this.memos.get(key);
    if (!info) {
      info = make();
      this.memos.set(key, info);
    }
    return info;
  }

  get bytes(): number {
    return this.held.reduce((sum, info) => sum + 4 * info.shape.reduce((a, b) => a * b, 1), 0);
  }

  dispose(): void {
    for (const info of this.held) {
      this.backend.disposeData(info.dataId);
      this.backend.cacheOwnedDataIds--;
    }
    this.held.length = 0;
    this.memos.clear();
  }
}

/** The codes of t planes from a weight's planes buffer (weight_codes_wgsl.ts). */
function codesProgram(w: WeightBuffers, t: number): WeightCodesProgram {
  const field = codeField(t);
  if (field === 0) throw new Error(`pbq: dot4 codes need 1..8 planes, got ${t}`);
  return new WeightCodesProgram({
    batch: w.batch, n: w.n, words: w.words, np: paddedChannels(w.n), storedBits: w.bits, t, field, shifts: w.shifts(t) !== undefined,
  });
}

/** A weight quantized on the CPU (src/quantize.ts): its planes uploaded once. */
export class WebGPUWeight extends OwnedBuffers implements WeightBuffers {
  readonly bits: number;
  readonly batch: number;
  readonly n: number;
  readonly words: number;

  constructor(backend: PbqBackendWebGPU, readonly weight: QuantizedWeight) {
    super(backend);
    ({ bits: this.bits, batch: this.batch, n: this.n, words: this.words } = weight);
  }

  channelPlanes(c: number, t: number): number {
    return channelPlanes(this.weight, c, t);
  }

  planes(): TensorInfo {
    return this.memo('planes', () => this.upload('int32', planesBuffer(this.weight)));
  }

  codes(t: number): TensorInfo {
    return this.memo(`codes${t}`, () => {
      const shifts = this.shifts(t);
      return this.run(codesProgram(this, t), shifts ? [this.planes(), shifts] : [this.planes()], 'int32');
    });
  }

  scales(t: number): TensorInfo {
    return this.memo(`scales${t}`, () => this.upload('float32', channelScales(this.weight, t)));
  }

  shifts(t: number): TensorInfo | undefined {
    if (!this.weight.channelBits) return undefined;
    return this.memo(`shifts${t}`, () => this.upload('int32', channelShifts(this.weight, t)));
  }
}

/**
 * A weight quantized on the GPU from B's GPU buffer, with quantize.ts's rule and 'nan' policy
 * (a channel with NaN/Inf has range NaN and NaN outputs: a GPU-resident tf.Variable with NaN
 * cannot raise quantize.ts's error without a read-back). Every channel has `bits` planes.
 */
export class DeviceQuantizedWeight extends OwnedBuffers implements WeightBuffers {
  readonly batch: number;
  readonly n: number;
  readonly words: number;
  private readonly ranges: TensorInfo;
  private readonly planeBuffer: TensorInfo;

  constructor(backend: PbqBackendWebGPU, b: TensorInfo, layout: WeightLayout, readonly bits: number) {
    super(backend);
    this.batch = layout.batch;
    this.n = layout.n;
    this.words = wordsFor(layout.k);
    this.ranges = this.run(new WeightRangeProgram(layout.batch, layout.k, layout.n, layout.transposed), [b], 'float32');
    this.planeBuffer = this.run(new WeightPlanesProgram({
      batch: layout.batch, k: layout.k, n: layout.n, words: this.words, np: paddedChannels(layout.n), bits, transposed: layout.transposed,
    }), [b, this.ranges], 'int32');
  }

  channelPlanes(_c: number, t: number): number {
    return Math.min(t, this.bits);
  }

  planes(): TensorInfo {
    return this.planeBuffer;
  }

  codes(t: number): TensorInfo {
    return this.memo(`codes${t}`, () => this.run(codesProgram(this, t), [this.planeBuffer], 'int32'));
  }

  scales(t: number): TensorInfo {
    return this.memo(`scales${t}`, () => this.run(new WeightScalesProgram(this.batch * this.n, t), [this.ranges], 'float32'));
  }

  shifts(): undefined {
    return undefined;
  }
}

/** The WebGPU copies of a CPU-quantized cached weight (made on first use). */
export function webgpuWeight(backend: PbqBackendWebGPU, entry: CachedWeight): WebGPUWeight {
  if (entry.device instanceof WebGPUWeight) return entry.device;
  const copies = new WebGPUWeight(backend, entry.weight);
  entry.device = copies;
  return copies;
}
