// RoPE (ggml rope mode 0: adjacent pairs) in place on [n_tokens, heads, headDim] f32, reading
// cos/sin from a CPU-built table. See shaders/rope.wgsl.
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';

const WG = 64; // rope.wgsl workgroup size

export interface RopeShape {
  headDim: number;
  /** Heads in the tensor being rotated: nHeads for q, nKvHeads for k (one pipeline each). */
  nHeads: number;
  /** Rotated dims per head (llama: = headDim); even and <= headDim. */
  ropeDim: number;
}

/**
 * The cos/sin table [maxPositions, ropeDim/2, 2] f32, computed as ggml's CPU rope cache
 * (ggml_rope_cache_init with freq_scale 1, no YaRN, no freq factors):
 * theta_scale = powf(freq_base, -2.0f/n_dims); theta = (float)pos, multiplied by theta_scale in
 * f32 for each pair; cos/sin of that f32 theta, rounded to f32.
 */
export function buildRopeTable(ropeDim: number, freqBase: number, maxPositions: number): Float32Array {
  if (!(ropeDim > 0 && ropeDim % 2 === 0)) throw new RangeError(`rope table: ropeDim ${ropeDim} must be even and > 0`);
  if (!(maxPositions > 0 && Number.isInteger(maxPositions))) throw new RangeError(`rope table: bad maxPositions ${maxPositions}`);
  if (!(freqBase > 0)) throw new RangeError(`rope table: bad freqBase ${freqBase}`);
  const f = Math.fround;
  const half = ropeDim / 2;
  const thetaScale = f(Math.pow(f(freqBase), f(-2 / ropeDim)));
  const out = new Float32Array(maxPositions * ropeDim);
  for (let p = 0; p < maxPositions; p++) {
    let theta = f(p);
    for (let i = 0; i < half; i++) {
      out[(p * half + i) * 2] = Math.cos(theta);
      out[(p * half + i) * 2 + 1] = Math.sin(theta);
      theta = f(theta * thetaScale);
    }
  }
  return out;
}

export class RopeKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: RopeShape) {}

  static spec(s: RopeShape): PipelineSpec {
    return { shader: 'rope', constants: { HEAD_DIM: s.headDim, N_HEADS: s.nHeads, ROPE_DIM: s.ropeDim } };
  }

  static async create(cache: PipelineCache, s: RopeShape): Promise<RopeKernel> {
    if (!(s.headDim > 0 && s.headDim % 2 === 0)) throw new RangeError(`rope: headDim ${s.headDim} must be even and > 0`);
    if (!(s.nHeads > 0)) throw new RangeError(`rope: bad nHeads ${s.nHeads}`);
    if (!(s.ropeDim > 0 && s.ropeDim % 2 === 0 && s.ropeDim <= s.headDim)) {
      throw new RangeError(`rope: ropeDim ${s.ropeDim} must be even, > 0 and <= headDim ${s.headDim}`);
    }
    const spec = RopeKernel.spec(s);
    return new RopeKernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform (n_tokens rows); x: [n_tokens, nHeads, headDim] f32, rotated in place;
   * positions: [n_tokens] u32; table: buildRopeTable(ropeDim, base, maxPositions) (positions past
   * its end produce NaN). The bind group is made once here; the result gives the op for nTokens rows.
   */
  bind(gpu: GpuContext, label: string, io: { step: GPUBuffer; x: GPUBuffer; positions: GPUBuffer; table: GPUBuffer }): (nTokens: number) => Op {
    if (io.table.size < this.shape.ropeDim * 4) throw new RangeError(`rope ${label}: table of ${io.table.size} bytes holds no position`);
    const opLabel = `${label} ${this.key}`;
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, io.x, io.positions, io.table]);
    const perToken = this.shape.nHeads * (this.shape.ropeDim / 2);
    return (nTokens) => ({ label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: grid1d(Math.ceil((nTokens * perToken) / WG)) });
  }
}
