// Model loading for the demo, without DOM: what a model choice is, how it is inspected (the fit
// verdict, from the header only) and how it is loaded into an engine in a Web Worker. The UI
// (app.ts) and the tests drive this.
import { FridayError } from '../../src/api/errors.js';
import type { Engine } from '../../src/api/types.js';
import type { LoadProgress } from '../../src/engine/load-progress.js';
import { defaultModelCache, type CachedModel, type ModelCacheKey } from '../../src/model/cache/index.js';
import { inspectModel, type GpuLimits, type ModelInspection } from '../../src/model/inspect.js';
import { BlobSource } from '../../src/model/source/blob.js';
import type { ByteSource } from '../../src/model/source/types.js';
import { RouterEngine } from '../../src/remote/router.js';
import { WorkerEngine } from '../../src/worker/worker-engine.js';
import { BridgeRemoteEngine, BridgeSource, unwrap, type FridayBridge, type ModelFileInfo } from './bridge-client.js';
import { PORT_MODEL_PREFIX, serveSource, type SourceOfferMsg } from './port-source.js';

export type { LoadProgress } from '../../src/engine/load-progress.js';

export type ModelChoice =
  /** An http(s) URL (the embedded default model is one, relative to the page). */
  | { kind: 'url'; url: string; label: string }
  /** A local file from the file picker or drag-and-drop. */
  | { kind: 'file'; file: Blob; label: string }
  /** A file opened by the Electron main process (native dialog, bundled model). */
  | { kind: 'bridge'; file: ModelFileInfo; label: string }
  /** A model in the browser's model cache, read back without the network. */
  | { kind: 'cached'; entry: CachedModel; label: string };

export interface EngineSettings {
  contextLength: number;
  /** Sequences batched together (parallel chats). */
  maxSeqs: number;
  maxBatchTokens: number;
}

export interface SessionDeps {
  bridge?: FridayBridge;
  /** Makes the engine's worker. Default: web/src/engine-worker.ts as a module worker. */
  createWorker?: () => Worker;
}

export const DEFAULT_MODEL_PATH = 'models/friday-default.gguf';

export function createEngineWorker(): Worker {
  return new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'friday-engine' });
}

/** Rebuilds the cache key of a cached entry (the entry's id is derived from url + version). */
export function cacheKeyOf(entry: CachedModel): ModelCacheKey {
  const i = entry.version.indexOf(':');
  const kind = entry.version.slice(0, i), v = entry.version.slice(i + 1);
  if (kind === 'sha256') return { url: entry.url, sha256: v };
  if (kind === 'etag') return { url: entry.url, etag: v };
  return { url: entry.url, size: Number(v) };
}

/** The cached copy of a URL, if any (used when offline). */
export async function cachedEntryFor(url: string): Promise<CachedModel | undefined> {
  const cache = await defaultModelCache();
  return (await cache?.list())?.find((e) => e.url === url);
}

/** Opens, on the page, the bytes of a choice that the worker cannot reach by itself. */
async function pageSource(choice: ModelChoice, deps: SessionDeps): Promise<ByteSource & { fromCache?: boolean }> {
  switch (choice.kind) {
    case 'bridge':
      if (!deps.bridge) throw new FridayError('INVALID_REQUEST', 'This model file needs the Electron bridge.');
      return new BridgeSource(deps.bridge, choice.file);
    case 'cached': {
      const cache = await defaultModelCache();
      const src = await cache?.get(cacheKeyOf(choice.entry));
      if (!src) throw new FridayError('IO_ERROR', `${choice.label} is no longer in the browser's model cache; load it from its URL again.`);
      return src;
    }
    case 'file':
      return new BlobSource(choice.file, choice.label);
    case 'url':
      throw new FridayError('INTERNAL', 'URL models are opened by the worker.');
  }
}

/**
 * The fit verdict for a choice from its header alone (for a URL: one Range request), compared
 * with the page's adapter limits and the engine settings.
 */
export async function inspectChoice(choice: ModelChoice, settings: EngineSettings, limits: GpuLimits, deps: SessionDeps = {}): Promise<ModelInspection> {
  const opts = { limits, contextLength: settings.contextLength, maxSeqs: settings.maxSeqs, maxBatchTokens: settings.maxBatchTokens, cache: false as const };
  if (choice.kind === 'url') return inspectModel(choice.url, opts);
  // A bridge file stays open: the same handle is relayed to the worker for the load.
  const src = choice.kind === 'bridge' ? new BridgeSource(deps.bridge!, choice.file) : await pageSource(choice, deps);
  try {
    return await inspectModel(src, opts);
  } finally {
    if (choice.kind !== 'bridge') await src.close();
  }
}

let offerSeq = 0;

/** Loads a choice into an engine hosted in a Web Worker. */
export async function loadChoice(
  choice: ModelChoice, settings: EngineSettings, deps: SessionDeps,
  opts: { onProgress?: (p: LoadProgress) => void; signal?: AbortSignal } = {},
): Promise<WorkerEngine> {
  const worker = (deps.createWorker ?? createEngineWorker)();
  let model: string | Blob;
  let relayed: ByteSource | undefined;
  try {
    if (choice.kind === 'url') model = choice.url;
    else if (choice.kind === 'file') model = choice.file;
    else {
      // Bytes only the page can reach: relay them to the worker over a MessagePort.
      const src = await pageSource(choice, deps);
      relayed = src;
      const { port1, port2 } = new MessageChannel();
      const key = `${Date.now().toString(36)}-${++offerSeq}`;
      serveSource(port1, src, () => void src.close());
      const offer: SourceOfferMsg = { type: 'friday-web:source', key, port: port2, name: choice.label, size: src.size, fromCache: choice.kind === 'cached' || Boolean(src.fromCache) };
      worker.postMessage(offer, [port2]);
      model = PORT_MODEL_PREFIX + key;
    }
    return await WorkerEngine.create(worker, {
      model,
      contextLength: settings.contextLength,
      maxSeqs: settings.maxSeqs,
      maxBatchTokens: settings.maxBatchTokens,
      // The worker reports every phase (LoadProgress), though protocol.ts still types it as upload-only.
      onProgress: opts.onProgress as ((p: unknown) => void) | undefined,
      signal: opts.signal,
    });
  } catch (e) {
    worker.terminate();
    await relayed?.close();
    throw e;
  }
}

/** Whether a URL points at a GGUF file (reads 4 bytes; an SPA fallback page is not a model). */
export async function probeGguf(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { headers: { range: 'bytes=0-3' }, cache: 'no-store' });
    if (!res.ok) return false;
    const b = new Uint8Array(await res.arrayBuffer());
    return b[0] === 0x47 && b[1] === 0x47 && b[2] === 0x55 && b[3] === 0x46;
  } catch {
    return false;
  }
}

/**
 * The remote side. In the browser: an OpenAI-compatible endpoint reached with fetch (it must
 * allow CORS), as createEngine({ remote, policy: 'remote-only' }) would make it. In Electron:
 * main's remote pool over the bridge (keys stay in main).
 */
export async function remoteEngine(url: string, deps: SessionDeps): Promise<Engine> {
  if (deps.bridge) {
    unwrap(await deps.bridge.configureRemote([url]));
    return new BridgeRemoteEngine(deps.bridge);
  }
  return new RouterEngine({ policy: 'remote-only', remote: { endpoints: [url], healthIntervalMs: 0 } });
}

/** A loaded local engine with a remote fallback (browser only: the router needs a RemoteEngine). */
export function routedEngine(local: Engine, url: string, allowSoftware: boolean): Engine {
  return new RouterEngine({ policy: 'prefer-local', local, remote: { endpoints: [url], healthIntervalMs: 0 }, allowSoftware, closeLocal: false });
}
