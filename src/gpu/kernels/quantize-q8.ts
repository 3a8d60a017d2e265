// Activation quantization to Q8_0 (llama.cpp's quantize_row_q8_0), feeding the Q8_0 / Q4_0
// matmuls. See shaders/quantize_q8.wgsl. Default flavour: llama.cpp's x86 SIMD quantizer.
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { rowsFromOut, type RowSource } from '../step.js';

const WG = 64; // threads per workgroup; one thread per 32-block

/** Which C code to reproduce: 'x86' (default) is quantize_row_q8_0's AVX / AVX2 / AVX-512 path
 *  (id = 127 / amax, round half to even), what llama.cpp's x86 builds run; 'generic' is the scalar
 *  quantize_row_q8_0_ref (id = 1 / d, roundf). Same as test/reference/quant.ts ActQuantFlavor. */
export type Q8Flavor = 'x86' | 'generic';

export interface QuantizeQ8Shape {
  /** Row length; a multiple of 32. */
  k: number;
  rows: RowSource;
  /** Default 'x86'. */
  flavor?: Q8Flavor;
}

export interface QuantizeQ8IO {
  step: GPUBuffer;
  /** [rows, k] f32 */
  x: GPUBuffer;
  /** [rows, k/4] u32 out: 4 int8 per word, little-endian */
  xq: GPUBuffer;
  /** [rows, k/32] f32 out: block scales, rounded to f16 */
  xd: GPUBuffer;
}

export class QuantizeQ8Kernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: QuantizeQ8Shape) {}

  static spec(s: QuantizeQ8Shape): PipelineSpec {
    const flavor = s.flavor ?? 'x86';
    return { shader: 'quantize_q8', defines: flavor === 'generic' ? ['GENERIC'] : [], constants: { K: s.k, ROWS_FROM_OUT: rowsFromOut(s.rows), WG } };
  }

  static async create(cache: PipelineCache, s: QuantizeQ8Shape): Promise<QuantizeQ8Kernel> {
    if (!(Number.isInteger(s.k) && s.k > 0 && s.k % 32 === 0)) throw new RangeError(`quantize_q8: k ${s.k} must be a positive multiple of 32`);
    if (s.flavor !== undefined && s.flavor !== 'x86' && s.flavor !== 'generic') throw new RangeError(`quantize_q8: unknown flavor ${String(s.flavor)}`);
    const spec = QuantizeQ8Kernel.spec(s);
    return new QuantizeQ8Kernel(pipelineKey(spec), await cache.get(spec), s);
  }

  /**
   * step: Step uniform; x: [rows, k] f32; xq: [rows, k/4] u32; xd: [rows, k/32] f32.
   * Returns a function giving the op for a step with `rows` rows; the bind group is made once here.
   */
  bind(gpu: GpuContext, label: string, io: QuantizeQ8IO): (rows: number) => Op {
    const opLabel = `${label} ${this.key}`;
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, io.x, io.xq, io.xd]);
    const blocks = this.shape.k / 32;
    return (rows) => {
      if (!(Number.isInteger(rows) && rows >= 0)) throw new RangeError(`${opLabel}: bad rows ${rows}`);
      return { label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: grid1d(Math.ceil((rows * blocks) / WG)) };
    };
  }
}
