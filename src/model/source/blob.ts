import { FridayError } from '../../api/errors.js';
import type { ByteSource } from './types.js';

/** A File or Blob (file picker, drag-and-drop): slices are read on demand, never the whole file. */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(private readonly blob: Blob, name?: string) {
    this.size = blob.size;
    this.name = name ?? ((blob as File).name || 'blob');
  }
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (signal?.aborted) throw new FridayError('ABORTED', 'Read aborted.');
    try {
      return new Uint8Array(await this.blob.slice(offset, Math.min(offset + length, this.size)).arrayBuffer());
    } catch (e) {
      throw new FridayError('IO_ERROR', `Could not read ${this.name} at byte ${offset}: ${(e as Error).message}`, { offset }, { cause: e });
    }
  }
  async close(): Promise<void> {}
}
