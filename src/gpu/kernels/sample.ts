// Per-row sampling for continuous batching (penalties -> top-k -> top-p -> min-p -> temperature ->
// draw), each row with its own parameters and counter-based RNG. See shaders/sample.wgsl for the
// semantics, the no-full-sort approach and the NaN policy. This module owns the params layout.
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { rowsFromOut, type RowSource } from '../step.js';

export interface SampleShape {
  vocab: number;
  /** Recent-token slots per row for the repetition penalty (llama.cpp's penalty_last_n), 1..512. */
  window: number;
  /** Candidate slots sorted in workgroup memory: a power of two in [2, 512]; default 256. Only a
   *  cost knob: parameters whose survivors do not fit take an exact full-vocab path instead. */
  candidates?: number;
  /** Variant that also writes logprobs: the chosen token's and the `top` (0..5) best alternatives'. */
  logprobs?: { top: number };
  /** Threads per row: 16, 32, 64, 128 or 256 (default). 256 suits large vocabularies on GPUs;
   *  smaller groups are much cheaper on software adapters (SwiftShader runs ~6x faster at 64). */
  workgroupSize?: number;
  /** Which step count gives the row count; logits rows are normally n_out (the default). */
  rows?: RowSource;
}

/** One sequence's sampling parameters (llama.cpp names in comments). */
export interface SampleRowParams {
  /** <= 0 (or NaN): greedy, the first index of the maximum. (temp) */
  temperature: number;
  /** 0: off. 1 is greedy at any temperature. (top_k) */
  topK?: number;
  /** >= 1: off (the default). (top_p) */
  topP?: number;
  /** <= 0: off (the default). (min_p) */
  minP?: number;
  /** 1: off (the default); must be > 0. Applied once to each distinct recent token. (penalty_repeat) */
  repeatPenalty?: number;
  /** 64-bit seed (a number up to 2^53 or a bigint), stored as seed_lo / seed_hi. */
  seed: number | bigint;
  /** u32 draw counter: (seed, counter) fully determines the uniform, e.g. the token position. */
  counter: number;
  /** The sequence's recent tokens, oldest first; the last `window` of them are used. */
  recent?: ArrayLike<number>;
}

/** Bytes per row of the params buffer; see SAMPLE_PARAMS_LAYOUT. */
export const SAMPLE_PARAMS_BYTES = 48;

/** Byte offsets in one 48-byte SampleParams record (WGSL struct, std layout, all 4-byte scalars). */
export const SAMPLE_PARAMS_LAYOUT = {
  temperature: 0, // f32
  top_k: 4, // u32
  top_p: 8, // f32
  min_p: 12, // f32
  repeat_penalty: 16, // f32
  seed_lo: 20, // u32
  seed_hi: 24, // u32
  counter: 28, // u32
  n_recent: 32, // u32, entries used from the row's recent window
  // 36..47: reserved, zero
} as const;

export const MAX_LOGPROBS = 5;

export function splitSeed(seed: number | bigint): [lo: number, hi: number] {
  const s = BigInt(seed);
  if (s < 0n || s >= 1n << 64n) throw new RangeError(`sample: seed ${seed} is not a u64`);
  return [Number(s & 0xffffffffn), Number(s >> 32n)];
}

function isU32(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

/**
 * Packs per-row parameters into the params buffer layout (48 bytes per row) and the recent-token
 * windows into [rows, window] u32. Pass `into` to reuse host arrays.
 */
export function packSampleParams(
  rows: readonly SampleRowParams[],
  window: number,
  into?: { params: ArrayBuffer; recent: Uint32Array },
): { params: ArrayBuffer; recent: Uint32Array } {
  const params = into?.params ?? new ArrayBuffer(rows.length * SAMPLE_PARAMS_BYTES);
  const recent = into?.recent ?? new Uint32Array(rows.length * window);
  if (params.byteLength < rows.length * SAMPLE_PARAMS_BYTES || recent.length < rows.length * window) {
    throw new RangeError(`sample: pack buffers too small for ${rows.length} rows`);
  }
  const view = new DataView(params);
  rows.forEach((r, i) => {
    const o = i * SAMPLE_PARAMS_BYTES;
    const L = SAMPLE_PARAMS_LAYOUT;
    const topK = r.topK ?? 0;
    const pen = r.repeatPenalty ?? 1;
    if (!isU32(topK)) throw new RangeError(`sample: row ${i} top_k ${topK} is not a u32`);
    if (!(pen > 0)) throw new RangeError(`sample: row ${i} repeat_penalty ${pen} must be > 0`);
    if (!isU32(r.counter)) throw new RangeError(`sample: row ${i} counter ${r.counter} is not a u32`);
    const [lo, hi] = splitSeed(r.seed);
    const hist = r.recent ?? [];
    const n = Math.min(hist.length, window);
    for (let j = 0; j < n; j++) {
      const t = hist[hist.length - n + j]!;
      if (!isU32(t)) throw new RangeError(`sample: row ${i} recent token ${t} is not a u32`);
      recent[i * window + j] = t;
    }
    view.setFloat32(o + L.temperature, r.temperature, true);
    view.setUint32(o + L.top_k, topK, true);
    view.setFloat32(o + L.top_p, r.topP ?? 1, true);
    view.setFloat32(o + L.min_p, r.minP ?? 0, true);
    view.setFloat32(o + L.repeat_penalty, pen, true);
    view.setUint32(o + L.seed_lo, lo, true);
    view.setUint32(o + L.seed_hi, hi, true);
    view.setUint32(o + L.counter, r.counter, true);
    view.setUint32(o + L.n_recent, n, true);
    for (let b = 36; b < SAMPLE_PARAMS_BYTES; b += 4) view.setUint32(o + b, 0, true);
  });
  return { params, recent };
}

/** PCG-RXS-M-XS 32-bit hash, as `pcg` in shaders/sample.wgsl. */
export function pcgHash(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The uniform in [0, 1) the GPU draws for (seed, counter): 24 bits, exactly representable in f32. */
export function sampleUniform(seed: number | bigint, counter: number): number {
  const [lo, hi] = splitSeed(seed);
  return (pcgHash((lo ^ pcgHash((hi ^ pcgHash(counter)) >>> 0)) >>> 0) >>> 8) / 16777216;
}

export interface SampleLogprobs {
  /** Log-probability of the chosen token (full-vocab log-softmax of penalised logits / T). */
  logprob: number;
  /** The best `top` tokens of the same distribution, best first (ties: smaller id first). */
  top: { id: number; logprob: number }[];
}

/** Decodes the LOGPROBS output buffer ([rows, 1 + 2 * top] 32-bit words). */
export function decodeSampleLogprobs(data: ArrayBuffer, rows: number, top: number): SampleLogprobs[] {
  const stride = 1 + 2 * top;
  const f = new Float32Array(data, 0, rows * stride);
  const u = new Uint32Array(data, 0, rows * stride);
  const out: SampleLogprobs[] = [];
  for (let r = 0; r < rows; r++) {
    const o = r * stride;
    const alts = Array.from({ length: top }, (_, j) => ({ id: u[o + 1 + j]!, logprob: f[o + 1 + top + j]! }));
    out.push({ logprob: f[o]!, top: alts });
  }
  return out;
}

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(n, 1)));
}

export class SampleKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: SampleShape) {}

  /** 32-bit words per row in the logprobs buffer (0 without the LOGPROBS variant). */
  get logprobWords(): number {
    return this.shape.logprobs ? 1 + 2 * this.shape.logprobs.top : 0;
  }

  static spec(s: SampleShape): PipelineSpec {
    const constants: Record<string, number> = {
      VOCAB: s.vocab,
      WINDOW: s.window,
      HT: Math.max(2, nextPow2(2 * s.window)),
      CAP: s.candidates ?? 256,
      WG: s.workgroupSize ?? 256,
      ROWS_FROM_OUT: rowsFromOut(s.rows ?? 'out'),
    };
    if (s.logprobs) constants['TOP'] = s.logprobs.top;
    return { shader: 'sample', defines: s.logprobs ? ['LOGPROBS'] : [], constants };
  }

  static async create(cache: PipelineCache, s: SampleShape): Promise<SampleKernel> {
    const cap = s.candidates ?? 256;
    if (!Number.isInteger(s.vocab) || s.vocab <= 0) throw new RangeError(`sample: bad vocab ${s.vocab}`);
    if (!Number.isInteger(s.window) || s.window < 1 || s.window > 512) throw new RangeError(`sample: window ${s.window} not in 1..512`);
    if (!Number.isInteger(cap) || cap < 2 || cap > 512 || nextPow2(cap) !== cap) throw new RangeError(`sample: candidates ${cap} must be a power of two in 2..512`);
    const wg = s.workgroupSize ?? 256;
    if (![16, 32, 64, 128, 256].includes(wg)) throw new RangeError(`sample: workgroupSize ${wg} must be 16, 32, 64, 128 or 256`);
    const top = s.logprobs?.top;
    if (top !== undefined && (!Number.isInteger(top) || top < 0 || top > Math.min(MAX_LOGPROBS, cap, s.vocab))) {
      throw new RangeError(`sample: logprobs.top ${top} must be in 0..${Math.min(MAX_LOGPROBS, cap, s.vocab)}`);
    }
    const spec = SampleKernel.spec(s);
    return new SampleKernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform; logits: [rows, vocab] f32; params: [rows] x 48 B (packSampleParams);
   * recent: [rows, window] u32; ids: [rows] u32; logprobs: [rows, logprobWords] u32/f32 words,
   * required exactly when the shape has `logprobs`. Returns a function giving the op for a step
   * with `rows` rows; the bind group is made once here.
   */
  bind(
    gpu: GpuContext,
    label: string,
    io: { step: GPUBuffer; logits: GPUBuffer; params: GPUBuffer; recent: GPUBuffer; ids: GPUBuffer; logprobs?: GPUBuffer },
  ): (rows: number) => Op {
    if (!!io.logprobs !== !!this.shape.logprobs) {
      throw new RangeError(`sample: a logprobs buffer must be bound ${this.shape.logprobs ? 'with' : 'only with'} the logprobs variant`);
    }
    const opLabel = `${label} ${this.key}`;
    const buffers = [io.step, io.logits, io.params, io.recent, io.ids, ...(io.logprobs ? [io.logprobs] : [])];
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, buffers);
    return (rows) => {
      if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`sample: bad row count ${rows}`);
      if (rows * this.shape.vocab > 0xffffffff) throw new RangeError(`sample: ${rows}x${this.shape.vocab} logits overflow the u32 index`);
      return { label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: grid1d(rows) };
    };
  }
}
