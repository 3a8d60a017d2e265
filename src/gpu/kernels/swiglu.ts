// SwiGLU: out = silu(gate) * up over [rows, ffnDim] f32, out of place or in place (out === gate),
// bit-exact with llama.cpp's x86 build (AVX-512 exp polynomial on each row's 16-wide part, expf on
// its tail). See shaders/swiglu.wgsl.
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { rowsFromOut, type RowSource } from '../step.js';

/** Which exp silu uses: 'avx512' (default) is llama.cpp's x86 ggml_vec_swiglu_f32 (ggml_v_expf's
 *  AVX-512 polynomial on runs of 16, expf on a row's tail), the oracle's 'llamacpp' mode; 'expf'
 *  is the correctly rounded expf everywhere (the scalar C code, the oracle's 'f32' mode). */
export type SwigluExp = 'avx512' | 'expf';

export interface SwigluShape {
  ffnDim: number;
  /** Which step count gives the row count; default 'tokens'. */
  rows?: RowSource;
  /** Default 'avx512'. */
  exp?: SwigluExp;
}

/** Workgroup width of the element-wise kernels (swiglu, add, gather_rows). */
export const ELEMENTWISE_WG = 256;

/** Dispatch for rows x cols elements, one invocation each, split over x/y under the 65535 limit. */
export function elementwiseDispatch(kernel: string, rows: number, cols: number): [number, number, number] {
  if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`${kernel}: bad row count ${rows}`);
  const elems = rows * cols;
  if (elems > 0xffffffff) throw new RangeError(`${kernel}: ${rows}x${cols} elements overflow the u32 index`);
  return grid1d(Math.ceil(elems / ELEMENTWISE_WG));
}

export class SwigluKernel {
  private constructor(
    readonly key: string,
    readonly keyInPlace: string,
    private readonly pipeline: GPUComputePipeline,
    private readonly pipelineInPlace: GPUComputePipeline,
    readonly shape: SwigluShape,
  ) {}

  static spec(s: SwigluShape, inPlace = false): PipelineSpec {
    const defines = inPlace ? ['IN_PLACE'] : [];
    if (s.exp === 'expf') defines.push('EXPF');
    return { shader: 'swiglu', defines, constants: { FFN: s.ffnDim, ROWS_FROM_OUT: rowsFromOut(s.rows ?? 'tokens') } };
  }

  /** Compiles both variants (they are tiny); bind() picks one by whether out aliases gate. */
  static async create(cache: PipelineCache, s: SwigluShape): Promise<SwigluKernel> {
    if (!Number.isInteger(s.ffnDim) || s.ffnDim <= 0) throw new RangeError(`swiglu: bad ffnDim ${s.ffnDim}`);
    if (s.exp !== undefined && s.exp !== 'avx512' && s.exp !== 'expf') throw new RangeError(`swiglu: unknown exp ${String(s.exp)}`);
    const [a, b] = [SwigluKernel.spec(s), SwigluKernel.spec(s, true)];
    const [pa, pb] = await Promise.all([cache.get(a), cache.get(b)]);
    return new SwigluKernel(pipelineKey(a), pipelineKey(b), pa, pb, s);
  }

  /**
   * step: Step uniform; gate, up: [rows, ffnDim] f32; out: [rows, ffnDim] f32, either a separate
   * buffer or gate itself (in place; omitted means in place). out may not alias up.
   * Returns a function giving the op for a step with `rows` rows; the bind group is made once here.
   */
  bind(gpu: GpuContext, label: string, io: { step: GPUBuffer; gate: GPUBuffer; up: GPUBuffer; out?: GPUBuffer }): (rows: number) => Op {
    if (io.out === io.up || io.gate === io.up) throw new RangeError('swiglu: up may not alias gate or out');
    const inPlace = !io.out || io.out === io.gate;
    const pipeline = inPlace ? this.pipelineInPlace : this.pipeline;
    const opLabel = `${label} ${inPlace ? this.keyInPlace : this.key}`;
    const buffers = inPlace ? [io.step, io.gate, io.up] : [io.step, io.gate, io.up, io.out!];
    const bindGroup = gpu.createBindGroup(opLabel, pipeline, buffers);
    return (rows) => ({ label: opLabel, pipeline, bindGroup, dispatch: elementwiseDispatch('swiglu', rows, this.shape.ffnDim) });
  }
}
