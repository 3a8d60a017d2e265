// Adapter and device acquisition for the browser (navigator.gpu) and Node (Dawn via the `webgpu` package).
import { FridayError } from '../api/errors.js';
import { isNodeLike, SWIFTSHADER_ICD } from './env.js';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU rasterizer (SwiftShader, lavapipe, WARP): correct but ~100x slower than a GPU. */
  is_software: boolean;
}

export interface AcquiredDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  info: AdapterSummary;
  features: { shaderF16: boolean; dot4I8Packed: boolean; subgroups: boolean };
  /** Set when we fell back to the SwiftShader ICD in Node. */
  note?: string;
}

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Allow a software adapter (SwiftShader). Default true. */
  allowSoftware?: boolean;
  /** Artificially lower limits, e.g. to test tensors split across bindings. */
  limits?: Partial<Record<'maxStorageBufferBindingSize' | 'maxBufferSize', number>>;
}

let nodeGpu: Promise<GPU | undefined> | undefined;

async function createNodeGpu(): Promise<GPU | undefined> {
  const mod = (await import('webgpu')) as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, mod.globals); // GPUBufferUsage and friends, as in a browser
  return mod.create([]);
}

const NO_WEBGPU_HELP = 'No WebGPU adapter. In a browser use a recent Chrome/Edge (or enable WebGPU); in Node install libvulkan1 and a Vulkan driver, or Debian\'s chromium package for its SwiftShader ICD.';

async function requestNodeAdapter(opts: DeviceOptions): Promise<{ adapter: GPUAdapter | null; note?: string }> {
  nodeGpu ??= createNodeGpu();
  let adapter = await (await nodeGpu)!.requestAdapter({ powerPreference: opts.powerPreference });
  if (adapter || opts.allowSoftware === false) return { adapter };
  const proc = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process;
  if (proc.env.VK_ICD_FILENAMES) return { adapter };
  const fs = await import('node:fs');
  if (!fs.existsSync(SWIFTSHADER_ICD)) return { adapter };
  // Dawn reads the ICD list when an instance is created, so a fresh instance picks it up.
  proc.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  nodeGpu = createNodeGpu();
  adapter = await (await nodeGpu)!.requestAdapter({ powerPreference: opts.powerPreference });
  return { adapter, note: adapter ? `no hardware adapter; using the SwiftShader software adapter (${SWIFTSHADER_ICD})` : undefined };
}

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const i = adapter.info;
  const text = `${i.vendor} ${i.architecture} ${i.description} ${i.device}`.toLowerCase();
  const isFallback = (i as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return {
    vendor: i.vendor || 'unknown',
    architecture: i.architecture || 'unknown',
    description: i.description || '',
    is_software: isFallback || /swiftshader|llvmpipe|lavapipe|warp|software/.test(text),
  };
}

/** Finds an adapter and creates a device with the limits a model needs. Throws NO_WEBGPU. */
export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  let adapter: GPUAdapter | null = null;
  let note: string | undefined;
  if (isNodeLike()) {
    ({ adapter, note } = await requestNodeAdapter(opts));
  } else {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) throw new FridayError('NO_WEBGPU', NO_WEBGPU_HELP);
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  }
  if (!adapter) throw new FridayError('NO_WEBGPU', NO_WEBGPU_HELP);
  const info = summarizeAdapter(adapter);
  if (info.is_software && opts.allowSoftware === false) {
    throw new FridayError('NO_WEBGPU', `Only a software WebGPU adapter (${info.description || info.architecture}) is available and software adapters are not allowed.`, { adapter: info });
  }
  const features: GPUFeatureName[] = [];
  if (adapter.features.has('shader-f16')) features.push('shader-f16');
  if (adapter.features.has('subgroups')) features.push('subgroups' as GPUFeatureName);
  const want = (k: keyof GPUSupportedLimits) => adapter!.limits[k] as number;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: Math.min(want('maxStorageBufferBindingSize'), opts.limits?.maxStorageBufferBindingSize ?? Infinity),
    maxBufferSize: Math.min(want('maxBufferSize'), opts.limits?.maxBufferSize ?? Infinity),
    maxStorageBuffersPerShaderStage: want('maxStorageBuffersPerShaderStage'),
    maxComputeWorkgroupStorageSize: want('maxComputeWorkgroupStorageSize'),
    maxComputeInvocationsPerWorkgroup: want('maxComputeInvocationsPerWorkgroup'),
    maxComputeWorkgroupSizeX: want('maxComputeWorkgroupSizeX'),
  };
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const wgsl = (globalThis.navigator as Navigator | undefined)?.gpu?.wgslLanguageFeatures ?? (await nodeGpu)?.wgslLanguageFeatures;
  return {
    adapter,
    device,
    info,
    note,
    features: {
      shaderF16: device.features.has('shader-f16'),
      dot4I8Packed: wgsl?.has('packed_4x8_integer_dot_product') ?? false,
      subgroups: device.features.has('subgroups' as GPUFeatureName),
    },
  };
}
