// Greedy choice per logits row: ids[r] = first index of the row maximum. See shaders/argmax.wgsl.
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { rowsFromOut, type RowSource } from '../step.js';

export interface ArgmaxShape {
  vocab: number;
  /** Which step count gives the row count; logits rows are normally n_out (the default). */
  rows?: RowSource;
}

export class ArgmaxKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: ArgmaxShape) {}

  static spec(s: ArgmaxShape): PipelineSpec {
    return { shader: 'argmax', constants: { VOCAB: s.vocab, ROWS_FROM_OUT: rowsFromOut(s.rows ?? 'out') } };
  }

  static async create(cache: PipelineCache, s: ArgmaxShape): Promise<ArgmaxKernel> {
    if (!Number.isInteger(s.vocab) || s.vocab <= 0) throw new RangeError(`argmax: bad vocab ${s.vocab}`);
    const spec = ArgmaxKernel.spec(s);
    return new ArgmaxKernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform; logits: [rows, vocab] f32; ids: [rows] u32 (4 bytes per row to read back).
   * Returns a function giving the op for a step with `rows` rows; the bind group is made once here.
   */
  bind(gpu: GpuContext, label: string, io: { step: GPUBuffer; logits: GPUBuffer; ids: GPUBuffer }): (rows: number) => Op {
    const opLabel = `${label} ${this.key}`;
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, io.logits, io.ids]);
    return (rows) => {
      if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`argmax: bad row count ${rows}`);
      if (rows * this.shape.vocab > 0xffffffff) throw new RangeError(`argmax: ${rows}x${this.shape.vocab} logits overflow the u32 index`);
      return { label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: grid1d(rows) };
    };
  }
}
