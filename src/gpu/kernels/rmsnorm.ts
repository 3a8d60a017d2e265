// RMSNorm over rows of [rows, dim] f32, bit-exact with llama.cpp's CPU rounding (double sum of
// squares, f32 mean, IEEE sqrtf and division; test/reference/ops.ts rmsnorm). See shaders/rmsnorm.wgsl.
// eps is an f32 override constant, as ggml's op parameter is a float.
import type { GpuContext } from '../context.js';
import type { Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { rowsFromOut, type RowSource } from '../step.js';

export interface RmsNormShape {
  dim: number;
  eps: number;
  rows: RowSource;
}

export class RmsNormKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: RmsNormShape) {}

  static spec(s: RmsNormShape): PipelineSpec {
    return { shader: 'rmsnorm', constants: { DIM: s.dim, EPS: s.eps, ROWS_FROM_OUT: rowsFromOut(s.rows) } };
  }

  static async create(cache: PipelineCache, s: RmsNormShape): Promise<RmsNormKernel> {
    if (!(s.dim > 0)) throw new RangeError(`rmsnorm: bad dim ${s.dim}`);
    const spec = RmsNormKernel.spec(s);
    return new RmsNormKernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform; x: [rows, dim] f32; w: [dim] f32; y: [rows, dim] f32 (not aliasing x).
   * Returns a function giving the op for a step with `rows` rows; the bind group is made once here.
   */
  bind(gpu: GpuContext, label: string, io: { step: GPUBuffer; x: GPUBuffer; w: GPUBuffer; y: GPUBuffer }): (rows: number) => Op {
    const bindGroup = gpu.createBindGroup(`${label} ${this.key}`, this.pipeline, [io.step, io.x, io.w, io.y]);
    const opLabel = `${label} ${this.key}`;
    return (rows) => ({ label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: [rows, 1, 1] });
  }
}
