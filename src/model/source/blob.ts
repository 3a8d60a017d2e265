import { FridayError, throwIfAborted } from '../../api/errors.js';
import { abortAware } from './stream.js';
import type { ByteSource, StreamOptions } from './types.js';

/** A File or Blob (file picker, drag-and-drop, a cached model in OPFS): read on demand, never whole. */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(private readonly blob: Blob, name?: string) {
    this.size = blob.size;
    this.name = name ?? ((blob as File).name || 'blob');
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal);
    try {
      return new Uint8Array(await this.blob.slice(offset, Math.min(offset + length, this.size)).arrayBuffer());
    } catch (e) {
      throw new FridayError('IO_ERROR', `Could not read ${this.name} at byte ${offset}: ${(e as Error).message}. If the file was moved or changed, pick it again.`, { offset }, { cause: e });
    }
  }

  /** The blob's own stream: the browser reads ahead, chunks are fresh (never reused). */
  async *stream(start: number, end: number, opts: StreamOptions = {}): AsyncGenerator<Uint8Array> {
    const reader = this.blob.slice(start, Math.min(end, this.size)).stream().getReader();
    try {
      for (;;) {
        throwIfAborted(opts.signal);
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } catch (e) {
      throw abortAware(e, opts.signal, () => new FridayError('IO_ERROR', `Could not read ${this.name}: ${(e as Error).message}. If the file was moved or changed, pick it again.`));
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  async close(): Promise<void> {}
}
