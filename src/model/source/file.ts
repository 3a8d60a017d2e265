// Node/Electron only: a filesystem path read through a file handle, never readFile.
import { open, type FileHandle } from 'node:fs/promises';
import { FridayError } from '../../api/errors.js';
import type { ByteSource } from './types.js';

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

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (signal?.aborted) throw new FridayError('ABORTED', 'Read aborted.');
    if (!this.handle) throw new FridayError('IO_ERROR', `${this.name} is closed.`);
    const n = Math.max(0, Math.min(length, this.size - offset));
    const out = new Uint8Array(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await this.handle.read(out, done, n - done, offset + done);
      if (bytesRead === 0) break; // file shrank under us
      done += bytesRead;
    }
    return done === n ? out : out.subarray(0, done);
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }
}
