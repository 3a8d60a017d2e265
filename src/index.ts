// Friday's public API. UIs, the worker host, the server and Electron import only from here.
export * from './api/types.js';
export { FridayError, type FridayErrorCode, type FridayErrorJSON } from './api/errors.js';
export type { ModelInput } from './model/source/open.js';
import type { Engine } from './api/types.js';
import { LocalEngine, type LocalEngineOptions } from './engine/local.js';
import { openSource, type ModelInput, type OpenOptions } from './model/source/open.js';
import { RouterEngine, type RoutingPolicy } from './remote/router.js';
import type { RemoteEngineOptions } from './remote/engine.js';

export interface CreateEngineOptions extends LocalEngineOptions {
  /** The GGUF model for the local GPU: a path (Node), an http(s) URL, a File/Blob, or bytes. */
  model?: ModelInput;
  /** OpenAI-compatible servers to fall back to (llama.cpp server, vLLM, Ollama, `friday serve`). */
  remote?: RemoteEngineOptions;
  /** With `remote`: default `prefer-local`. */
  policy?: RoutingPolicy;
  /** Serve locally on a software (CPU) WebGPU adapter when a remote is configured. Default false. */
  allowSoftware?: boolean;
  /** prefer-local sends requests to the remote while more than this many wait locally. Default 4. */
  overflowWaiting?: number;
  /** How the model is fetched: cache (OPFS in browsers), sha256/size checks, warnings. */
  open?: OpenOptions;
}

async function loadLocal(model: ModelInput, opts: LocalEngineOptions, open?: OpenOptions): Promise<LocalEngine> {
  const source = await openSource(model, { signal: opts.signal, ...open });
  try {
    return await LocalEngine.create(source, opts);
  } finally {
    await source.close();
  }
}

/**
 * The engine most users want. With only `model`: the local GPU engine (concurrent requests are
 * batched). With `remote`: a router that serves locally when it can and falls back to the remote
 * (no WebGPU, a software adapter, device lost, model too big, still loading, queue overflow),
 * failing over mid-stream where that is correct. Every final event says `served_by`.
 */
export async function createEngine(options: CreateEngineOptions): Promise<Engine> {
  const { model, remote, policy, allowSoftware, overflowWaiting, open, ...local } = options;
  if (!remote) {
    if (model === undefined) throw new (await import('./api/errors.js')).FridayError('INVALID_REQUEST', 'createEngine needs a `model` or `remote` endpoints.');
    return loadLocal(model, local, open);
  }
  const localEngine = model === undefined ? undefined : loadLocal(model, local, open);
  localEngine?.catch(() => undefined); // the router treats a failed load as "local unavailable"
  return new RouterEngine({ policy: policy ?? 'prefer-local', local: localEngine, remote, allowSoftware, overflowWaiting });
}

/** The same Engine, hosted in a dedicated Web Worker (src/worker/worker.ts is the worker entry). */
export { WorkerEngine, type WorkerEngineCreateOptions } from './worker/worker-engine.js';
export { RemoteEngine, RouterEngine, type RemoteEngineOptions, type RoutingPolicy } from './remote/index.js';
export type { RemoteEndpointConfig } from './remote/endpoint.js';

export { inspectModel, type InspectOptions, type ModelInspection } from './model/inspect.js';
export type { OpenOptions } from './model/source/open.js';
export { listCachedModels, deleteCachedModel, clearModelCache, type CachedModel } from './model/cache/index.js';
export { renderProgress, createProgressPrinter, type LoadProgress, type LoadPhase } from './engine/load-progress.js';
/** For custom worker entries: serve an Engine over a MessagePort-like endpoint. */
export { serveEngine } from './worker/host.js';
