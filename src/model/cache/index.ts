// The browser model cache: a model fetched over http(s) is written to disk as it streams to the
// GPU, and the next load of the same URL + version reads it from there.
//
// Why OPFS (the Origin Private File System) and not Cache Storage:
// - Reading back: an OPFS entry is a real, disk-backed File, so BlobSource reads the GGUF header
//   first and then streams the weights with Blob.slice, exactly as for a local file; inspectModel
//   works on a cached model without a byte of network. Cache Storage gives back a Response: its
//   body streams from byte 0, and random access would need .blob() (a copy of the whole model
//   into blob storage) or re-parsing from the start for every header read.
// - Writing: FileSystemWritableFileStream.write() is awaited chunk by chunk, so the download is
//   paced by the disk and JS memory stays bounded. cache.put() wants a Response whose body we
//   would have to tee from the same download; a tee buffers without limit for its slower branch.
// - Failure: a write that exceeds the quota fails on that chunk with QuotaExceededError, and the
//   writable's swap file is discarded on abort, so a half-written model never appears. We then
//   keep loading from the network, uncached, with a warning. Committed entries carry a small
//   JSON record written only after the data is closed, so a crash mid-write leaves no entry.
// - Both are per-origin and evictable; OPFS also works in workers, where the engine may run.
//
// Keys: URL + sha256 when the caller gives one (then a cached model loads offline), else URL +
// the server's ETag, else URL + size. Hits and misses are counted in `stats`. Without a sha256
// the server is asked which version is current; when it can't answer (unreachable, 5xx), the
// newest cached copy of the URL loads instead, with a warning (HTTP's stale-if-error).
import type { ByteSource } from '../source/types.js';

export interface ModelCacheKey {
  url: string;
  sha256?: string;
  etag?: string;
  size?: number;
}

export interface CachedModel {
  /** Stable id of the entry (derived from the key). */
  id: string;
  url: string;
  /** The version part of the key: `sha256:…`, `etag:…` or `size:…`. */
  version: string;
  size: number;
  storedAt: number;
  lastUsedAt: number;
}

export interface ModelCacheStats {
  hits: number;
  misses: number;
  /** Models written completely. */
  stored: number;
  /** Writes given up (quota, disk errors); the model still loaded. */
  failed: number;
}

/** An entry being written: chunks in order, then commit() or abort(). */
export interface CacheWriter {
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export interface ModelCache {
  readonly stats: ModelCacheStats;
  /** The cached model for `key`, or undefined (counted as a hit or a miss). */
  get(key: ModelCacheKey): Promise<ByteSource | undefined>;
  /** Starts writing an entry of `size` bytes; undefined (with a warning) when it can't be stored. */
  put(key: ModelCacheKey, size: number, warn: (message: string) => void): Promise<CacheWriter | undefined>;
  list(): Promise<CachedModel[]>;
  /** Deletes entries by id or by URL (every version); returns how many. */
  delete(idOrUrl: string): Promise<number>;
  clear(): Promise<void>;
}

export { OpfsModelCache, CachedBlobSource, keyVersion, entryKey, type OpfsCacheOptions } from './opfs.js';
export { CachingSource } from './caching-source.js';

let shared: Promise<ModelCache | undefined> | undefined;

/** The default cache: OPFS in browsers and workers that have it, none elsewhere (Node). */
export function defaultModelCache(): Promise<ModelCache | undefined> {
  shared ??= import('./opfs.js').then((m) => m.OpfsModelCache.open()).catch(() => undefined);
  return shared;
}

/** Cached models in the default cache (empty where there is none). */
export async function listCachedModels(): Promise<CachedModel[]> {
  return (await defaultModelCache())?.list() ?? [];
}

/** Deletes cached models by id or URL from the default cache; returns how many. */
export async function deleteCachedModel(idOrUrl: string): Promise<number> {
  return (await defaultModelCache())?.delete(idOrUrl) ?? 0;
}

export async function clearModelCache(): Promise<void> {
  await (await defaultModelCache())?.clear();
}
