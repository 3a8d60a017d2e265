// A model loaded onto one GPU device: header, config, tokenizer, weights, KV pool and forward pass.
//
// The load, in order: read the header (the tokenizer is handed out here, before any weight) →
// check the model fits the device → create every weight buffer (split by rows where a tensor
// exceeds a binding) and the KV pool → stream the weights to the GPU while the pipelines compile
// → one warm-up step. Abort it at any point with `signal`: everything created so far is destroyed
// and the promise rejects with ABORTED. Buffers made by a pipeline compile still in flight are
// destroyed as soon as it settles (compiles can't be cancelled); they never outlive the load.
import { abortedError, FridayError, throwIfAborted, toFridayError } from '../api/errors.js';
import { GpuContext } from '../gpu/context.js';
import { PipelineCache } from '../gpu/pipelines.js';
import { readLlamaConfig, type LlamaConfig } from '../model/config.js';
import type { GGUFFile } from '../model/gguf/types.js';
import { checkFits, modelRequirements } from '../model/inspect.js';
import { readModelHeader } from '../model/source/split.js';
import type { ByteSource } from '../model/source/types.js';
import { GpuWeights, partLimits, type PartLimits, type UploadProgress } from '../model/weights.js';
import { acquireDevice, type AcquiredDevice, type DeviceOptions } from '../platform/gpu.js';
import { createTokenizer, type Tokenizer } from '../tokenizer/index.js';
import { ForwardPass } from './forward.js';
import { KvCache, type KvCacheShape, type KvDtype } from './kv-cache.js';
import { ProgressTracker, type LoadProgress } from './load-progress.js';

export type { LoadPhase, LoadProgress } from './load-progress.js';

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
  /** A device to use; the model then owns it (LoadedModel.destroy() destroys it). */
  device?: AcquiredDevice;
  deviceOptions?: DeviceOptions;
  /**
   * A GPU context the caller owns and keeps: the load allocates its buffers in it, and a failed
   * or aborted load (or LoadedModel.destroy()) destroys exactly those, leaving the context alive.
   */
  gpu?: GpuContext;
  /**
   * Lower the limits that decide how weights are split (tests). deviceOptions.limits count too:
   * Dawn raises requested limits below the WebGPU defaults, so device.limits alone can't show them.
   */
  limits?: Partial<PartLimits>;
  signal?: AbortSignal;
  /**
   * Progress events: every phase change, and during streaming at most every progressIntervalMs.
   * A handler typed for the earlier upload-only events (as src/worker/protocol.ts still is) is
   * accepted; it receives every phase.
   */
  onProgress?: ((p: LoadProgress) => void) | ((p: UploadProgress & { phase: 'upload' }) => void);
  progressIntervalMs?: number;
  /**
   * Called once the header is read, before any weight is on the GPU: the tokenizer is complete
   * and usable (e.g. to tokenize the prompt while weights stream). See also LoadedModel.start().
   */
  onTokenizer?: (tokenizer: Tokenizer, header: { gguf: GGUFFile; config: LlamaConfig }) => void;
  /** Run one 1-token step before resolving so the first request doesn't pay first-use costs. Default true. */
  warmup?: boolean;
  /** Bytes per read for file sources; with read-ahead, about 3x this is held in JS memory. */
  chunkBytes?: number;
}

/** A load in progress: the tokenizer resolves after the header, the model when it is ready. */
export interface ModelLoad {
  tokenizer: Promise<Tokenizer>;
  model: Promise<LoadedModel>;
}

/** Everything a load has created, so a failure or abort can destroy exactly that. */
class LoadResources {
  gpu: GpuContext | undefined;
  ownsGpu = false;
  weights: GpuWeights | undefined;
  kv: KvCache | undefined;
  forward: ForwardPass | undefined;
  upload: Promise<void> | undefined;
  /** A device being acquired: if the load is over when it arrives, it is destroyed. */
  acquiring: Promise<AcquiredDevice> | undefined;
  note: string | undefined;
  failed = false;
  /** Stops the upload when the load fails for another reason (e.g. a compile error). */
  readonly stop = new AbortController();

  /** Keeps a forward pass that finishes compiling after the load failed from leaking. */
  adoptForward(p: Promise<ForwardPass>): Promise<void> {
    return p.then((fw) => {
      if (this.failed) {
        fw.destroy();
        throw new FridayError('ABORTED', 'The load ended before the pipelines compiled.');
      }
      this.forward = fw;
    });
  }

  async release(): Promise<void> {
    this.failed = true;
    this.stop.abort();
    await this.upload?.catch(() => {}); // it stops at its next chunk; never write into freed buffers
    this.forward?.destroy();
    this.kv?.destroy();
    this.weights?.destroy();
    if (this.ownsGpu) this.gpu?.destroy();
    void this.acquiring?.then((acq) => { if (this.gpu?.device !== acq.device) acq.device.destroy(); }, () => {});
  }
}

const sharedPipelines = new WeakMap<GpuContext, PipelineCache>();

/** Rejects with ABORTED as soon as `signal` fires; `p` itself carries on (see LoadResources). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  p.catch(() => {}); // if we give up on it, its failure is expected and not worth an unhandled rejection
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError('load'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function sourceKind(src: ByteSource): LoadProgress['source'] {
  if ((src as { fromCache?: boolean }).fromCache) return 'cache';
  return src.remote ? 'network' : 'local';
}

function kvShapeFor(opts: LoadOptions, config: LlamaConfig): { ctx: number; shape: KvCacheShape } {
  const ctx = Math.min(opts.contextLength ?? 2048, config.contextLength);
  const pageSize = opts.pageSize ?? 16;
  const maxSeqs = opts.maxSeqs ?? 1;
  const maxPagesPerSeq = Math.ceil(ctx / pageSize);
  return { ctx, shape: { numPages: opts.numPages ?? maxSeqs * maxPagesPerSeq, pageSize, maxSeqs, maxPagesPerSeq, dtype: opts.kvDtype ?? 'f16' } };
}

/** Refuses, before allocating anything, a model that can't run on this device, saying why. */
function assertFits(gguf: GGUFFile, config: LlamaConfig, ctx: number, shape: KvCacheShape, limits: PartLimits, opts: LoadOptions): void {
  const req = modelRequirements(gguf, { contextLength: ctx, maxSeqs: shape.maxSeqs, maxBatchTokens: opts.maxBatchTokens ?? 128, kvBytesPerElement: shape.dtype === 'f16' ? 2 : 4 });
  const v = checkFits({ ...req, kvLayerBytes: KvCache.bytesPerLayer(config, shape) / 2 }, limits);
  if (!v.fits) throw new FridayError('MODEL_TOO_LARGE', `The model won't fit this GPU: ${v.reasons.join('; ')}.`, { reasons: v.reasons });
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
    private readonly ownsGpu: boolean,
  ) {}

  /** Starts a load; `tokenizer` resolves as soon as the header is read (it rejects only if the load fails first). */
  static start(source: ByteSource, opts: LoadOptions = {}): ModelLoad {
    let give!: (t: Tokenizer) => void, fail!: (e: unknown) => void;
    const tokenizer = new Promise<Tokenizer>((res, rej) => { give = res; fail = rej; });
    tokenizer.catch(() => {}); // callers may only await `model`
    const model = LoadedModel.load(source, { ...opts, onTokenizer: (t, h) => { give(t); opts.onTokenizer?.(t, h); } });
    model.catch(fail);
    return { tokenizer, model };
  }

  static async load(source: ByteSource, opts: LoadOptions = {}): Promise<LoadedModel> {
    const t0 = performance.now();
    const signal = opts.signal;
    const progress = new ProgressTracker(opts.onProgress as ((p: LoadProgress) => void) | undefined, sourceKind(source), opts.progressIntervalMs);
    const res = new LoadResources();
    try {
      throwIfAborted(signal);
      progress.phase('header');
      const gguf = await readModelHeader(source, signal);
      const config = readLlamaConfig(gguf);
      const tokenizer = createTokenizer(gguf.metadata);
      opts.onTokenizer?.(tokenizer, { gguf, config });
      throwIfAborted(signal);
      const gpu = await LoadedModel.context(opts, res);
      const { ctx, shape } = kvShapeFor(opts, config);
      const limits = partLimits(gpu, lowest(opts.deviceOptions?.limits, opts.limits));
      assertFits(gguf, config, ctx, shape, limits, opts);
      res.weights = GpuWeights.plan(gpu, gguf, limits);
      res.kv = new KvCache(gpu, config, shape);
      const forward = await LoadedModel.streamAndCompile(source, gguf, config, res, opts, progress);
      if (opts.warmup !== false) {
        progress.phase('warmup');
        throwIfAborted(signal);
        await untilAborted(forward.step({ tokens: Uint32Array.of(0), positions: Uint32Array.of(0), slots: Uint32Array.of(0), outRows: Uint32Array.of(0) }, 'ids'), signal);
      }
      await untilAborted(gpu.device.queue.onSubmittedWorkDone(), signal);
      gpu.check();
      throwIfAborted(signal);
      const model = new LoadedModel(gguf, config, tokenizer, gpu, res.weights, res.kv, forward, ctx, performance.now() - t0, res.note, res.ownsGpu);
      progress.phase('ready');
      return model;
    } catch (e) {
      await res.release();
      if (signal?.aborted) throw abortedError('load', e);
      throw e instanceof FridayError ? e : new FridayError('INTERNAL', `Model load failed: ${toFridayError(e).message}`, undefined, { cause: e });
    }
  }

  /** The caller's context, or a new one on the given or a newly acquired device (owned by the model). */
  private static async context(opts: LoadOptions, res: LoadResources): Promise<GpuContext> {
    if (opts.gpu) return (res.gpu = opts.gpu);
    if (opts.device) {
      res.ownsGpu = true;
      res.note = opts.device.note;
      return (res.gpu = new GpuContext(opts.device));
    }
    // Device acquisition can't be cancelled: if the load is over by then, release() lets it go.
    res.acquiring = acquireDevice(opts.deviceOptions);
    const acq = await untilAborted(res.acquiring, opts.signal);
    res.ownsGpu = true;
    res.note = acq.note;
    return (res.gpu = new GpuContext(acq));
  }

  /** Streams the weights to the GPU while the pipelines compile; resolves when both are done. */
  private static async streamAndCompile(source: ByteSource, gguf: GGUFFile, config: LlamaConfig, res: LoadResources, opts: LoadOptions, progress: ProgressTracker): Promise<ForwardPass> {
    const gpu = res.gpu!, weights = res.weights!;
    const signal = opts.signal ? AbortSignal.any([opts.signal, res.stop.signal]) : res.stop.signal;
    progress.phase(sourceKind(source) === 'network' ? 'download' : 'upload', {
      bytesTotal: gguf.tensors.reduce((s, t) => s + t.byteSize, 0), tensorsTotal: gguf.tensors.length,
    });
    res.upload = weights.stream(source, gguf, { signal, chunkBytes: opts.chunkBytes, onProgress: (p) => progress.bytes(p) });
    const forwardOpts = { maxBatchTokens: opts.maxBatchTokens ?? 128, maxOut: opts.maxSeqs ?? 1 };
    // A caller's context keeps its pipelines: loading again on it compiles only what is new.
    const pipelines = res.ownsGpu ? new PipelineCache(gpu) : (sharedPipelines.get(gpu) ?? sharedPipelines.set(gpu, new PipelineCache(gpu)).get(gpu)!);
    const compiled = res.adoptForward(ForwardPass.create(gpu, pipelines, config, weights, res.kv!, forwardOpts, res.upload));
    compiled.catch(() => {}); // awaited below; after a failure its result is destroyed on arrival
    await untilAborted(Promise.all([res.upload.then(() => progress.phase('compile')), compiled]), opts.signal);
    return res.forward!;
  }

  /** Frees the model's GPU memory (and its device, unless the caller supplied the context). */
  destroy(): void {
    this.forward.destroy();
    this.kv.destroy();
    this.weights.destroy();
    if (this.ownsGpu) this.gpu.destroy();
  }
}

function lowest(a: Partial<PartLimits> | undefined, b: Partial<PartLimits> | undefined): Partial<PartLimits> {
  const min = (x?: number, y?: number) => (x === undefined ? y : y === undefined ? x : Math.min(x, y));
  return { maxStorageBufferBindingSize: min(a?.maxStorageBufferBindingSize, b?.maxStorageBufferBindingSize), maxBufferSize: min(a?.maxBufferSize, b?.maxBufferSize) };
}
