// The OPFS model cache (see index.ts for why OPFS). Layout, in one directory:
//   <id>.gguf   the model bytes (written through a swap file, so only whole files appear)
//   <id>.json   the entry record, written once, after the data: its presence marks the entry complete
//   <id>.used   when the entry was last loaded (rewritten on every hit). It is a file of its own
//               because rewriting a file replaces it, and a reader in another context (page and
//               worker share the cache) can find it missing for a moment: the record must not be.
import { FridayError } from '../../api/errors.js';
import { BlobSource } from '../source/blob.js';
import { Sha256 } from '../source/sha256.js';
import type { ByteSource } from '../source/types.js';
import type { CachedModel, CacheWriter, ModelCache, ModelCacheKey, ModelCacheStats } from './index.js';

export interface OpfsCacheOptions {
  /** Directory under the OPFS root. Default "friday-models". */
  dir?: string;
  /** Skip the download-to-cache when navigator.storage.estimate() says it won't fit. Default true. */
  checkQuota?: boolean;
}

/** The version part of a key, most specific first. */
export function keyVersion(k: ModelCacheKey): string {
  if (k.sha256) return `sha256:${k.sha256.toLowerCase()}`;
  if (k.etag) return `etag:${k.etag}`;
  return `size:${k.size ?? 'unknown'}`;
}

/** The key of a listed entry (keyVersion's inverse). */
export function entryKey(m: Pick<CachedModel, 'url' | 'version'>): ModelCacheKey {
  const colon = m.version.indexOf(':');
  const kind = m.version.slice(0, colon), value = m.version.slice(colon + 1);
  if (kind === 'sha256') return { url: m.url, sha256: value };
  if (kind === 'etag') return { url: m.url, etag: value };
  return { url: m.url, size: value === 'unknown' ? undefined : Number(value) };
}

function entryId(k: ModelCacheKey): string {
  const h = new Sha256();
  h.update(new TextEncoder().encode(`${k.url}\n${keyVersion(k)}`));
  return h.digest().slice(0, 32);
}

type Entries = { entries(): AsyncIterable<[string, FileSystemHandle]> };

const isQuota = (e: unknown) => (e as Error)?.name === 'QuotaExceededError';

/** Why a cache write failed, in words a user can act on. */
export function cacheFailure(e: unknown): string {
  return isQuota(e) ? 'the storage quota is full (delete cached models to make room)' : `the cache cannot be written (${(e as Error).message})`;
}

/** Marks a source read from the cache (progress and tests tell cache hits apart). */
export class CachedBlobSource extends BlobSource {
  readonly fromCache = true;
}

export class OpfsModelCache implements ModelCache {
  readonly stats: ModelCacheStats = { hits: 0, misses: 0, stored: 0, failed: 0 };

  private constructor(private readonly dir: FileSystemDirectoryHandle, private readonly opts: OpfsCacheOptions) {}

  /** Throws when this browser has no OPFS (e.g. Node, or a non-secure context). */
  static async open(opts: OpfsCacheOptions = {}): Promise<OpfsModelCache> {
    const storage = (globalThis.navigator as Navigator | undefined)?.storage;
    if (!storage?.getDirectory) throw new FridayError('IO_ERROR', 'This environment has no Origin Private File System; models will not be cached.');
    const root = await storage.getDirectory();
    return new OpfsModelCache(await root.getDirectoryHandle(opts.dir ?? 'friday-models', { create: true }), opts);
  }

  async get(key: ModelCacheKey): Promise<ByteSource | undefined> {
    const id = entryId(key);
    const rec = await this.record(id);
    if (rec) {
      try {
        const file = await (await this.dir.getFileHandle(`${id}.gguf`)).getFile();
        if (file.size === rec.size) {
          this.stats.hits++;
          void this.writeText(`${id}.used`, String(Date.now())).catch(() => {}); // best effort
          return new CachedBlobSource(file, key.url);
        }
      } catch {
        // data file missing: fall through and drop the record
      }
      await this.remove(id);
    }
    this.stats.misses++;
    return undefined;
  }

  async put(key: ModelCacheKey, size: number, warn: (message: string) => void): Promise<CacheWriter | undefined> {
    const id = entryId(key);
    const skip = (why: string) => {
      this.stats.failed++;
      warn(`${key.url} will not be cached: ${why}. It loads from the network.`);
      return undefined;
    };
    if (this.opts.checkQuota !== false) {
      const est = await navigator.storage.estimate?.().catch(() => undefined);
      const free = est?.quota !== undefined ? est.quota - (est.usage ?? 0) : Infinity;
      if (free < size) return skip(`${(size / 2 ** 20).toFixed(1)} MiB don't fit in the ${(Math.max(0, free) / 2 ** 20).toFixed(1)} MiB of storage quota left (delete cached models to make room)`);
    }
    let w: FileSystemWritableFileStream;
    try {
      w = await (await this.dir.getFileHandle(`${id}.gguf`, { create: true })).createWritable({ keepExistingData: false });
    } catch (e) {
      return skip(cacheFailure(e));
    }
    const rec: CachedModel = { id, url: key.url, version: keyVersion(key), size, storedAt: 0, lastUsedAt: 0 };
    return {
      write: (chunk) => w.write(chunk as Uint8Array<ArrayBuffer>),
      commit: async () => {
        await w.close();
        const now = Date.now();
        await this.writeRecord({ ...rec, storedAt: now, lastUsedAt: now });
        this.stats.stored++;
      },
      abort: async () => {
        this.stats.failed++;
        // The writable's data goes to a swap file until close(), so aborting leaves an earlier,
        // committed copy of this model intact: only a data file with no record is removed.
        await w.abort().catch(() => {});
        if (!(await this.record(id))) await this.dir.removeEntry(`${id}.gguf`).catch(() => {});
      },
    };
  }

  async list(): Promise<CachedModel[]> {
    const out: CachedModel[] = [];
    for await (const [name] of (this.dir as unknown as Entries).entries()) {
      if (!name.endsWith('.json')) continue;
      const rec = await this.record(name.slice(0, -5));
      if (rec) out.push({ ...rec, lastUsedAt: (await this.lastUsed(rec.id)) ?? rec.lastUsedAt });
    }
    return out.sort((a, b) => b.lastUsedAt - a.lastUsedAt);
  }

  async delete(idOrUrl: string): Promise<number> {
    const doomed = (await this.list()).filter((r) => r.id === idOrUrl || r.url === idOrUrl);
    for (const r of doomed) await this.remove(r.id);
    return doomed.length;
  }

  async clear(): Promise<void> {
    const names: string[] = [];
    for await (const [name] of (this.dir as unknown as Entries).entries()) names.push(name);
    for (const n of names) await this.dir.removeEntry(n).catch(() => {});
  }

  private async record(id: string): Promise<CachedModel | undefined> {
    try {
      const text = await (await (await this.dir.getFileHandle(`${id}.json`)).getFile()).text();
      const r = JSON.parse(text) as CachedModel;
      return typeof r.url === 'string' && typeof r.size === 'number' ? r : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeRecord(r: CachedModel): Promise<void> {
    await this.writeText(`${r.id}.json`, JSON.stringify(r));
  }

  private async writeText(name: string, text: string): Promise<void> {
    const w = await (await this.dir.getFileHandle(name, { create: true })).createWritable();
    await w.write(text);
    await w.close();
  }

  private async lastUsed(id: string): Promise<number | undefined> {
    try {
      const t = Number(await (await (await this.dir.getFileHandle(`${id}.used`)).getFile()).text());
      return Number.isFinite(t) && t > 0 ? t : undefined;
    } catch {
      return undefined; // never loaded since stored, or being rewritten right now
    }
  }

  private async remove(id: string): Promise<void> {
    await this.dir.removeEntry(`${id}.json`).catch(() => {});
    await this.dir.removeEntry(`${id}.gguf`).catch(() => {});
    await this.dir.removeEntry(`${id}.used`).catch(() => {});
  }
}
