// What a model needs before any weight is downloaded: bytes per dtype, the largest tensor, the KV
// cache for a context, compared with an adapter's limits. inspectModel() does it from the header
// alone (for a URL: one Range request for the first MiB, usually the whole header).
import { toFridayError } from '../api/errors.js';
import type { AcquiredDevice, AdapterSummary } from '../platform/gpu.js';
import { ggmlTypeName } from './dtypes.js';
import { readLlamaConfig, type LlamaConfig } from './config.js';
import type { GGUFFile, GGUFTensorInfo } from './gguf/types.js';
import { openSource, type ModelInput, type OpenOptions } from './source/open.js';
import { readModelHeader } from './source/split.js';
import type { ByteSource } from './source/types.js';
import { planParts } from './weights.js';

export interface GpuLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** Total memory we may use, when known (WebGPU does not expose it; callers may pass an estimate). */
  totalBytes?: number;
}

export interface RequirementOptions {
  contextLength?: number;
  kvBytesPerElement?: number;
  maxBatchTokens?: number;
  /** Sequences in flight (each gets a full context of KV). Default 1. */
  maxSeqs?: number;
}

export interface ModelRequirements {
  config: LlamaConfig;
  bytesByType: Record<string, number>;
  weightBytes: number;
  largestTensor: { name: string; bytes: number };
  kvBytes: number;
  /** One layer's K (or V) cache: a single buffer and binding. */
  kvLayerBytes: number;
  contextLength: number;
  /** Activations and logits for one step at the given batch size. */
  activationBytes: number;
  /** The largest activation buffer (each is one binding). */
  largestActivation: { name: string; bytes: number };
  totalBytes: number;
  tensors: readonly GGUFTensorInfo[];
}

export interface FitVerdict {
  fits: boolean;
  /** Why it won't fit (empty when it fits). */
  reasons: string[];
  /** Worth knowing but not blocking, e.g. tensors split across bindings. */
  notes: string[];
  /** Tensors larger than one binding, and the number of buffers each is split into. */
  splits: { tensor: string; parts: number }[];
}

export function modelRequirements(gguf: GGUFFile, opts: RequirementOptions = {}): ModelRequirements {
  const config = readLlamaConfig(gguf);
  const bytesByType: Record<string, number> = {};
  let largest = { name: '', bytes: 0 };
  let weightBytes = 0;
  for (const t of gguf.tensors) {
    const name = ggmlTypeName(t.type);
    bytesByType[name] = (bytesByType[name] ?? 0) + t.byteSize;
    weightBytes += t.byteSize;
    if (t.byteSize > largest.bytes) largest = { name: t.name, bytes: t.byteSize };
  }
  const ctx = Math.min(opts.contextLength ?? config.contextLength, config.contextLength);
  const kvLayerBytes = (opts.maxSeqs ?? 1) * ctx * config.nKvHeads * config.headDim * (opts.kvBytesPerElement ?? 2);
  const kvBytes = 2 * config.nLayers * kvLayerBytes;
  const T = opts.maxBatchTokens ?? 256, S = opts.maxSeqs ?? 1;
  const activationBytes = 4 * T * (4 * config.dim + 2 * config.nKvHeads * config.headDim + 3 * config.ffnDim) + 4 * 16 * config.vocabSize;
  const acts: [string, number][] = [['logits', 4 * S * config.vocabSize], ['x', 4 * T * config.dim], ['gate', 4 * T * config.ffnDim]];
  const [actName, actBytes] = acts.reduce((a, b) => (b[1] > a[1] ? b : a));
  return {
    config, bytesByType, weightBytes, largestTensor: largest, kvBytes, kvLayerBytes, contextLength: ctx, activationBytes,
    largestActivation: { name: actName, bytes: actBytes }, totalBytes: weightBytes + kvBytes + activationBytes, tensors: gguf.tensors,
  };
}

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** A byte count in the unit that suits it. */
function size(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return MiB(n);
  return n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

/** Compares requirements with limits. A tensor over one binding is only a problem if it can't be split by rows. */
export function checkFits(req: ModelRequirements, limits: GpuLimits): FitVerdict {
  const reasons: string[] = [];
  const notes: string[] = [];
  const splits: FitVerdict['splits'] = [];
  const binding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const unsplittable: GGUFTensorInfo[] = [];
  for (const t of req.tensors) {
    try {
      const parts = planParts(t, limits).length;
      if (parts > 1) splits.push({ tensor: t.name, parts });
    } catch {
      unsplittable.push(t);
    }
  }
  if (unsplittable.length) {
    const big = unsplittable.reduce((a, b) => (b.byteSize > a.byteSize ? b : a));
    const more = unsplittable.length > 1 ? ` and ${unsplittable.length - 1} more` : '';
    reasons.push(`tensor ${big.name} (${size(big.byteSize)})${more} can't be split by rows to fit one storage binding (${size(binding)})`);
  }
  if (splits.length) notes.push(`${splits.length} tensor(s) larger than one binding (${size(binding)}) will be split by rows, e.g. ${splits[0]!.tensor} into ${splits[0]!.parts} buffers`);
  if (req.kvLayerBytes > binding) {
    reasons.push(`one layer's KV cache (${MiB(req.kvLayerBytes)} for ${req.contextLength} tokens) is larger than one storage binding (${size(binding)}); use a shorter context or fewer sequences`);
  }
  if (req.largestActivation.bytes > binding) {
    reasons.push(`the ${req.largestActivation.name} activations (${MiB(req.largestActivation.bytes)}) are larger than one storage binding (${size(binding)}); use a smaller batch`);
  }
  if (limits.totalBytes !== undefined && req.totalBytes > limits.totalBytes) {
    reasons.push(`weights ${MiB(req.weightBytes)} + KV cache ${MiB(req.kvBytes)} for ${req.contextLength} tokens need ${MiB(req.totalBytes)}, more than the ${MiB(limits.totalBytes)} available`);
  }
  return { fits: reasons.length === 0, reasons, notes, splits };
}

export interface InspectOptions extends RequirementOptions, OpenOptions {
  kvDtype?: 'f16' | 'f32';
  /** Limits to compare with. Default: the adapter's, from a device acquired for the occasion. */
  limits?: GpuLimits;
  /** A device to take limits from instead of acquiring one. */
  device?: AcquiredDevice;
}

export interface ModelInspection extends FitVerdict {
  source: string;
  fileBytes: number;
  gguf: GGUFFile;
  requirements: ModelRequirements;
  /** What it was compared with; undefined when no adapter was found (then fits is false). */
  limits: GpuLimits | undefined;
  adapter: AdapterSummary | undefined;
  /** One line: "fits: …" or "won't fit because …". */
  summary: string;
}

/**
 * Reads only the header of a model (any ModelInput, split models included) and says whether it
 * fits this adapter, and if not, why. Never downloads weights.
 */
export async function inspectModel(input: ModelInput, opts: InspectOptions = {}): Promise<ModelInspection> {
  const src: ByteSource = await openSource(input, opts);
  let gguf: GGUFFile;
  try {
    gguf = await readModelHeader(src, opts.signal);
  } finally {
    if (src !== input) await src.close();
  }
  const requirements = modelRequirements(gguf, { ...opts, kvBytesPerElement: opts.kvBytesPerElement ?? (opts.kvDtype === 'f32' ? 4 : 2) });
  const { limits, adapter, problem } = await adapterLimits(opts);
  const verdict: FitVerdict = limits ? checkFits(requirements, limits) : { fits: false, reasons: [problem!], notes: [], splits: [] };
  const summary = verdict.fits
    ? `fits: ${MiB(requirements.weightBytes)} of weights + ${MiB(requirements.kvBytes)} of KV cache for ${requirements.contextLength} tokens${verdict.notes.length ? `; ${verdict.notes.join('; ')}` : ''}`
    : `won't fit because ${verdict.reasons.join('; ')}`;
  return { ...verdict, source: src.name, fileBytes: src.size, gguf, requirements, limits, adapter, summary };
}

async function adapterLimits(opts: InspectOptions): Promise<{ limits?: GpuLimits; adapter?: AdapterSummary; problem?: string }> {
  if (opts.limits) return { limits: opts.limits, adapter: opts.device?.info };
  const pick = (acq: AcquiredDevice): GpuLimits => ({ maxBufferSize: acq.device.limits.maxBufferSize, maxStorageBufferBindingSize: acq.device.limits.maxStorageBufferBindingSize });
  if (opts.device) return { limits: pick(opts.device), adapter: opts.device.info };
  try {
    const { acquireDevice } = await import('../platform/gpu.js');
    const acq = await acquireDevice();
    try {
      return { limits: pick(acq), adapter: acq.info };
    } finally {
      acq.device.destroy();
    }
  } catch (e) {
    return { problem: `there is no usable WebGPU adapter (${toFridayError(e).message})` };
  }
}
