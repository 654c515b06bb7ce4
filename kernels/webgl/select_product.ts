/**
 * Which WebGL program computes a matmul's integers d. All exact products read the same cached
 * weight and give the same d bit for bit (test/browser/bitlayer_matmul_gpu.test.ts):
 *
 *   planes   bit-plane AND + bit-sliced carry-save adds (planes_product_gpu.ts): any width
 *   codes    one signed f-bit code per float FMA (codes_product_gpu.ts): 1–8 planes
 *   pairs    two offset codes per 32-bit multiply (pairs_product_gpu.ts): 1–4 planes, A ≤ 8/9
 *   sampler  tfjs samplers, 16-bit float texels (sampler_product_gpu.ts): any width; serves
 *            what the raw products cannot place (textures too large, batch tables too long)
 *   narrow   the simulated narrow accumulator (narrow_accumulator_gpu.ts): every non-exact run
 *
 * The flag `PBQ_WEBGL_PRODUCT` (config key `webglProduct`) picks one: 'auto' (default) asks the
 * device profile (device_profile.ts); a named product serves every call it can, and a call it
 * cannot serve goes to the next of pairs → codes → planes → sampler.
 */
import type { AccumulatorConfig, WebGLProductFlag } from '../../src/config';
import type { DeviceProfile } from './device_profile';
import { pairsField } from './pairs_product_gpu';

export type ProductKind = 'planes' | 'codes' | 'pairs' | 'sampler' | 'narrow';

/** What decides the product: the planes used (widest channel), activation bits, K, accumulator. */
export interface ProductRequest {
  weightPlanes: number;
  activationBits: number;
  k: number;
  accumulator: AccumulatorConfig;
}

const FALLBACK: readonly ProductKind[] = ['pairs', 'codes', 'planes', 'sampler'];

/** Whether `kind` computes this request exactly (texture placement is checked when it runs). */
export function canServe(kind: ProductKind, r: ProductRequest): boolean {
  const exact = r.accumulator.type === 'exact';
  switch (kind) {
    case 'narrow': return !exact;
    case 'pairs': return exact && pairsField(r.weightPlanes, r.activationBits, r.k) !== 0;
    case 'codes': return exact && r.weightPlanes <= 8;
    case 'planes':
    case 'sampler': return exact;
  }
}

export function selectProduct(r: ProductRequest, flag: WebGLProductFlag, profile: DeviceProfile): ProductKind {
  if (r.accumulator.type !== 'exact') return 'narrow';
  const wanted: ProductKind = flag === 'auto' ? profile.autoProduct(r.weightPlanes, r.activationBits, r.k) : flag;
  const from = FALLBACK.indexOf(wanted);
  return FALLBACK.slice(from).find((kind) => canServe(kind, r)) ?? 'sampler';
}

/** The product that serves a call when `kind` cannot place its textures (undefined: none). */
export function placementFallback(kind: ProductKind): ProductKind | undefined {
  if (kind === 'pairs' || kind === 'codes') return 'planes';
  return kind === 'planes' ? 'sampler' : undefined;
}

/** Products run per program since load (diagnostics: tests check which program served a call). */
const runs: Record<ProductKind, number> = { planes: 0, codes: 0, pairs: 0, sampler: 0, narrow: 0 };

export function countRun(kind: ProductKind): void {
  runs[kind]++;
}

export function productRunCounts(): Readonly<Record<ProductKind, number>> {
  return { ...runs };
}
