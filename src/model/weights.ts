// Weight tensors on the GPU in their compact GGUF form. plan() validates every tensor and splits it
// from the header alone (so pipelines can compile while bytes are still arriving); stream() then
// creates each tensor's buffers just before its bytes arrive and writes them as they come, in file
// order, from one sequential read. Creating a buffer is not free (on a CPU adapter it is first-touch
// memory), so it overlaps the read instead of preceding it.
// A tensor larger than one storage binding (or one buffer) is split by rows over several buffers;
// the kernels take one part per dispatch (matmul nOffset/yStride, embedding rowStart/rowCount).
import { FridayError, throwIfAborted } from '../api/errors.js';
import type { GpuContext } from '../gpu/context.js';
import { assertGpuType } from './dtypes.js';
import type { GGUFFile, GGUFTensorInfo } from './gguf/types.js';
import { streamBytes } from './source/stream.js';
import type { ByteSource } from './source/types.js';

export interface WeightPartInfo {
  /** Rows (ggml dims[1] and up, flattened) this part holds: rowStart .. rowStart + rowCount. */
  rowStart: number;
  rowCount: number;
  /** The bytes of the tensor this part holds. */
  byteOffset: number;
  byteSize: number;
}

/** What is known of a weight from the header: enough to pick and compile its kernels. */
export interface WeightInfo {
  name: string;
  type: number;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  byteSize: number;
  /** One part per buffer, split by rows; a single part unless the tensor exceeds a binding. */
  parts: WeightPartInfo[];
}

export interface GpuTensorPart extends WeightPartInfo {
  buffer: GPUBuffer;
}

export interface GpuTensor extends WeightInfo {
  /** The first (usually only) part's buffer: raw GGUF bytes viewed as array<u32> in WGSL. */
  buffer: GPUBuffer;
  parts: GpuTensorPart[];
}

/** The limits that decide splits: every part must fit one binding and one buffer. */
export interface PartLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export interface UploadProgress {
  bytesDone: number;
  bytesTotal: number;
  tensorsDone: number;
  tensorsTotal: number;
}

export interface UploadOptions {
  signal?: AbortSignal;
  onProgress?: (p: UploadProgress) => void;
  /** Bytes per read for sources that read in chunks (files); bounds JS memory during the load. */
  chunkBytes?: number;
  /** Bytes written to the queue before waiting for the GPU to take them; bounds staging memory. */
  inflightBytes?: number;
}

/** How a tensor is split so each part (padded to 4 bytes) fits `limits`; throws if it can't be. */
export function planParts(t: Pick<GGUFTensorInfo, 'name' | 'dims' | 'byteSize'>, limits: PartLimits): WeightPartInfo[] {
  const maxPart = Math.floor(Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) / 4) * 4;
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  if (Math.ceil(t.byteSize / 4) * 4 <= maxPart) return [{ rowStart: 0, rowCount: rows, byteOffset: 0, byteSize: t.byteSize }];
  const rowBytes = t.byteSize / rows;
  if (t.dims.length < 2 || rowBytes > maxPart) {
    throw new FridayError('MODEL_TOO_LARGE', `Tensor "${t.name}" (${t.byteSize} bytes${t.dims.length < 2 ? '' : `, rows of ${rowBytes} bytes`}) cannot be split to fit this GPU's ${maxPart}-byte storage bindings. Use a smaller model or a GPU with larger limits.`, { tensor: t.name, bytes: t.byteSize, maxPart });
  }
  const nParts = Math.ceil(rows / Math.floor(maxPart / rowBytes));
  const per = Math.ceil(rows / nParts); // balanced parts
  const parts: WeightPartInfo[] = [];
  for (let r = 0; r < rows; r += per) {
    const n = Math.min(per, rows - r);
    parts.push({ rowStart: r, rowCount: n, byteOffset: r * rowBytes, byteSize: n * rowBytes });
  }
  return parts;
}

/** The device's limits, optionally lowered (tests; Dawn raises requested limits below the defaults). */
export function partLimits(gpu: GpuContext, lower: Partial<PartLimits> = {}): PartLimits {
  const l = gpu.device.limits;
  return {
    maxStorageBufferBindingSize: Math.min(l.maxStorageBufferBindingSize, lower.maxStorageBufferBindingSize ?? Infinity),
    maxBufferSize: Math.min(l.maxBufferSize, lower.maxBufferSize ?? Infinity),
  };
}

/** Writes a stream of bytes into one buffer at 4-byte-aligned offsets, carrying up to 3 bytes. */
class PartWriter {
  private written = 0;
  private readonly carry = new Uint8Array(4);
  private carryLen = 0;
  constructor(private readonly queue: GPUQueue, private readonly buffer: GPUBuffer) {}

  write(b: Uint8Array): void {
    let i = 0;
    if (this.carryLen > 0) {
      i = Math.min(4 - this.carryLen, b.byteLength);
      this.carry.set(b.subarray(0, i), this.carryLen);
      this.carryLen += i;
      if (this.carryLen < 4) return;
      this.flushCarry();
    }
    const whole = (b.byteLength - i) & ~3;
    if (whole > 0) this.queue.writeBuffer(this.buffer, this.written, b as Uint8Array<ArrayBuffer>, i, whole);
    this.written += whole;
    this.carry.set(b.subarray(i + whole), 0);
    this.carryLen = b.byteLength - i - whole;
  }

  /** Writes the last partial word, zero-padded (buffers are padded to 4 bytes). */
  finish(): void {
    if (this.carryLen > 0) this.flushCarry();
  }

  private flushCarry(): void {
    this.carry.fill(0, this.carryLen);
    this.queue.writeBuffer(this.buffer, this.written, this.carry);
    this.written += 4;
    this.carryLen = 0;
  }
}

export class GpuWeights {
  /** Tensors whose buffers exist (created as the stream reaches them). */
  readonly tensors = new Map<string, GpuTensor>();

  private constructor(private readonly gpu: GpuContext, private readonly infos: Map<string, WeightInfo>) {}

  /** A weight's dtype, shape and split, known from the header (before any byte is uploaded). */
  info(name: string): WeightInfo {
    const t = this.infos.get(name);
    if (!t) throw new FridayError('INTERNAL', `weight ${name} is not in the model`);
    return t;
  }

  /** A weight with its buffers: only once stream() has reached it. */
  get(name: string): GpuTensor {
    const t = this.tensors.get(name);
    if (!t) throw new FridayError('INTERNAL', `weight ${name} was not uploaded`);
    return t;
  }

  get totalBytes(): number {
    let n = 0;
    for (const t of this.infos.values()) n += t.byteSize;
    return n;
  }

  destroy(): void {
    for (const t of this.tensors.values()) for (const p of t.parts) this.gpu.destroyBuffer(p.buffer);
    this.tensors.clear();
  }

  /** Checks every tensor (dtype, split to fit `limits`); creates nothing yet. */
  static plan(gpu: GpuContext, gguf: GGUFFile, limits: PartLimits = partLimits(gpu)): GpuWeights {
    const infos = new Map<string, WeightInfo>();
    for (const t of gguf.tensors) {
      assertGpuType(t.type, t.name);
      infos.set(t.name, { name: t.name, type: t.type, dims: t.dims, byteSize: t.byteSize, parts: planParts(t, limits) });
    }
    return new GpuWeights(gpu, infos);
  }

  /** Creates a weight's buffers (one per part). */
  private materialize(name: string): GpuTensor {
    const info = this.info(name);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const n = info.parts.length;
    const parts = info.parts.map((p, i) => ({ ...p, buffer: this.gpu.createBuffer(n > 1 ? `${name}[${i}]` : name, p.byteSize, usage) }));
    const t: GpuTensor = { ...info, buffer: parts[0]!.buffer, parts };
    this.tensors.set(name, t);
    return t;
  }

  /** plan() + stream(): every buffer is destroyed if the upload fails or is aborted. */
  static async upload(gpu: GpuContext, src: ByteSource, gguf: GGUFFile, opts: UploadOptions & { limits?: PartLimits } = {}): Promise<GpuWeights> {
    const weights = GpuWeights.plan(gpu, gguf, opts.limits);
    try {
      await weights.stream(src, gguf, opts);
      return weights;
    } catch (e) {
      weights.destroy();
      throw e;
    }
  }

  /**
   * Reads the span from the first tensor's first byte to the last tensor's last byte once, in
   * order, and writes each chunk into the buffers it belongs to as it arrives. Every
   * `inflightBytes / 2` written we wait for the queue to take the previous half, so the queue's
   * staging copies stay bounded too. Read-ahead is the source's (see ByteSource.stream).
   */
  async stream(src: ByteSource, gguf: GGUFFile, opts: UploadOptions = {}): Promise<void> {
    const order = [...gguf.tensors].sort((a, b) => a.offset - b.offset);
    const p: UploadProgress = { bytesDone: 0, bytesTotal: order.reduce((s, t) => s + t.byteSize, 0), tensorsDone: 0, tensorsTotal: order.length };
    if (order.length === 0) return;
    const queue = this.gpu.device.queue;
    const fenceEvery = (opts.inflightBytes ?? 32 << 20) / 2;
    let fence: Promise<void> | undefined, sinceFence = 0;
    let ti = 0, pi = 0;
    let cur: GpuTensor | undefined; // the tensor being written; its buffers exist
    let writer: PartWriter | undefined;
    const start = order[0]!.offset, end = order[order.length - 1]!.offset + order[order.length - 1]!.byteSize;
    let pos = start;
    for await (const chunk of streamBytes(src, start, end, { signal: opts.signal, chunkBytes: opts.chunkBytes })) {
      throwIfAborted(opts.signal);
      let view = chunk;
      while (view.byteLength > 0 && ti < order.length) {
        const t = order[ti]!;
        if (pos < t.offset) { // alignment padding between tensors
          const skip = Math.min(t.offset - pos, view.byteLength);
          view = view.subarray(skip);
          pos += skip;
          continue;
        }
        cur ??= this.materialize(t.name);
        writer ??= new PartWriter(queue, cur.parts[pi]!.buffer);
        const part = cur.parts[pi]!;
        const partEnd = t.offset + part.byteOffset + part.byteSize;
        const n = Math.min(view.byteLength, partEnd - pos);
        writer.write(view.subarray(0, n));
        view = view.subarray(n);
        pos += n;
        p.bytesDone += n;
        if (pos < partEnd) continue;
        writer.finish();
        writer = undefined;
        if (++pi === cur.parts.length) [ti, pi, cur, p.tensorsDone] = [ti + 1, 0, undefined, p.tensorsDone + 1];
      }
      opts.onProgress?.(p);
      if ((sinceFence += chunk.byteLength) >= fenceEvery) {
        const prev = fence;
        fence = queue.onSubmittedWorkDone();
        fence.catch(() => {}); // a device lost mid-load surfaces through gpu.check()
        sinceFence = 0;
        await prev;
      }
    }
    if (ti < order.length) {
      const t = order[ti]!;
      throw new FridayError('GGUF_INVALID', `Tensor "${t.name}" is truncated: the model ended at byte ${pos}, inside its data (${t.offset}..${t.offset + t.byteSize}). Re-download the model.`, { tensor: t.name, offset: pos });
    }
    await fence;
    this.gpu.check();
  }
}
