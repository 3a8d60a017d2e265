// Writes a step's K/V rows into one layer's paged KV cache. See shaders/kv_write.wgsl.
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';

const WG = 64; // kv_write.wgsl workgroup size

/** The paged KV cache layout shared by kv_write and attention. */
export interface PagedKvShape {
  headDim: number;
  nKvHeads: number;
  /** Tokens per page. */
  pageSize: number;
  /** Columns of the page table: logical pages a sequence can hold (context <= pageSize * this). */
  maxPagesPerSeq: number;
  /** f16 packed 2 per u32 (llama.cpp's default cache type) instead of f32. */
  kvF16: boolean;
}

/** Bytes of one page of K (or of V): pageSize * nKvHeads * headDim elements. */
export function kvPageBytes(s: PagedKvShape): number {
  return s.pageSize * s.nKvHeads * s.headDim * (s.kvF16 ? 2 : 4);
}

/** Throws unless the shape is one the paged-KV kernels support. */
export function checkPagedKvShape(what: string, s: PagedKvShape): void {
  const posInt = (n: number) => Number.isInteger(n) && n > 0;
  if (!posInt(s.headDim) || s.headDim % 2 !== 0) throw new RangeError(`${what}: headDim ${s.headDim} must be even and > 0`);
  if (!posInt(s.nKvHeads)) throw new RangeError(`${what}: bad nKvHeads ${s.nKvHeads}`);
  if (!posInt(s.pageSize)) throw new RangeError(`${what}: bad pageSize ${s.pageSize}`);
  if (!posInt(s.maxPagesPerSeq)) throw new RangeError(`${what}: bad maxPagesPerSeq ${s.maxPagesPerSeq}`);
}

/** Throws unless the cache buffers hold a whole number (>= 1) of pages and the page table whole rows. */
export function checkPagedKvBuffers(what: string, s: PagedKvShape, io: { pageTable: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer }): void {
  const page = kvPageBytes(s);
  for (const [name, b] of [['kCache', io.kCache], ['vCache', io.vCache]] as const) {
    if (b.size < page || b.size % page !== 0) throw new RangeError(`${what}: ${name} is ${b.size} bytes, not a whole number of ${page}-byte pages`);
  }
  if (io.kCache.size !== io.vCache.size) throw new RangeError(`${what}: kCache (${io.kCache.size} B) and vCache (${io.vCache.size} B) differ`);
  if (io.pageTable.size < s.maxPagesPerSeq * 4) throw new RangeError(`${what}: pageTable of ${io.pageTable.size} bytes holds no row of ${s.maxPagesPerSeq} pages`);
}

export function pagedKvConstants(s: PagedKvShape): Record<string, number> {
  return { HEAD_DIM: s.headDim, N_KV_HEADS: s.nKvHeads, PAGE_SIZE: s.pageSize, MAX_PAGES_PER_SEQ: s.maxPagesPerSeq };
}

export class KvWriteKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: PagedKvShape) {}

  static spec(s: PagedKvShape): PipelineSpec {
    return { shader: 'kv_write', defines: s.kvF16 ? ['KV_F16'] : [], constants: pagedKvConstants(s) };
  }

  static async create(cache: PipelineCache, s: PagedKvShape): Promise<KvWriteKernel> {
    checkPagedKvShape('kv_write', s);
    const spec = KvWriteKernel.spec(s);
    return new KvWriteKernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform (n_tokens rows); k, v: [n_tokens, nKvHeads*headDim] f32 (after RoPE on k);
   * positions, slots: [n_tokens] u32; pageTable: [maxSeqs, maxPagesPerSeq] u32;
   * kCache, vCache: [numPages, pageSize, nKvHeads, headDim] f16-pairs-in-u32 or f32.
   * Rows whose slot/page is out of range write nothing. The bind group is made once here.
   */
  bind(
    gpu: GpuContext,
    label: string,
    io: { step: GPUBuffer; k: GPUBuffer; v: GPUBuffer; positions: GPUBuffer; slots: GPUBuffer; pageTable: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer },
  ): (nTokens: number) => Op {
    checkPagedKvBuffers(`kv_write ${label}`, this.shape, io);
    const opLabel = `${label} ${this.key}`;
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, io.k, io.v, io.positions, io.slots, io.pageTable, io.kCache, io.vCache]);
    const s = this.shape;
    const words = (s.nKvHeads * s.headDim) / (s.kvF16 ? 2 : 1); // threads per token row
    return (nTokens) => ({ label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: grid1d(Math.ceil((nTokens * words) / WG)) });
  }
}
