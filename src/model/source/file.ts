// Node/Electron only: a filesystem path read through a file handle, never readFile.
import { open, type FileHandle } from 'node:fs/promises';
import { FridayError, throwIfAborted } from '../../api/errors.js';
import { DEFAULT_CHUNK_BYTES } from './stream.js';
import type { ByteSource, StreamOptions } from './types.js';

/** Reads kept in flight while the caller uploads the current chunk. */
const READ_AHEAD = 2;

export class FileSource implements ByteSource {
  private constructor(private handle: FileHandle | null, readonly name: string, readonly size: number) {}

  static async open(path: string): Promise<FileSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
      throw new FridayError('IO_ERROR', `Cannot open model file ${path}: ${why}. Check the path.`, { path, code });
    }
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      throw new FridayError('IO_ERROR', `Cannot open model file ${path}: not a regular file.`, { path });
    }
    return new FileSource(handle, path, st.size);
  }

  private live(): FileHandle {
    if (!this.handle) throw new FridayError('IO_ERROR', `${this.name} is closed; open the model again.`);
    return this.handle;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = new Uint8Array(n);
    const done = await this.fill(out, n, offset);
    return done === n ? out : out.subarray(0, done);
  }

  /** Reads up to n bytes at `at` into `buf`; returns how many (fewer only if the file shrank). */
  private async fill(buf: Uint8Array, n: number, at: number): Promise<number> {
    const h = this.live();
    let done = 0;
    while (done < n) {
      const { bytesRead } = await h.read(buf, done, n - done, at + done);
      if (bytesRead === 0) break; // file shrank under us
      done += bytesRead;
    }
    return done;
  }

  /**
   * Sequential chunks from a ring of READ_AHEAD + 1 reused buffers: the chunk the caller holds,
   * plus the reads in flight. So memory is (READ_AHEAD + 1) x chunkBytes whatever the file size.
   */
  async *stream(start: number, end: number, opts: StreamOptions = {}): AsyncGenerator<Uint8Array> {
    const chunk = Math.max(4096, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
    end = Math.min(end, this.size);
    const ring = Array.from({ length: READ_AHEAD + 1 }, () => new Uint8Array(Math.min(chunk, Math.max(0, end - start))));
    const inflight: { buf: Uint8Array; at: number; n: number; p: Promise<number> }[] = [];
    let next = start, slot = 0;
    const issue = () => {
      const buf = ring[slot++ % ring.length]!;
      const n = Math.min(chunk, end - next);
      const p = this.fill(buf, n, next);
      p.catch(() => {}); // awaited below; reads left in flight by an early return must not go unhandled
      inflight.push({ buf, at: next, n, p });
      next += n;
    };
    try {
      while (inflight.length < READ_AHEAD && next < end) issue();
      while (inflight.length > 0) {
        throwIfAborted(opts.signal);
        const r = inflight.shift()!;
        const got = await r.p;
        if (got !== r.n) throw new FridayError('IO_ERROR', `${this.name} ended at byte ${r.at + got}, before its size ${this.size}: the file changed while loading.`, { path: this.name });
        // The buffer refilled now is the one yielded last time: the caller has moved on from it.
        if (next < end) issue();
        yield r.buf.subarray(0, r.n);
      }
    } finally {
      await Promise.allSettled(inflight.map((r) => r.p)); // never close the handle under a pending read
    }
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }
}
