// What a model needs before any weight is downloaded: bytes per dtype, the largest tensor, the KV
// cache for a context, compared with an adapter's limits.
import { ggmlTypeName } from './dtypes.js';
import { readLlamaConfig, type LlamaConfig } from './config.js';
import type { GGUFFile } from './gguf/types.js';

export interface GpuLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** Total memory we may use, when known (WebGPU does not expose it; callers may pass an estimate). */
  totalBytes?: number;
}

export interface ModelRequirements {
  config: LlamaConfig;
  bytesByType: Record<string, number>;
  weightBytes: number;
  largestTensor: { name: string; bytes: number };
  kvBytes: number;
  contextLength: number;
  /** Activations and logits for one step at the given batch size. */
  activationBytes: number;
  totalBytes: number;
}

export interface FitVerdict {
  fits: boolean;
  reasons: string[];
}

export function modelRequirements(gguf: GGUFFile, opts: { contextLength?: number; kvBytesPerElement?: number; maxBatchTokens?: number } = {}): ModelRequirements {
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
  const kvBytes = 2 * config.nLayers * ctx * config.nKvHeads * config.headDim * (opts.kvBytesPerElement ?? 2);
  const T = opts.maxBatchTokens ?? 256;
  const activationBytes = 4 * T * (4 * config.dim + 2 * config.nKvHeads * config.headDim + 3 * config.ffnDim) + 4 * 16 * config.vocabSize;
  return { config, bytesByType, weightBytes, largestTensor: largest, kvBytes, contextLength: ctx, activationBytes, totalBytes: weightBytes + kvBytes + activationBytes };
}

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

export function checkFits(req: ModelRequirements, limits: GpuLimits): FitVerdict {
  const reasons: string[] = [];
  if (req.largestTensor.bytes > limits.maxBufferSize) {
    reasons.push(`tensor ${req.largestTensor.name} needs ${MiB(req.largestTensor.bytes)} but the adapter's maxBufferSize is ${MiB(limits.maxBufferSize)}`);
  }
  if (req.largestTensor.bytes > limits.maxStorageBufferBindingSize) {
    reasons.push(`tensor ${req.largestTensor.name} (${MiB(req.largestTensor.bytes)}) is larger than one storage binding (${MiB(limits.maxStorageBufferBindingSize)})`);
  }
  if (limits.totalBytes !== undefined && req.totalBytes > limits.totalBytes) {
    reasons.push(`weights ${MiB(req.weightBytes)} + KV cache ${MiB(req.kvBytes)} for ${req.contextLength} tokens need ${MiB(req.totalBytes)}, more than the ${MiB(limits.totalBytes)} available`);
  }
  return { fits: reasons.length === 0, reasons };
}
