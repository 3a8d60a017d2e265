// A random-access byte source: the GGUF reader and the loader never need the whole file in memory.
export interface ByteSource {
  /** Human-readable name for messages (a path, a URL, a file name). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Reads exactly `length` bytes at `offset` (fewer only at end of file). */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * Optional sequential read of bytes [start, end) in order, in chunks of any size, with the
   * source's own read-ahead. A yielded chunk is only valid until the iterator is advanced (sources
   * may reuse buffers): use it or copy it before asking for the next. Sources that verify the
   * whole file (sha256, cache writes) check it when the iteration ends, so read to the end.
   * Without it, `streamBytes` (./stream.ts) reads with `read` and its own read-ahead.
   */
  stream?(start: number, end: number, opts?: StreamOptions): AsyncIterable<Uint8Array>;
  /** Bytes come over the network (progress reports "download" rather than "upload"). */
  readonly remote?: boolean;
  /** Releases handles or connections. Safe to call twice. */
  close(): Promise<void>;
}

export interface StreamOptions {
  signal?: AbortSignal;
  /** Preferred chunk size for sources that read in chunks (files). */
  chunkBytes?: number;
}
