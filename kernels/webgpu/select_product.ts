/**
 * Which WebGPU program computes a matmul's integers d. Both exact products read the same cached
 * weight and give the same d bit for bit (test/browser/webgpu_matmul.test.ts):
 *
 *   planes   bit-plane AND + countOneBits (planes_product_wgsl.ts): any width, while
 *            K·(2^A−1) < 2^31 (one plane per exact i32 part)
 *   dot4     packed codes with dot4I8Packed (dot4_product_wgsl.ts): 1–8 planes, while
 *            K·max|code|·128 < 2^31 (K < 2^17 at 8 planes)
 *   cpu      the CPU engine (src/engine.ts) on read-back operands: simulated narrow accumulators
 *            (their event counts and summation order are the engine's), and what neither GPU
 *            product can hold in i32 (A = 16 with K > 32767)
 *
 * The flag `PBQ_WEBGPU_PRODUCT` (config key `webgpuProduct`) picks one: 'auto' (default) asks
 * the device profile (device_profile.ts); a named product serves every call it can, and a call
 * it cannot serve goes to the other product, then to the CPU engine.
 */
import type { AccumulatorConfig, WebGPUProductFlag } from '../../src/config';
import type { DeviceProfile, ExactProduct } from './device_profile';
import { codeSumFits, dot4Parts, planesParts } from './product_parts';

export type ProductKind = ExactProduct | 'cpu';

/** What decides the product: the planes used (widest channel), activation bits, K, accumulator. */
export interface ProductRequest {
  weightPlanes: number;
  activationBits: number;
  k: number;
  accumulator: AccumulatorConfig;
}

/** Whether a GPU product can serve: exact accumulation, and T = Σ a_k in i32 (then the planes product always can). */
export function gpuCanServe(r: Pick<ProductRequest, 'activationBits' | 'k' | 'accumulator'>): boolean {
  return r.accumulator.type === 'exact' && codeSumFits(r.k, r.activationBits);
}

/** Whether `kind` computes this request exactly. */
export function canServe(kind: ProductKind, r: ProductRequest): boolean {
  if (kind === 'cpu') return true;
  if (!gpuCanServe(r)) return false;
  return (kind === 'planes' ? planesParts : dot4Parts)(r.k, r.weightPlanes, r.activationBits) !== undefined;
}

export function selectProduct(r: ProductRequest, flag: WebGPUProductFlag, profile: DeviceProfile): ProductKind {
  const wanted: ExactProduct = flag === 'auto' ? profile.autoProduct(r.weightPlanes, r.activationBits) : flag;
  const order: ProductKind[] = [wanted, wanted === 'planes' ? 'dot4' : 'planes', 'cpu'];
  return order.find((kind) => canServe(kind, r)) as ProductKind;
}

/** Products run since load (diagnostics: tests check which program served a call). */
const runs: Record<ProductKind, number> = { planes: 0, dot4: 0, cpu: 0 };

export function countRun(kind: ProductKind): void {
  runs[kind]++;
}

export function productRunCounts(): Readonly<Record<ProductKind, number>> {
  return { ...runs };
}
