/**
 * The pbq-webgpu backend (a browser with WebGPU, in a secure context): tfjs-backend-webgpu with
 * pbq's kernels (kernels/webgpu/) registered over its own. State: the quantized-weight cache
 * (with each weight's storage buffers), the weights quantized on the GPU, and what the adapter
 * says about the device.
 *
 * pbq does not import tfjs-backend-webgpu (a devDependency here, not a dependency): the app
 * imports it and hands it over, so its bundler resolves the app's one copy and apps without
 * WebGPU do not carry it:
 *
 *   import * as webgpu from '@tensorflow/tfjs-backend-webgpu';
 *   pbq.useWebGPU(webgpu);           // script tag: pbq.useWebGPU(tf) after tf-backend-webgpu.min.js
 *   await tf.setBackend('pbq-webgpu');
 */
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { env } from '@tensorflow/tfjs-core';
import type { DataId } from '@tensorflow/tfjs-core';
import { DataIdStore, Disposable, WeightCache } from './weight_cache';

/** What the adapter reports (GPUAdapterInfo), read by the device profile (kernels/webgpu/device_profile.ts). */
export interface WebGPUAdapterDescription {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
}

/**
 * Weights quantized on the GPU (kernels/webgpu/gpu_weight.ts DeviceQuantizedWeight: B operands
 * whose values exist only on the GPU), by dataId and layout key; freed with their dataId.
 */
export class DeviceWeightStore<D extends Disposable = Disposable> extends DataIdStore<D> {
  constructor() {
    super((entry) => entry.dispose());
  }
}

/** What pbq needs of tfjs-backend-webgpu (its module, or the global `tf` of its script-tag build). */
export interface WebGPUModule {
  WebGPUBackend: typeof WebGPUBackend;
}

/** What pbq adds to tfjs's WebGPUBackend: state and overrides. */
export interface PbqBackendWebGPU extends WebGPUBackend {
  readonly weightCache: WeightCache;
  readonly deviceWeights: DeviceWeightStore;
  /** GPU tensors owned by cached weights (kernels/webgpu/gpu_weight.ts), not tensors of the engine. */
  cacheOwnedDataIds: number;
  readonly adapter: WebGPUAdapterDescription;
  /** Whether a tensor's values exist only in a GPU buffer (WebGPU cannot read them back synchronously). */
  gpuResident(dataId: DataId): boolean;
}

type PbqBackendWebGPUClass = new (device: GPUDevice, adapter: WebGPUAdapterDescription, adapterInfo?: GPUAdapterInfo) => PbqBackendWebGPU;

/** The class of the pbq-webgpu backend over a given tfjs-backend-webgpu (one per module). */
function pbqBackendClass(Base: typeof WebGPUBackend): PbqBackendWebGPUClass {
  const cls = class PbqBackendWebGPUImpl extends Base implements PbqBackendWebGPU {
    readonly weightCache = new WeightCache();
    readonly deviceWeights = new DeviceWeightStore();
    /** GPU tensors owned by cached weights (kernels/webgpu/gpu_weight.ts), not tensors of the engine. */
    cacheOwnedDataIds = 0;

    constructor(device: GPUDevice, readonly adapter: WebGPUAdapterDescription, adapterInfo?: GPUAdapterInfo) {
      super(device, adapterInfo);
      // Backends created on the same device (after tf.engine().reset() or removeBackend) share the
      // compiled pipelines: compiling is the slow part on SwiftShader. (tfjs keeps them in a
      // private per-instance field; a pipeline is valid for its device.)
      let pipelines = sharedPipelines.get(device);
      if (!pipelines) {
        pipelines = {};
        sharedPipelines.set(device, pipelines);
      }
      (this as unknown as { pipelineCache: object }).pipelineCache = pipelines;
    }

    /**
     * Data ids of tensors, excluding the storage buffers that cached weights own: those are freed
     * with their weight, not by the engine, so tfjs's per-kernel leak check must not count them.
     * Their bytes still show in tf.memory().numBytesInGPU.
     */
    override numDataIds(): number {
      return super.numDataIds() - this.cacheOwnedDataIds;
    }

    override disposeData(dataId: DataId, force = false): boolean {
      const freed = super.disposeData(dataId, force);
      if (freed) {
        this.weightCache.forget(dataId);
        this.deviceWeights.forget(dataId);
      }
      return freed;
    }

    /** Whether a tensor's values exist only in a GPU buffer (WebGPU cannot read them back synchronously). */
    gpuResident(dataId: DataId): boolean {
      const data = this.tensorMap.get(dataId);
      return data !== undefined && data.values == null && data.resource != null;
    }

    override dispose(): void {
      this.weightCache.clear();
      this.deviceWeights.clear();
      super.dispose();
    }
  };
  // the name the other bases' classes have (PbqBackendCPU, PbqBackendWebGL, PbqBackendWasm)
  Object.defineProperty(cls, 'name', { value: 'PbqBackendWebGPU' });
  return cls;
}

/** Compiled pipelines per device (see the constructor). */
const sharedPipelines = new WeakMap<GPUDevice, object>();

/** The device every pbq-webgpu backend of this page uses (one per page; a new one once lost). */
let devicePromise: Promise<{ device: GPUDevice; description: WebGPUAdapterDescription; info?: GPUAdapterInfo }> | undefined;

/** True where WebGPU may exist: a browser with navigator.gpu in a secure context (the adapter is asked at creation). */
export function webgpuExposed(): boolean {
  return env().getBool('IS_BROWSER') && typeof navigator !== 'undefined' && 'gpu' in navigator &&
    (typeof isSecureContext === 'undefined' || isSecureContext);
}

/**
 * Creates the backend on pbq's GPUDevice (requested once per page, with the adapter limits and
 * features that the stock 'webgpu' backend asks for: tfjs-backend-webgpu 4.22 base.ts).
 */
/** The tfjs-backend-webgpu that pbq-webgpu runs over (useWebGPU), and its pbq class. */
let webgpu: { module: WebGPUModule; Backend: PbqBackendWebGPUClass } | undefined;

/**
 * Hands pbq the app's tfjs-backend-webgpu (its module namespace, or the global `tf` after
 * tf-backend-webgpu.min.js): 'pbq-webgpu' then runs over it, with every one of its kernels.
 * Call it once, before tf.setBackend('pbq-webgpu').
 */
export function useWebGPU(module: WebGPUModule): void {
  if (!module || typeof module.WebGPUBackend !== 'function') {
    throw new Error("pbq: useWebGPU() takes @tensorflow/tfjs-backend-webgpu (import * as webgpu from '@tensorflow/tfjs-backend-webgpu'), " +
      'or the global tf of its script-tag build; this has no WebGPUBackend');
  }
  if (webgpu && webgpu.module.WebGPUBackend !== module.WebGPUBackend) {
    throw new Error('pbq: useWebGPU() was already given another copy of tfjs-backend-webgpu');
  }
  webgpu ??= { module, Backend: pbqBackendClass(module.WebGPUBackend) };
}

/** Whether useWebGPU() was called. */
export function webgpuModuleGiven(): boolean {
  return webgpu !== undefined;
}

/**
 * Creates the backend. Without useWebGPU() it throws at once, before the factory registers the
 * kernels (src/register.ts), so the stock webgpu kernels are copied only once they exist.
 */
export function createPbqBackendWebGPU(): Promise<PbqBackendWebGPU> {
  if (!webgpu) {
    throw new Error("pbq: 'pbq-webgpu' runs over the app's @tensorflow/tfjs-backend-webgpu: call " +
      "pbq.useWebGPU(await import('@tensorflow/tfjs-backend-webgpu')) before tf.setBackend('pbq-webgpu')");
  }
  const { Backend } = webgpu;
  devicePromise ??= requestDevice();
  return devicePromise.then(
    ({ device, description, info }) => new Backend(device, description, info),
    (e) => { devicePromise = undefined; throw e; });
}

async function requestDevice(): Promise<{ device: GPUDevice; description: WebGPUAdapterDescription; info?: GPUAdapterInfo }> {
  if (!webgpuExposed()) throw new Error('pbq: WebGPU is not available here (navigator.gpu needs a browser and a secure context)');
  const adapter = await navigator.gpu.requestAdapter({
    powerPreference: env().get('WEBGPU_USE_LOW_POWER_GPU') ? 'low-power' : 'high-performance',
  });
  if (!adapter) throw new Error('pbq: navigator.gpu.requestAdapter() returned no adapter (Chromium needs --enable-unsafe-webgpu on Linux)');
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const description: WebGPUAdapterDescription = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ??
      (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter),
  };
  void device.lost.then(() => {
    devicePromise = undefined;
  });
  return { device, description, info };
}
