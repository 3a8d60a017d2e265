// Token embedding lookup from a table kept in its compact GGUF form (any GPU weight type),
// dequantized exactly. See shaders/embedding.wgsl.
import { GGMLType, ggmlTypeName } from '../../model/dtypes.js';
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';

const WG = 64; // threads per workgroup (one workgroup per token)

const TYPE_DEFINE: Record<number, string> = {
  [GGMLType.F32]: 'F32',
  [GGMLType.F16]: 'F16',
  [GGMLType.BF16]: 'BF16',
  [GGMLType.Q8_0]: 'Q8_0',
  [GGMLType.Q4_0]: 'Q4_0',
};

export interface EmbeddingShape {
  /** GGML type id of the table: F32, F16, BF16, Q8_0 or Q4_0. */
  dtype: number;
  /** Row length (ggml dims[0]); a multiple of 32 for Q8_0 / Q4_0. */
  dim: number;
  /** Rows of the whole table (ggml dims[1]). */
  vocab: number;
  /** For a table split by rows: the first row this part holds. Default 0. */
  rowStart?: number;
  /** Rows in this part. Default vocab - rowStart. */
  rowCount?: number;
}

export interface EmbeddingIO {
  step: GPUBuffer;
  /** [n_tokens] u32 token ids */
  tokens: GPUBuffer;
  /** [rowCount, dim] raw GGUF bytes of the table (part) */
  table: GPUBuffer;
  /** [n_tokens, dim] f32 out; a part writes only the rows of tokens it holds */
  out: GPUBuffer;
}

function rowBytes(dtype: number, dim: number): number {
  if (dtype === GGMLType.F32) return 4 * dim;
  if (dtype === GGMLType.F16 || dtype === GGMLType.BF16) return 2 * dim;
  return (dim / 32) * (dtype === GGMLType.Q8_0 ? 34 : 18);
}

export class EmbeddingKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: Required<EmbeddingShape>) {}

  static resolve(s: EmbeddingShape): Required<EmbeddingShape> {
    const what = `embedding[${ggmlTypeName(s.dtype)}] dim=${s.dim}`;
    if (!TYPE_DEFINE[s.dtype]) throw new RangeError(`${what}: table type ${ggmlTypeName(s.dtype)} is not supported (supported: ${Object.values(TYPE_DEFINE).join(', ')})`);
    const blocky = s.dtype === GGMLType.Q8_0 || s.dtype === GGMLType.Q4_0;
    const int = (v: number, min: number) => Number.isInteger(v) && v >= min;
    if (!int(s.dim, 1) || (blocky && s.dim % 32 !== 0)) throw new RangeError(`${what}: dim must be a positive integer${blocky ? ' and a multiple of 32' : ''}`);
    const rowStart = s.rowStart ?? 0;
    const rowCount = s.rowCount ?? s.vocab - rowStart;
    if (!int(s.vocab, 1) || !int(rowStart, 0) || !int(rowCount, 1) || rowStart + rowCount > s.vocab) {
      throw new RangeError(`${what}: rows ${rowStart} .. ${rowStart + rowCount} are not inside the vocab of ${s.vocab}`);
    }
    if (rowCount * rowBytes(s.dtype, s.dim) > 2 ** 32 - 64) throw new RangeError(`${what}: table part over 4 GiB; split it by rows`);
    return { dtype: s.dtype, dim: s.dim, vocab: s.vocab, rowStart, rowCount };
  }

  static spec(s: EmbeddingShape): PipelineSpec {
    const r = EmbeddingKernel.resolve(s);
    const constants: Record<string, number> = { DIM: r.dim, ROW_COUNT: r.rowCount, WG };
    if (r.rowStart) constants.ROW_START = r.rowStart;
    return { shader: 'embedding', defines: [TYPE_DEFINE[r.dtype]!], constants };
  }

  static async create(cache: PipelineCache, s: EmbeddingShape): Promise<EmbeddingKernel> {
    const spec = EmbeddingKernel.spec(s);
    return new EmbeddingKernel(pipelineKey(spec), await cache.get(spec), EmbeddingKernel.resolve(s));
  }

  /**
   * step: Step uniform (n_tokens); tokens: [n_tokens] u32; table: [rowCount, dim] raw; out: [n_tokens, dim] f32.
   * Returns a function giving the op for a step with `rows` tokens; the bind group is made once here.
   */
  bind(gpu: GpuContext, label: string, io: EmbeddingIO): (rows: number) => Op {
    const s = this.shape;
    const opLabel = `${label} ${this.key}`;
    const need = s.rowCount * rowBytes(s.dtype, s.dim);
    if (io.table.size < need) throw new RangeError(`${opLabel}: table buffer has ${io.table.size} bytes, needs ${need} (${s.rowCount} rows of ${s.dim} ${ggmlTypeName(s.dtype)})`);
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, io.tokens, io.table, io.out]);
    return (rows) => {
      if (!(Number.isInteger(rows) && rows >= 0)) throw new RangeError(`${opLabel}: bad rows ${rows}`);
      if (rows * s.dim * 4 > io.out.size) throw new RangeError(`${opLabel}: ${rows} rows of ${s.dim} f32 don't fit the ${io.out.size}-byte output`);
      return { label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: grid1d(rows) };
    };
  }
}
