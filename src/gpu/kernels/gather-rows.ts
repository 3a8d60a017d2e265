// Row gather: dst[j, :] = src[idx[j], :] for j < n_out (the rows that need logits).
// See shaders/gather_rows.wgsl.
import type { GpuContext } from '../context.js';
import type { Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { elementwiseDispatch } from './swiglu.js';

export interface GatherRowsShape {
  dim: number;
}

export class GatherRowsKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: GatherRowsShape) {}

  static spec(s: GatherRowsShape): PipelineSpec {
    return { shader: 'gather_rows', constants: { DIM: s.dim } };
  }

  static async create(cache: PipelineCache, s: GatherRowsShape): Promise<GatherRowsKernel> {
    if (!Number.isInteger(s.dim) || s.dim <= 0) throw new RangeError(`gather_rows: bad dim ${s.dim}`);
    const spec = GatherRowsKernel.spec(s);
    return new GatherRowsKernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform (n_tokens rows in src, n_out in idx/dst); src: [n_tokens, dim] f32;
   * idx: [n_out] u32 row numbers; dst: [n_out, dim] f32 (not src). An index >= n_tokens gives a
   * zero row. The returned function takes the step's n_out; the bind group is made once here.
   */
  bind(gpu: GpuContext, label: string, io: { step: GPUBuffer; src: GPUBuffer; idx: GPUBuffer; dst: GPUBuffer }): (nOut: number) => Op {
    if (io.dst === io.src) throw new RangeError('gather_rows: dst may not alias src');
    const opLabel = `${label} ${this.key}`;
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, io.src, io.idx, io.dst]);
    return (nOut) => ({ label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: elementwiseDispatch('gather_rows', nOut, this.shape.dim) });
  }
}
