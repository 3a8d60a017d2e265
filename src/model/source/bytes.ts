import type { ByteSource, StreamOptions } from './types.js';
import { DEFAULT_CHUNK_BYTES } from './stream.js';

/** An in-memory source, for tests and tiny embedded models. */
export class BytesSource implements ByteSource {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array, readonly name = 'memory') {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.bytes.subarray(offset, Math.min(offset + length, this.size));
  }
  async *stream(start: number, end: number, opts: StreamOptions = {}): AsyncGenerator<Uint8Array> {
    const step = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    for (let o = start; o < Math.min(end, this.size); o += step) yield this.bytes.subarray(o, Math.min(o + step, end, this.size));
  }
  async close(): Promise<void> {}
}
