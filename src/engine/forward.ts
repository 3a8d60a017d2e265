// One forward step of a Llama model over a ragged batch of token rows from many sequences.
// Every matmul runs over [nTokens, dim], so each weight is read once per step whatever the batch.
// The step is a list of ops encoded into one command buffer: one submit, one small readback.
import { FridayError } from '../api/errors.js';
import type { GpuContext } from '../gpu/context.js';
import { encodeOps, type Op } from '../gpu/ops.js';
import type { PipelineCache } from '../gpu/pipelines.js';
import { StepUniform } from '../gpu/step.js';
import type { LlamaConfig } from '../model/config.js';
import type { GpuWeights } from '../model/weights.js';
import { MAX_LOGPROBS, SAMPLE_PARAMS_BYTES, decodeSampleLogprobs, packSampleParams, type SampleRowParams } from '../gpu/kernels/sample.js';
import { buildLayerOps, compileKernels, SAMPLE_WINDOW, type Kernels, type StepMode } from './forward-ops.js';
import type { KvCache } from './kv-cache.js';

/** One step's batch: token rows from any number of sequences, prefill chunks and decode mixed. */
export interface StepBatch {
  tokens: Uint32Array; // [nTokens] token ids
  positions: Uint32Array; // [nTokens] position of each row in its sequence
  slots: Uint32Array; // [nTokens] page-table row of each row's sequence
  outRows: Uint32Array; // [nOut] rows whose logits are needed (each sequence's last row)
}

export interface ForwardOptions {
  maxBatchTokens: number;
  maxOut: number;
}

/** Activation buffers, sized for the largest batch. Shapes are per step: T = nTokens, S = nOut. */
export interface Activations {
  tokens: GPUBuffer; // [T] u32
  positions: GPUBuffer; // [T] u32
  slots: GPUBuffer; // [T] u32
  outRows: GPUBuffer; // [S] u32
  x: GPUBuffer; // [T, dim] f32 residual stream
  xn: GPUBuffer; // [T, dim] f32 normed input of attention / ffn
  q: GPUBuffer; // [T, nHeads * headDim] f32
  k: GPUBuffer; // [T, nKvHeads * headDim] f32
  v: GPUBuffer; // [T, nKvHeads * headDim] f32
  att: GPUBuffer; // [T, dim] f32 attention output before wo
  tmp: GPUBuffer; // [T, dim] f32 wo / w2 output, added into x
  gate: GPUBuffer; // [T, ffnDim] f32, then silu(gate) * up
  up: GPUBuffer; // [T, ffnDim] f32
  xq: GPUBuffer; // [T, max(dim, ffnDim) / 4] u32 activations quantized to Q8_0 (4 x int8)
  xd: GPUBuffer; // [T, max(dim, ffnDim) / 32] f32 their block scales (f16-rounded)
  xo: GPUBuffer; // [S, dim] f32 rows that produce logits
  xon: GPUBuffer; // [S, dim] f32 those rows after the final norm
  logits: GPUBuffer; // [S, vocab] f32
  ids: GPUBuffer; // [S] u32 argmax or sampled ids
  sampleParams: GPUBuffer; // [S] SampleParams (48 bytes each)
  recent: GPUBuffer; // [S, SAMPLE_WINDOW] u32 recent tokens for the repetition penalty
  logprobs: GPUBuffer; // [S, 1 + 2 * MAX_LOGPROBS] u32: chosen logprob, top ids, top logprobs
  readIds: GPUBuffer; // [S] u32 ids, then [S, 1 + 2 * MAX_LOGPROBS] logprobs: staging for readback
  readLogits: GPUBuffer; // [S, vocab] f32 staging for readback
}

export class ForwardPass {
  private busy = false;

  private constructor(
    private readonly gpu: GpuContext,
    readonly cfg: LlamaConfig,
    private readonly kernels: Kernels,
    private readonly act: Activations,
    private readonly stepUniform: StepUniform,
    private readonly kv: KvCache,
    readonly opts: ForwardOptions,
    private readonly buildOps: (nTokens: number, nOut: number, mode: StepMode) => Op[],
  ) {}

  private readonly packed = { params: new ArrayBuffer(0), recent: new Uint32Array(0) };

  /**
   * Compiles every pipeline (in parallel) and creates every buffer and bind group, once. Pipelines
   * need only the weights' header info; the bind groups wait for `weightsReady` (the upload, which
   * creates the weight buffers as their bytes arrive).
   */
  static async create(gpu: GpuContext, cache: PipelineCache, cfg: LlamaConfig, weights: GpuWeights, kv: KvCache, opts: ForwardOptions, weightsReady?: Promise<unknown>): Promise<ForwardPass> {
    const kernels = await compileKernels(gpu, cache, cfg, weights, kv, opts);
    try {
      await weightsReady;
    } catch (e) {
      kernels.destroy();
      throw e;
    }
    const act = createActivations(gpu, cfg, opts);
    const stepUniform = new StepUniform(gpu);
    try {
      const buildOps = buildLayerOps(gpu, cfg, kernels, weights, kv, act, stepUniform.buffer);
      return new ForwardPass(gpu, cfg, kernels, act, stepUniform, kv, opts, buildOps);
    } catch (e) {
      destroyActivations(gpu, act);
      stepUniform.destroy();
      kernels.destroy();
      throw e;
    }
  }

  /** The op list for a step of this size, for counting, profiling and dumps. */
  ops(nTokens: number, nOut: number, mode: StepMode = 'ids'): Op[] {
    return this.buildOps(nTokens, nOut, mode);
  }

  /**
   * Runs one step and samples every logit row on the GPU with its own parameters. Reads back
   * 4 bytes per row, plus 44 when logprobs are wanted. All-greedy steps use the argmax kernel.
   */
  async sample(batch: StepBatch, rows: readonly SampleRowParams[], logprobs: readonly boolean[]): Promise<{ token: number; logprob?: number; top?: { token: number; logprob: number }[] }[]> {
    const n = batch.outRows.length;
    const wantLp = logprobs.some(Boolean);
    const greedy = !wantLp && rows.every((r) => !(r.temperature > 0) && !(r.repeatPenalty !== undefined && r.repeatPenalty !== 1));
    if (n > 0 && !greedy) {
      if (this.packed.recent.length < n * SAMPLE_WINDOW) {
        this.packed.params = new ArrayBuffer(this.opts.maxOut * SAMPLE_PARAMS_BYTES);
        this.packed.recent = new Uint32Array(this.opts.maxOut * SAMPLE_WINDOW);
      }
      const { params, recent } = packSampleParams(rows, SAMPLE_WINDOW, this.packed);
      this.gpu.write(this.act.sampleParams, 0, new Uint8Array(params, 0, n * SAMPLE_PARAMS_BYTES));
      this.gpu.write(this.act.recent, 0, recent.subarray(0, n * SAMPLE_WINDOW));
    }
    const mode: StepMode = greedy ? 'ids' : wantLp ? 'sample+logprobs' : 'sample';
    const raw = await this.run(batch, mode);
    const ids = new Uint32Array(raw, 0, n);
    const lps = wantLp ? decodeSampleLogprobs(raw.slice(n * 4), n, MAX_LOGPROBS) : undefined;
    return Array.from(ids, (token, i) => {
      const lp = lps?.[i];
      return logprobs[i] && lp ? { token, logprob: lp.logprob, top: lp.top.map((t) => ({ token: t.id, logprob: t.logprob })) } : { token };
    });
  }

  /** Runs one step: greedy ids [nOut] (4 bytes per row read back) or logits [nOut, vocab]. */
  async step(batch: StepBatch, want: 'ids'): Promise<Uint32Array>;
  async step(batch: StepBatch, want: 'logits'): Promise<Float32Array>;
  async step(batch: StepBatch, want: 'ids' | 'logits'): Promise<Uint32Array | Float32Array> {
    const raw = await this.run(batch, want);
    return want === 'ids' ? new Uint32Array(raw) : new Float32Array(raw);
  }

  private async run(batch: StepBatch, mode: StepMode): Promise<ArrayBuffer> {
    const nTokens = batch.tokens.length, nOut = batch.outRows.length;
    this.validate(batch);
    if (this.busy) throw new FridayError('INTERNAL', 'ForwardPass.step called while a step is in flight');
    this.busy = true;
    try {
      // 1. Upload the batch description: ids, positions, slots, logit rows, step sizes, page tables.
      const g = this.gpu, a = this.act;
      g.write(a.tokens, 0, batch.tokens);
      g.write(a.positions, 0, batch.positions);
      g.write(a.slots, 0, batch.slots);
      g.write(a.outRows, 0, batch.outRows);
      this.stepUniform.set(nTokens, nOut);
      this.kv.flush();
      // 2. Encode every layer's ops and the readback copy into one command buffer; one submit.
      const enc = g.device.createCommandEncoder();
      encodeOps(g, enc, this.buildOps(nTokens, nOut, mode));
      const lpBytes = nOut * (1 + 2 * MAX_LOGPROBS) * 4;
      const dst = mode === 'logits' ? a.readLogits : a.readIds;
      const bytes = mode === 'logits' ? nOut * this.cfg.vocabSize * 4 : nOut * 4 + (mode === 'sample+logprobs' ? lpBytes : 0);
      if (mode === 'logits') enc.copyBufferToBuffer(a.logits, 0, dst, 0, bytes);
      else if (nOut > 0) enc.copyBufferToBuffer(a.ids, 0, dst, 0, nOut * 4);
      if (mode === 'sample+logprobs') enc.copyBufferToBuffer(a.logprobs, 0, dst, nOut * 4, lpBytes);
      g.submit(enc.finish());
      // 3. Read back only what sampling needs (nothing for a prefill chunk that samples nothing).
      if (bytes === 0) {
        await g.device.queue.onSubmittedWorkDone();
        g.check();
        return new ArrayBuffer(0);
      }
      return await this.readback(dst, bytes);
    } finally {
      this.busy = false;
    }
  }

  private async readback(dst: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    try {
      await dst.mapAsync(GPUMapMode.READ, 0, bytes);
    } catch (e) {
      this.gpu.check();
      throw new FridayError('DEVICE_LOST', `GPU step failed: ${(e as Error).message}`, undefined, { cause: e });
    }
    const copy = dst.getMappedRange(0, bytes).slice(0);
    dst.unmap();
    this.gpu.counters.readbackBytes += bytes;
    this.gpu.check();
    return copy;
  }

  private validate(b: StepBatch): void {
    const n = b.tokens.length;
    const bad = (why: string) => new FridayError('INTERNAL', `invalid step batch: ${why}`);
    if (n === 0 || n > this.opts.maxBatchTokens) throw bad(`${n} tokens (max ${this.opts.maxBatchTokens})`);
    if (b.positions.length !== n || b.slots.length !== n) throw bad('positions/slots length differs from tokens');
    if (b.outRows.length > this.opts.maxOut) throw bad(`${b.outRows.length} logit rows (max ${this.opts.maxOut})`);
    for (const r of b.outRows) if (r >= n) throw bad(`logit row ${r} out of range`);
    for (const t of b.tokens) if (t >= this.cfg.vocabSize) throw bad(`token id ${t} >= vocab ${this.cfg.vocabSize}`);
    const maxPos = this.kv.shape.maxPagesPerSeq * this.kv.shape.pageSize;
    for (const p of b.positions) if (p >= maxPos) throw bad(`position ${p} beyond the cache (${maxPos})`);
  }

  destroy(): void {
    destroyActivations(this.gpu, this.act);
    this.stepUniform.destroy();
    this.kernels.destroy();
  }
}

function createActivations(gpu: GpuContext, c: LlamaConfig, o: ForwardOptions): Activations {
  const T = o.maxBatchTokens, S = o.maxOut;
  const kvDim = c.nKvHeads * c.headDim, maxK = Math.max(c.dim, c.ffnDim);
  const rw = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const read = GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ;
  const f32 = (label: string, n: number) => gpu.createBuffer(`act.${label}`, n * 4, rw);
  return {
    tokens: f32('tokens', T), positions: f32('positions', T), slots: f32('slots', T), outRows: f32('out_rows', S),
    x: f32('x', T * c.dim), xn: f32('xn', T * c.dim), q: f32('q', T * c.dim), k: f32('k', T * kvDim), v: f32('v', T * kvDim),
    att: f32('att', T * c.dim), tmp: f32('tmp', T * c.dim), gate: f32('gate', T * c.ffnDim), up: f32('up', T * c.ffnDim),
    xq: f32('xq', (T * maxK) / 4), xd: f32('xd', Math.ceil((T * maxK) / 32)),
    xo: f32('xo', S * c.dim), xon: f32('xon', S * c.dim), logits: f32('logits', S * c.vocabSize), ids: f32('ids', S),
    sampleParams: f32('sample_params', (S * SAMPLE_PARAMS_BYTES) / 4), recent: f32('recent', S * SAMPLE_WINDOW),
    logprobs: f32('logprobs', S * (1 + 2 * MAX_LOGPROBS)),
    readIds: gpu.createBuffer('read.ids', S * 4 * (2 + 2 * MAX_LOGPROBS), read), readLogits: gpu.createBuffer('read.logits', S * c.vocabSize * 4, read),
  };
}

function destroyActivations(gpu: GpuContext, a: Activations): void {
  for (const b of Object.values(a)) gpu.destroyBuffer(b);
}
