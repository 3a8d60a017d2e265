// The paged KV cache: per layer, K and V pages of `pageSize` tokens in one pool, plus the page
// table [maxSeqs, maxPagesPerSeq] u32 the attention kernel reads. Which pages belong to whom is
// the scheduler's business (src/scheduler); this only owns the GPU side.
import type { GpuContext } from '../gpu/context.js';
import type { LlamaConfig } from '../model/config.js';

export type KvDtype = 'f16' | 'f32';

export interface KvCacheShape {
  numPages: number;
  pageSize: number;
  maxSeqs: number;
  maxPagesPerSeq: number;
  dtype: KvDtype;
}

export class KvCache {
  /** Per layer: [numPages, pageSize, nKvHeads, headDim], f16 packed in u32 or f32. */
  readonly k: GPUBuffer[] = [];
  readonly v: GPUBuffer[] = [];
  /** [maxSeqs, maxPagesPerSeq] u32 */
  readonly pageTable: GPUBuffer;
  private readonly table: Uint32Array;
  private readonly dirty = new Set<number>();

  constructor(private readonly gpu: GpuContext, cfg: LlamaConfig, readonly shape: KvCacheShape) {
    const bytes = KvCache.bytesPerLayer(cfg, shape) / 2;
    for (let l = 0; l < cfg.nLayers; l++) {
      this.k.push(gpu.createBuffer(`kv.k.${l}`, bytes, GPUBufferUsage.STORAGE));
      this.v.push(gpu.createBuffer(`kv.v.${l}`, bytes, GPUBufferUsage.STORAGE));
    }
    this.table = new Uint32Array(shape.maxSeqs * shape.maxPagesPerSeq);
    this.pageTable = gpu.createBuffer('kv.page_table', this.table.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
  }

  /** K plus V bytes for one layer. */
  static bytesPerLayer(cfg: LlamaConfig, s: Pick<KvCacheShape, 'numPages' | 'pageSize' | 'dtype'>): number {
    return 2 * s.numPages * s.pageSize * cfg.nKvHeads * cfg.headDim * (s.dtype === 'f16' ? 2 : 4);
  }

  /** Sets the physical pages of a slot; uploaded by flush() before the next step. */
  setPages(slot: number, pages: readonly number[]): void {
    const row = slot * this.shape.maxPagesPerSeq;
    for (let i = 0; i < pages.length; i++) {
      if (this.table[row + i] !== pages[i]) {
        this.table[row + i] = pages[i]!;
        this.dirty.add(slot);
      }
    }
  }

  flush(): void {
    const n = this.shape.maxPagesPerSeq;
    for (const slot of this.dirty) this.gpu.write(this.pageTable, slot * n * 4, this.table.subarray(slot * n, (slot + 1) * n));
    this.dirty.clear();
  }

  destroy(): void {
    for (const b of [...this.k, ...this.v, this.pageTable]) this.gpu.destroyBuffer(b);
    this.k.length = 0;
    this.v.length = 0;
  }
}
