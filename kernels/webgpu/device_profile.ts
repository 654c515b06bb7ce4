/**
 * Device profiles of the WebGPU products: which exact product `'auto'` picks (select_product.ts)
 * and how a product is tiled (product_tile_wgsl.ts), named, with the evidence behind each. The
 * profile is read from the adapter (GPUAdapterInfo), so a real GPU is not tuned by numbers
 * measured on a CPU emulator.
 */
import type { WebGPUAdapterDescription } from '../../src/backend_webgpu';
import { chunkWords, ProductTile } from './product_tile_wgsl';

export type ExactProduct = 'planes' | 'dot4';

/** What the tiling depends on. */
export interface TileRequest {
  m: number;
  /** Channel vec4s. */
  np4: number;
  outBatch: number;
  /** Weight words per channel of the product. */
  weightWords: number;
  /** Staged activation u32 per row and weight word, at most (sizes the chunk). */
  maxStagePerWord: number;
}

export interface DeviceProfile {
  readonly name: 'swiftshader' | 'gpu';
  /** Where the choices come from. */
  readonly evidence: string;
  /** The exact product for t weight planes (the widest channel's) at A activation bits. */
  autoProduct(t: number, activationBits: number): ExactProduct;
  tile(r: TileRequest): ProductTile;
}

const THREADS = 64;
/**
 * Rows per workgroup: 1 at batch 1, else 4 (rows past M are masked; two tile shapes keep the
 * pipelines few): each weight word then serves 4 rows from registers.
 */
function tileRows(m: number): number {
  return m === 1 ? 1 : 4;
}

function tileOf(r: TileRequest, splits: number, staged: boolean): ProductTile {
  const rows = tileRows(r.m);
  return { threads: THREADS, rows, splits, staged, chunk: chunkWords(rows, r.maxStagePerWord) };
}

/**
 * SwiftShader (WebGPU on the CPU, Vulkan via SwiftShader; measured here, tools/bench/README.md,
 * "WebGPU"): dot4I8Packed is emulated with byte unpacks and multiplies, countOneBits costs a
 * few vector ops, so the planes form wins at 1–2 planes and dot4 from 3 planes up (to 8, at
 * A ≤ 14: 2 digits per code). No split-K: the channels already give a workgroup per core.
 */
export const SWIFTSHADER_PROFILE: DeviceProfile = {
  name: 'swiftshader',
  evidence: 'tools/bench/README.md, WebGPU ablation (planes vs dot4, 1×4096×4096 and MLP batch 1, W1–8 A8)',
  autoProduct: (t, activationBits) => (t <= 2 || t > 8 || activationBits > 14 ? 'planes' : 'dot4'),
  tile: (r) => tileOf(r, 1, false),
};

/**
 * Real GPUs (not measured yet: no GPU machine was available). dot4I8Packed is one DP4A
 * instruction (4 MACs); the planes form spends an AND, a popcount (quarter rate on many GPUs)
 * and a shift-add per plane pair and 32 MACs, so per 32 MACs and output it costs ≈ 3t(A+1)
 * operations against ≈ 8 digits (+ unpacks) for dot4: planes only at 1 plane, dot4 for 2–8.
 * Both read the same bytes at t = 1, 2, 4, 8 (t/32 of float32). Split-K until ≈ 256 workgroups
 * run, keeping ≥ 16 words per slice.
 */
export const GPU_PROFILE: DeviceProfile = {
  name: 'gpu',
  evidence: 'unmeasured: operation counts per 32 MACs (planes 3t(A+1), dot4 8 per digit); DESIGN-NOTES §1, §10',
  autoProduct: (t, activationBits) => (t <= 1 || t > 8 || activationBits > 14 ? 'planes' : 'dot4'),
  tile: (r) => {
    const rows = tileRows(r.m);
    const groups = Math.ceil(r.np4 / THREADS) * Math.ceil(r.m / rows) * r.outBatch;
    const splits = Math.max(1, Math.min(Math.floor(256 / groups), Math.floor(r.weightWords / 16), 64));
    return tileOf(r, splits, true);
  },
};

/** The profile of an adapter: SwiftShader (Google's CPU implementation) or a GPU. */
export function profileForAdapter(a: WebGPUAdapterDescription): DeviceProfile {
  const text = `${a.vendor} ${a.architecture} ${a.description}`;
  return /swiftshader/i.test(text) || (a.isFallbackAdapter && /google/i.test(a.vendor)) ? SWIFTSHADER_PROFILE : GPU_PROFILE;
}
