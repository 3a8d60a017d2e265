// A network source that writes what it streams into the model cache. The cache needs the whole
// file, so stream() reads [0, size) from the network (the header's first MiB is already in
// memory), writes every chunk (awaited: the disk paces the download, memory stays bounded) and
// hands the caller only the range it asked for. The entry is committed once the last byte is in
// and the inner source has checked it (size, sha256); on any failure or early stop it is dropped.
// A failed cache write (quota, disk) is a warning: the load carries on uncached.
import { streamBytes } from '../source/stream.js';
import type { ByteSource, StreamOptions } from '../source/types.js';
import type { CacheWriter, ModelCache, ModelCacheKey } from './index.js';
import { cacheFailure } from './opfs.js';

export class CachingSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  readonly remote = true;
  /** Set after a complete pass: later streams go straight to the network source. */
  private settled = false;

  constructor(private readonly inner: ByteSource, private readonly cache: ModelCache, readonly key: ModelCacheKey, private readonly warn: (message: string) => void) {
    this.name = inner.name;
    this.size = inner.size;
  }

  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.inner.read(offset, length, signal);
  }

  async *stream(start: number, end: number, opts: StreamOptions = {}): AsyncGenerator<Uint8Array> {
    const writer = this.settled ? undefined : await this.cache.put(this.key, this.size, this.warn);
    this.settled = true;
    if (!writer) return yield* streamBytes(this.inner, start, end, opts);
    let w: CacheWriter | undefined = writer;
    const giveUp = async (e: unknown) => {
      const current = w;
      w = undefined;
      await current?.abort();
      this.warn(`${this.name} will not be cached: ${cacheFailure(e)}. It keeps loading from the network.`);
    };
    try {
      let pos = 0;
      for await (const c of streamBytes(this.inner, 0, this.size, opts)) {
        if (w) await w.write(c).catch(giveUp);
        const a = Math.max(start, pos), b = Math.min(end, pos + c.byteLength);
        pos += c.byteLength;
        if (a < b) yield c.subarray(a - (pos - c.byteLength), b - (pos - c.byteLength));
      }
      if (w) {
        const done: CacheWriter = w;
        w = undefined;
        await done.commit().catch(async (e) => { await done.abort(); await giveUp(e); });
      }
    } finally {
      await w?.abort(); // stopped early or failed: no half entry
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
