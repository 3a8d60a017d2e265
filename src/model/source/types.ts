// A random-access byte source: the GGUF reader and the loader never need the whole file in memory.
export interface ByteSource {
  /** Human-readable name for messages (a path, a URL, a file name). */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Reads exactly `length` bytes at `offset` (fewer only at end of file). */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Releases handles or connections. Safe to call twice. */
  close(): Promise<void>;
}
