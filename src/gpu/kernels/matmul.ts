// y = x W^T against a weight kept in its compact GGUF form, one pipeline variant per weight type,
// bit-exact with llama.cpp's x86 CPU numerics as test/reference/ops.ts matmul(.., 'llamacpp')
// specifies them (F32: up to the oracle's double rounding). See shaders/matmul.wgsl (numerics,
// work split, bindings) and shaders/lib_dequant.wgsl (layouts, exact arithmetic).
import { GGMLType, ggmlTypeName } from '../../model/dtypes.js';
import type { GpuContext } from '../context.js';
import { grid1d, type Op } from '../ops.js';
import type { PipelineCache, PipelineSpec } from '../pipelines.js';
import { pipelineKey } from '../pipelines.js';
import { rowsFromOut, type RowSource } from '../step.js';

const WG = 64; // threads per workgroup (a power of two): WG / lanes output columns
const TT_MAX = 8; // matmul.wgsl TT_MAX: rows per workgroup

const TYPE_DEFINE: Record<number, string> = {
  [GGMLType.F32]: 'F32',
  [GGMLType.F16]: 'F16',
  [GGMLType.BF16]: 'BF16',
  [GGMLType.Q8_0]: 'Q8_0',
  [GGMLType.Q4_0]: 'Q4_0',
};

/** Weight types whose matmul reads Q8_0-quantized activations (run QuantizeQ8Kernel first). */
export function needsQ8Activations(dtype: number): boolean {
  return dtype === GGMLType.Q8_0 || dtype === GGMLType.Q4_0;
}

/** Bytes of one weight row of `k` elements. */
function rowBytes(dtype: number, k: number): number {
  switch (dtype) {
    case GGMLType.F32: return 4 * k;
    case GGMLType.F16: case GGMLType.BF16: return 2 * k;
    case GGMLType.Q8_0: return (k / 32) * 34;
    default: return (k / 32) * 18; // Q4_0
  }
}

export interface MatmulShape {
  /** GGML type id of the weight: F32, F16, BF16, Q8_0 or Q4_0. */
  dtype: number;
  /** Row length of W (ggml dims[0]) = columns of x. A multiple of 32 for Q8_0 / Q4_0. */
  k: number;
  /** Rows of W in this buffer (ggml dims[1], or this part's share of them). */
  n: number;
  /** Which step count gives the number of x rows. */
  rows: RowSource;
  /** Use dot4I8Packed (when gpu.features.dot4I8Packed); ignored for float weights. */
  dot4?: boolean;
  /** First y column this part writes (weights split by output rows). Default 0. */
  nOffset?: number;
  /** Row stride of y = total N over all parts. Default nOffset + n. */
  yStride?: number;
  /** x rows per workgroup, 1..8. Default 8. */
  tt?: number;
  /** Threads per output column, a power of two <= 64. Quantized weights: they split K's blocks
   *  (default about 4 per thread); float weights: they split the tile's rows (default 1). Results
   *  are the same for any lanes and tt (every sum is sequential in k). */
  lanes?: number;
}

/** Default lanes. Quantized weights: the largest power of two <= (k / 32) / 4 within 1..WG, about
 *  4 blocks per lane (the lanes share the integer dots of a column). Float weights: 1, each thread
 *  owning all of its column's rows (lanes would only split the rows, re-reading the weight row). */
function defaultLanes(dtype: number, k: number): number {
  if (!needsQ8Activations(dtype)) return 1;
  const units = k / 32;
  let lanes = 1;
  while (lanes * 2 <= Math.min(WG, units / 4)) lanes *= 2;
  return lanes;
}

export interface MatmulIO {
  step: GPUBuffer;
  /** [rows, k] f32; read by F32 / F16 / BF16 weights. */
  x?: GPUBuffer;
  /** [rows, k/4] u32 Q8_0 activation quants; read by Q8_0 / Q4_0 weights. */
  xq?: GPUBuffer;
  /** [rows, k/32] f32 Q8_0 activation scales; read by Q8_0 / Q4_0 weights. */
  xd?: GPUBuffer;
  /** [n, k] raw GGUF bytes of the weight (part). */
  w: GPUBuffer;
  /** [rows, yStride] f32 out; this kernel writes columns nOffset .. nOffset + n. */
  y: GPUBuffer;
}

type Resolved = Required<Omit<MatmulShape, 'rows'>> & { rows: RowSource };

export class MatmulKernel {
  private constructor(readonly key: string, private readonly pipeline: GPUComputePipeline, readonly shape: Resolved) {}

  static resolve(s: MatmulShape): Resolved {
    const name = TYPE_DEFINE[s.dtype];
    const what = `matmul[${ggmlTypeName(s.dtype)}] k=${s.k} n=${s.n}`;
    if (!name) throw new RangeError(`${what}: weight type ${ggmlTypeName(s.dtype)} has no matmul kernel (supported: ${Object.values(TYPE_DEFINE).join(', ')})`);
    const quant = needsQ8Activations(s.dtype);
    const r: Resolved = {
      dtype: s.dtype, k: s.k, n: s.n, rows: s.rows, dot4: quant && (s.dot4 ?? false),
      nOffset: s.nOffset ?? 0, yStride: s.yStride ?? (s.nOffset ?? 0) + s.n, tt: s.tt ?? TT_MAX, lanes: s.lanes ?? defaultLanes(s.dtype, s.k),
    };
    const int = (v: number, min: number) => Number.isInteger(v) && v >= min;
    if (!int(r.k, 1) || (quant && r.k % 32 !== 0)) throw new RangeError(`${what}: k must be a positive integer${quant ? ' and a multiple of 32' : ''}`);
    if (!int(r.n, 1)) throw new RangeError(`${what}: n must be a positive integer`);
    if (!int(r.nOffset, 0) || !int(r.yStride, 1) || r.nOffset + r.n > r.yStride) {
      throw new RangeError(`${what}: columns nOffset ${r.nOffset} + n ${r.n} exceed yStride ${r.yStride}`);
    }
    if (!int(r.tt, 1) || r.tt > TT_MAX) throw new RangeError(`${what}: tt ${r.tt} must be in 1..${TT_MAX}`);
    if (!int(r.lanes, 1) || r.lanes > WG || (r.lanes & (r.lanes - 1)) !== 0) throw new RangeError(`${what}: lanes ${r.lanes} must be a power of two in 1..${WG}`);
    // Flat element and byte indices are u32 in the shader.
    if (r.n * rowBytes(r.dtype, r.k) > 2 ** 32 - 64) throw new RangeError(`${what}: weight part over 4 GiB; split it by rows`);
    return r;
  }

  static spec(s: MatmulShape): PipelineSpec {
    const r = MatmulKernel.resolve(s);
    const defines = [TYPE_DEFINE[r.dtype]!];
    if (needsQ8Activations(r.dtype)) defines.push('QUANT');
    if (r.dot4) defines.push('DOT4');
    const constants: Record<string, number> = { K: r.k, N: r.n, Y_STRIDE: r.yStride, ROWS_FROM_OUT: rowsFromOut(r.rows), TT: r.tt, LANES: r.lanes, WG };
    if (r.nOffset) constants.N_OFFSET = r.nOffset;
    return { shader: 'matmul', defines, constants };
  }

  static async create(cache: PipelineCache, s: MatmulShape): Promise<MatmulKernel> {
    const spec = MatmulKernel.spec(s);
    return new MatmulKernel(pipelineKey(spec), await cache.get(spec), MatmulKernel.resolve(s));
  }

  get quantized(): boolean {
    return needsQ8Activations(this.shape.dtype);
  }

  /** Number of workgroups for `rows` x rows: column tiles x row tiles. */
  workgroups(rows: number): number {
    return Math.ceil(this.shape.n / (WG / this.shape.lanes)) * Math.ceil(rows / this.shape.tt);
  }

  /** The dispatch for `rows` x rows, spread over x and y past 65535 workgroups. */
  dispatch(rows: number): [number, number, number] {
    return grid1d(this.workgroups(rows));
  }

  /**
   * Quantized weights bind [step, xq, xd, w, y]; float weights bind [step, x, w, y] (see MatmulIO).
   * Returns a function giving the op for a step with `rows` x rows; the bind group is made once here.
   */
  bind(gpu: GpuContext, label: string, io: MatmulIO): (rows: number) => Op {
    const s = this.shape;
    const opLabel = `${label} ${this.key}`;
    const wBytes = s.n * rowBytes(s.dtype, s.k);
    if (io.w.size < wBytes) throw new RangeError(`${opLabel}: weight buffer has ${io.w.size} bytes, needs ${wBytes} (${s.n} rows of ${s.k} ${ggmlTypeName(s.dtype)})`);
    let inputs: GPUBuffer[];
    if (this.quantized) {
      if (!io.xq || !io.xd) throw new RangeError(`${opLabel}: ${ggmlTypeName(s.dtype)} weights need xq and xd (QuantizeQ8Kernel output)`);
      inputs = [io.xq, io.xd];
    } else {
      if (!io.x) throw new RangeError(`${opLabel}: ${ggmlTypeName(s.dtype)} weights need x`);
      inputs = [io.x];
    }
    const bindGroup = gpu.createBindGroup(opLabel, this.pipeline, [io.step, ...inputs, io.w, io.y]);
    const xRowBytes = this.quantized ? s.k : 4 * s.k; // xq holds k bytes per row
    return (rows) => {
      if (!(Number.isInteger(rows) && rows >= 0)) throw new RangeError(`${opLabel}: bad rows ${rows}`);
      if (rows * xRowBytes > inputs[0]!.size) throw new RangeError(`${opLabel}: ${rows} rows of input don't fit its ${inputs[0]!.size}-byte buffer`);
      if (rows * s.yStride * 4 > io.y.size) throw new RangeError(`${opLabel}: ${rows} rows of y (stride ${s.yStride}) don't fit its ${io.y.size}-byte buffer`);
      return { label: opLabel, pipeline: this.pipeline, bindGroup, dispatch: this.dispatch(rows) };
    };
  }
}
