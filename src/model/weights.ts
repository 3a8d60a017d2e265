// Uploads weight tensors to GPU buffers in their compact GGUF form, streamed in bounded chunks.
import { FridayError, throwIfAborted } from '../api/errors.js';
import type { GpuContext } from '../gpu/context.js';
import { assertGpuType } from './dtypes.js';
import type { GGUFFile, GGUFTensorInfo } from './gguf/types.js';
import type { ByteSource } from './source/types.js';

export interface GpuTensor {
  name: string;
  type: number;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  byteSize: number;
  /** Raw GGUF bytes viewed as array<u32> in WGSL, padded to 4 bytes. */
  buffer: GPUBuffer;
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
  /** Bytes read from the source per request; bounds JS memory during the load. */
  chunkBytes?: number;
}

export class GpuWeights {
  private constructor(private readonly gpu: GpuContext, readonly tensors: Map<string, GpuTensor>) {}

  get(name: string): GpuTensor {
    const t = this.tensors.get(name);
    if (!t) throw new FridayError('INTERNAL', `weight ${name} was not uploaded`);
    return t;
  }

  get totalBytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.byteSize;
    return n;
  }

  destroy(): void {
    for (const t of this.tensors.values()) this.gpu.destroyBuffer(t.buffer);
    this.tensors.clear();
  }

  /** Streams every tensor of the file into its own storage buffer; destroys them all on failure or abort. */
  static async upload(gpu: GpuContext, src: ByteSource, gguf: GGUFFile, opts: UploadOptions = {}): Promise<GpuWeights> {
    const chunkBytes = opts.chunkBytes ?? 8 << 20;
    const order = [...gguf.tensors].sort((a, b) => a.offset - b.offset); // sequential reads
    const weights = new GpuWeights(gpu, new Map());
    const progress: UploadProgress = { bytesDone: 0, bytesTotal: order.reduce((s, t) => s + t.byteSize, 0), tensorsDone: 0, tensorsTotal: order.length };
    try {
      for (const info of order) {
        assertGpuType(info.type, info.name);
        const buffer = gpu.createBuffer(info.name, info.byteSize, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
        weights.tensors.set(info.name, { name: info.name, type: info.type, dims: info.dims, byteSize: info.byteSize, buffer });
        await copyTensor(gpu, src, info, buffer, chunkBytes, opts.signal, (n) => {
          progress.bytesDone += n;
          opts.onProgress?.(progress);
        });
        progress.tensorsDone++;
        opts.onProgress?.(progress);
      }
      gpu.check();
      return weights;
    } catch (e) {
      weights.destroy();
      throw e;
    }
  }
}

async function copyTensor(gpu: GpuContext, src: ByteSource, t: GGUFTensorInfo, dst: GPUBuffer, chunkBytes: number, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<void> {
  // Chunks are multiples of 4 so every writeBuffer but the last is aligned.
  const step = Math.max(4, chunkBytes & ~3);
  for (let done = 0; done < t.byteSize; done += step) {
    throwIfAborted(signal);
    const n = Math.min(step, t.byteSize - done);
    const bytes = await src.read(t.offset + done, n, signal);
    if (bytes.byteLength !== n) {
      throw new FridayError('GGUF_INVALID', `Tensor "${t.name}" is truncated: expected ${n} bytes at byte ${t.offset + done}, got ${bytes.byteLength}. Re-download the model.`, { tensor: t.name, offset: t.offset + done });
    }
    gpu.write(dst, done, bytes);
    onBytes(n);
  }
}
