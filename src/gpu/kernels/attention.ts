// Causal GQA attention for a ragged batch over the paged KV cache. See shaders/attention.wgsl.
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { checkPagedKvBuffers, checkPagedKvShape, pagedKvConstants, type PagedKvShape } from './kv-write.js';

/** attention.wgsl keeps q and the accumulator (2 * headDim words), 2 KB of exp table and 4 words per
 *  thread in workgroup memory: at most 14 KB, under the 16 KB every device offers. */
export const ATTENTION_MAX_HEAD_DIM = 1024;

export interface AttentionShape extends PagedKvShape {
  /** Query heads; a multiple of nKvHeads (GQA group = nHeads / nKvHeads). */
  nHeads: number;
  /** f16 cache only: emulate llama.cpp's CPU flash attention bit for bit (default true). false uses a
   *  plain online softmax with f32 accumulation: faster, but only close to llama.cpp. */
  flash?: boolean;
  /** Threads per workgroup, which is also the positions scored per chunk: 1..256, default 64. Smaller
   *  sizes suit software adapters (SwiftShader runs every SIMD-4 group through all the code). */
  workgroupSize?: number;
}

/** The score scale as llama.cpp computes it, 1.0f / sqrtf(headDim) in f32 (both steps correctly
 *  rounded; the double quotient rounded to f32 is the f32 quotient). */
export function attentionScale(headDim: number): number {
  return Math.fround(1 / Math.fround(Math.sqrt(headDim)));
}

export class AttentionKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: AttentionShape) {}

  static spec(s: AttentionShape): PipelineSpec {
    const defines = s.kvF16 ? (s.flash === false ? ['KV_F16'] : ['KV_F16', 'FLASH']) : [];
    const constants: Record<string, number> = { ...pagedKvConstants(s), N_HEADS: s.nHeads, SCALE: attentionScale(s.headDim) };
    if (s.workgroupSize !== undefined) constants.WG = s.workgroupSize;
    return { shader: 'attention', defines, constants };
  }

  static async create(cache: PipelineCache, s: AttentionShape): Promise<AttentionKernel> {
    checkPagedKvShape('attention', s);
    if (s.headDim > ATTENTION_MAX_HEAD_DIM) throw new RangeError(`attention: headDim ${s.headDim} > ${ATTENTION_MAX_HEAD_DIM}`);
    if (!(Number.isInteger(s.nHeads) && s.nHeads > 0 && s.nHeads % s.nKvHeads === 0)) {
      throw new RangeError(`attention: nHeads ${s.nHeads} must be a positive multiple of nKvHeads ${s.nKvHeads}`);
    }
    const wg = s.workgroupSize;
    if (wg !== undefined && !(Number.isInteger(wg) && wg >= 1 && wg <= 256)) throw new RangeError(`attention: workgroupSize ${wg} must be an integer in 1..256`);
    const spec = AttentionKernel.spec(s);
    return new AttentionKernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform (n_tokens rows); q: [n_tokens, nHeads*headDim] f32 (after RoPE);
   * positions, slots: [n_tokens] u32; pageTable: [maxSeqs, maxPagesPerSeq] u32;
   * kCache, vCache: [numPages, pageSize, nKvHeads, headDim] f16-pairs-in-u32 or f32, already holding
   * this step's rows (kv_write first); out: [n_tokens, nHeads*headDim] f32 (not aliasing q).
   * The bind group is made once here; the result gives the op for nTokens rows.
   */
  bind(
    gpu: GpuContext,
    label: string,
    io: { step: GPUBuffer; q: GPUBuffer; positions: GPUBuffer; slots: GPUBuffer; pageTable: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; out: GPUBuffer },
  ): (nTokens: number) => Op {
    checkPagedKvBuffers(`attention ${label}`, this.shape, io);
    const opLabel = `${label} ${this.key}`;
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, io.q, io.positions, io.slots, io.pageTable, io.kCache, io.vCache, io.out]);
    const heads = this.shape.nHeads;
    return (nTokens) => ({ label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: grid1d(nTokens * heads) });
  }
}
