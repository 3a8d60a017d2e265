// Model files opened in main for a renderer: only paths that main itself chose (the native open
// dialog, the bundled default model) are opened, through FileSource (a file handle, never
// readFile); the renderer gets an opaque handle bound to its window and reads bounded chunks.
import { FridayError } from '../../src/api/errors.js';
import type { ByteSource } from '../../src/model/source/types.js';
import { LIMITS, type ModelFileInfo } from './bridge-types.js';

export interface ModelFileRegistryOptions {
  /** How a path is opened. Default: FileSource.open. */
  open?: (path: string) => Promise<ByteSource>;
  maxOpenPerOwner?: number;
}

interface Entry {
  owner: number;
  source: ByteSource;
}

const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46]; // "GGUF"

// Web Crypto and plain string handling (not node:crypto / node:path): the registry also runs in a
// page, behind the fake bridge of the renderer tests.
const basename = (p: string) => p.split(/[\\/]/).filter(Boolean).pop() ?? p;

function randomHandle(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

async function openFile(path: string): Promise<ByteSource> {
  const { FileSource } = await import('../../src/model/source/file.js');
  return FileSource.open(path);
}

export class ModelFileRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly open_: (path: string) => Promise<ByteSource>;
  private readonly maxOpen: number;

  constructor(opts: ModelFileRegistryOptions = {}) {
    this.open_ = opts.open ?? openFile;
    this.maxOpen = opts.maxOpenPerOwner ?? LIMITS.maxOpenFiles;
  }

  /** Opens `path` (chosen by main) for window `owner`; checks the GGUF magic before handing it out. */
  async open(owner: number, path: string): Promise<ModelFileInfo> {
    if (this.countFor(owner) >= this.maxOpen) {
      throw new FridayError('INVALID_REQUEST', `This window already has ${this.maxOpen} model files open; close one first.`);
    }
    const source = await this.open_(path);
    try {
      const magic = source.size >= 4 ? await source.read(0, 4) : new Uint8Array(0);
      if (magic.length !== 4 || GGUF_MAGIC.some((b, i) => magic[i] !== b)) {
        throw new FridayError('GGUF_INVALID', `${basename(path)} is not a GGUF model file (it does not start with "GGUF").`);
      }
    } catch (e) {
      await source.close();
      throw e;
    }
    const handle = randomHandle();
    this.entries.set(handle, { owner, source });
    return { handle, name: basename(path), size: source.size };
  }

  private entry(owner: number, handle: string): Entry {
    const e = this.entries.get(handle);
    // Another window's handle looks exactly like an unknown one.
    if (!e || e.owner !== owner) throw new FridayError('INVALID_REQUEST', 'Unknown model handle (closed, or not opened by this window).', { param: 'handle' });
    return e;
  }

  /** Up to `length` bytes at `offset` (fewer at the end of the file, none past it). */
  async read(owner: number, handle: string, offset: number, length: number): Promise<Uint8Array> {
    const { source } = this.entry(owner, handle);
    if (offset >= source.size) return new Uint8Array(0);
    return source.read(offset, Math.min(length, source.size - offset));
  }

  async close(owner: number, handle: string): Promise<void> {
    const e = this.entry(owner, handle);
    this.entries.delete(handle);
    await e.source.close();
  }

  /** A window went away: close everything it had open. */
  async closeOwner(owner: number): Promise<void> {
    const mine = [...this.entries].filter(([, e]) => e.owner === owner);
    for (const [h] of mine) this.entries.delete(h);
    await Promise.allSettled(mine.map(([, e]) => e.source.close()));
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.source.close()));
  }

  countFor(owner: number): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.owner === owner) n++;
    return n;
  }
}
