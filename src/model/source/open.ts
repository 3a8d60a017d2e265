// Turns whatever the caller has (a path, a URL, a File/Blob, bytes, a ByteSource, or the parts of a
// split model) into one ByteSource. URLs go through the browser model cache when there is one.
import { FridayError } from '../../api/errors.js';
import { isNodeLike } from '../../platform/env.js';
import type { CachedModel, ModelCache } from '../cache/index.js';
import { BlobSource } from './blob.js';
import { BytesSource } from './bytes.js';
import { SplitSource, splitPartNames, splitPartNamesInUrl } from './split.js';
import type { ByteSource } from './types.js';
import type { UrlSource, UrlSourceOptions } from './url.js';

/** An http(s) model with what we know about it: a mismatch in size or sha256 fails the load. */
export interface ModelUrl {
  url: string | URL;
  /** Expected SHA-256 (hex) of the file; also the cache key, so a cached copy loads offline. */
  sha256?: string;
  size?: number;
  headers?: Record<string, string>;
}

/** A path (Node/Electron), an http(s) URL, a File/Blob, bytes, a ByteSource, or a split model's parts. */
export type ModelInput = string | URL | Blob | Uint8Array | ByteSource | ModelUrl | readonly ModelInput[];

export interface OpenOptions {
  signal?: AbortSignal;
  /**
   * Where http(s) models are cached: a ModelCache, or false for none. Default: the browser's OPFS
   * model cache when there is one (see src/model/cache), none in Node.
   */
  cache?: ModelCache | false;
  /** Non-fatal problems (e.g. the cache is full and the model loads uncached). Default console.warn. */
  onWarning?: (message: string) => void;
  /** Consecutive failed attempts tolerated per HTTP request (drops, 5xx). Default 5. */
  retries?: number;
}

function isByteSource(x: unknown): x is ByteSource {
  return typeof x === 'object' && x !== null && typeof (x as ByteSource).read === 'function' && typeof (x as ByteSource).size === 'number';
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

export function openSource(input: ModelInput, opts: OpenOptions = {}): Promise<ByteSource> {
  return openOne(input, opts, true);
}

/** One input; `findParts`: a name like x-00001-of-00003.gguf opens all three (not when opening a part). */
async function openOne(input: ModelInput, opts: OpenOptions, findParts: boolean): Promise<ByteSource> {
  if (Array.isArray(input)) return openParts(input as readonly ModelInput[], opts);
  if (isByteSource(input)) return input;
  if (input instanceof Uint8Array) return new BytesSource(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new BlobSource(input);
  if (typeof input === 'object' && input !== null && 'url' in input && !(input instanceof URL)) {
    const spec = input as ModelUrl;
    return openUrl(spec.url instanceof URL ? spec.url.href : spec.url, spec, opts);
  }
  const s = input instanceof URL ? input.href : input;
  if (typeof s === 'string' && isUrl(s)) {
    const parts = findParts ? splitPartNamesInUrl(s) : undefined;
    return parts ? openParts(parts, opts) : openUrl(s, {}, opts);
  }
  if (typeof s === 'string' && isNodeLike()) {
    const path = s.startsWith('file:') ? decodeURIComponent(new URL(s).pathname) : s;
    const parts = findParts ? splitPartNames(path) : undefined;
    if (parts) return openParts(parts, opts);
    const { FileSource } = await import('./file.js');
    return FileSource.open(path);
  }
  throw new FridayError('INVALID_REQUEST', `Cannot open model ${String(s)}: pass an http(s) URL, a File/Blob, bytes, or (in Node) a path.`);
}

/** Opens every part (closing those already open if one fails) as one SplitSource. */
async function openParts(inputs: readonly ModelInput[], opts: OpenOptions): Promise<ByteSource> {
  if (inputs.length === 1) return openOne(inputs[0]!, opts, false);
  const opened = await Promise.allSettled(inputs.map((p) => openOne(p, opts, false)));
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const parts = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  // Stale copies stand in for all the parts or for none: a part checked with the server next to
  // one that could not be may be another version of the model, and would load as garbage.
  const stale = parts.filter((p) => staleCopies.has(p));
  const mixed = !failed && stale.length > 0 && stale.length < parts.length
    ? new FridayError('IO_ERROR', `The server answered for some parts of this split model but not for ${stale.map((p) => p.name).join(', ')}, whose cached copies may be of another version. Try again when it answers for every part.`, { stale: stale.map((p) => p.name) })
    : undefined;
  if (failed || mixed) {
    await Promise.all(parts.map((p) => p.close()));
    throw failed ? failed.reason : mixed;
  }
  return new SplitSource(parts);
}

/** Cached copies opened because their server could not be asked (see openUrl). */
const staleCopies = new WeakSet<ByteSource>();

async function openUrl(url: string, spec: Omit<ModelUrl, 'url'>, opts: OpenOptions): Promise<ByteSource> {
  const warn = opts.onWarning ?? ((m: string) => console.warn(`friday: ${m}`));
  const { UrlSource } = await import('./url.js');
  const urlOpts: UrlSourceOptions = { sha256: spec.sha256, size: spec.size, headers: spec.headers, signal: opts.signal, retries: opts.retries };
  const cache = opts.cache === false ? undefined : (opts.cache ?? (await import('../cache/index.js').then((m) => m.defaultModelCache())));
  if (!cache) return UrlSource.open(url, urlOpts);
  // With a sha256 the key is known before any request, so a cached model loads offline.
  if (spec.sha256) {
    const hit = await cache.get({ url, sha256: spec.sha256 });
    if (hit) return hit;
  }
  // Copies of this URL already cached: one may stand in if the server can't be asked (offline).
  const copies = (await cache.list().catch(() => [])).filter((m) => m.url === url).sort((a, b) => b.storedAt - a.storedAt);
  let src: UrlSource;
  try {
    src = await UrlSource.open(url, copies.length > 0 ? { ...urlOpts, probeRetries: 1 } : urlOpts);
  } catch (e) {
    const stale = canStandIn(e) ? await firstCached(cache, copies) : undefined;
    if (!stale) throw e;
    warn(`${url} could not be checked with its server (${(e as Error).message}); loading the copy cached on ${new Date(stale.storedAt).toISOString()}, which may be out of date.`);
    staleCopies.add(stale.src);
    return stale.src;
  }
  const key = { url, sha256: spec.sha256, etag: src.etag, size: src.size };
  if (!spec.sha256) {
    const hit = await cache.get(key);
    if (hit) {
      await src.close();
      return hit;
    }
  }
  const { CachingSource } = await import('../cache/caching-source.js');
  return new CachingSource(src, cache, key, warn);
}

/** The server could not say which version is current (unreachable, 5xx, 429): not an abort, a 404 or a bad file. */
function canStandIn(e: unknown): boolean {
  if (!(e instanceof FridayError) || e.code !== 'IO_ERROR') return false;
  const status = e.details?.status as number | undefined;
  return e.details?.unreachable === true || (status !== undefined && (status >= 500 || status === 429));
}

/** The newest of `copies` that still opens. */
async function firstCached(cache: ModelCache, copies: CachedModel[]): Promise<{ src: ByteSource; storedAt: number } | undefined> {
  const { entryKey } = await import('../cache/index.js');
  for (const c of copies) {
    const src = await cache.get(entryKey(c)).catch(() => undefined);
    if (src) return { src, storedAt: c.storedAt };
  }
  return undefined;
}
