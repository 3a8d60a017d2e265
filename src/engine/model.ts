// A model loaded onto one GPU device: header, config, tokenizer, weights, KV pool and forward pass.
import { FridayError } from '../api/errors.js';
import { GpuContext } from '../gpu/context.js';
import { PipelineCache } from '../gpu/pipelines.js';
import { readLlamaConfig, type LlamaConfig } from '../model/config.js';
import { readGGUF } from '../model/gguf/reader.js';
import type { GGUFFile } from '../model/gguf/types.js';
import type { ByteSource } from '../model/source/types.js';
import { GpuWeights, type UploadProgress } from '../model/weights.js';
import { acquireDevice, type AcquiredDevice, type DeviceOptions } from '../platform/gpu.js';
import { createTokenizer, type Tokenizer } from '../tokenizer/index.js';
import { ForwardPass } from './forward.js';
import { KvCache, type KvDtype } from './kv-cache.js';

export interface LoadOptions {
  /** Max tokens per sequence (prompt + generated); defaults to min(model context, 2048). */
  contextLength?: number;
  /** Token rows per forward step (prefill chunk size). */
  maxBatchTokens?: number;
  /** Sequences that can be in flight at once. */
  maxSeqs?: number;
  pageSize?: number;
  /** Pages in the KV pool; default: enough for maxSeqs full contexts. */
  numPages?: number;
  kvDtype?: KvDtype;
  device?: AcquiredDevice;
  deviceOptions?: DeviceOptions;
  signal?: AbortSignal;
  onProgress?: (p: UploadProgress & { phase: 'upload' }) => void;
}

export class LoadedModel {
  private constructor(
    readonly gguf: GGUFFile,
    readonly config: LlamaConfig,
    readonly tokenizer: Tokenizer,
    readonly gpu: GpuContext,
    readonly weights: GpuWeights,
    readonly kv: KvCache,
    readonly forward: ForwardPass,
    readonly contextLength: number,
    readonly loadMs: number,
    readonly deviceNote: string | undefined,
  ) {}

  static async load(source: ByteSource, opts: LoadOptions = {}): Promise<LoadedModel> {
    const t0 = performance.now();
    const gguf = await readGGUF(source, opts.signal);
    const config = readLlamaConfig(gguf);
    const tokenizer = createTokenizer(gguf.metadata);
    const acq = opts.device ?? (await acquireDevice(opts.deviceOptions));
    const gpu = new GpuContext(acq);
    const ctx = Math.min(opts.contextLength ?? 2048, config.contextLength);
    const pageSize = opts.pageSize ?? 16;
    const maxSeqs = opts.maxSeqs ?? 1;
    const maxPagesPerSeq = Math.ceil(ctx / pageSize);
    const kvShape = { numPages: opts.numPages ?? maxSeqs * maxPagesPerSeq, pageSize, maxSeqs, maxPagesPerSeq, dtype: opts.kvDtype ?? 'f16' } as const;
    let weights: GpuWeights | undefined, kv: KvCache | undefined;
    try {
      weights = await GpuWeights.upload(gpu, source, gguf, { signal: opts.signal, onProgress: (p) => opts.onProgress?.({ ...p, phase: 'upload' }) });
      kv = new KvCache(gpu, config, kvShape);
      const forward = await ForwardPass.create(gpu, new PipelineCache(gpu), config, weights, kv, { maxBatchTokens: opts.maxBatchTokens ?? 128, maxOut: maxSeqs });
      await gpu.device.queue.onSubmittedWorkDone();
      gpu.check();
      return new LoadedModel(gguf, config, tokenizer, gpu, weights, kv, forward, ctx, performance.now() - t0, acq.note);
    } catch (e) {
      gpu.destroy();
      throw e instanceof FridayError ? e : new FridayError('INTERNAL', `Model load failed: ${(e as Error).message}`, undefined, { cause: e });
    }
  }

  destroy(): void {
    this.forward.destroy();
    this.kv.destroy();
    this.weights.destroy();
    this.gpu.destroy();
  }
}
