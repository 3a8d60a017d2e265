// Residual add in place: y += x over [rows, dim] f32. See shaders/add.wgsl.
import type { GpuContext } from '../context.js';
import type { Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { rowsFromOut, type RowSource } from '../step.js';
import { elementwiseDispatch } from './swiglu.js';

export interface AddShape {
  dim: number;
  /** Which step count gives the row count; default 'tokens'. */
  rows?: RowSource;
}

export class AddKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: AddShape) {}

  static spec(s: AddShape): PipelineSpec {
    return { shader: 'add', constants: { DIM: s.dim, ROWS_FROM_OUT: rowsFromOut(s.rows ?? 'tokens') } };
  }

  static async create(cache: PipelineCache, s: AddShape): Promise<AddKernel> {
    if (!Number.isInteger(s.dim) || s.dim <= 0) throw new RangeError(`add: bad dim ${s.dim}`);
    const spec = AddKernel.spec(s);
    return new AddKernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform; x: [rows, dim] f32 (read); y: [rows, dim] f32, updated in place (not x).
   * Returns a function giving the op for a step with `rows` rows; the bind group is made once here.
   */
  bind(gpu: GpuContext, label: string, io: { step: GPUBuffer; x: GPUBuffer; y: GPUBuffer }): (rows: number) => Op {
    if (io.x === io.y) throw new RangeError('add: x may not alias y (use a scale kernel to double a tensor)');
    const opLabel = `${label} ${this.key}`;
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, io.x, io.y]);
    return (rows) => ({ label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: elementwiseDispatch('add', rows, this.shape.dim) });
  }
}
