// Friday's public API. UIs, the worker host, the server and Electron import only from here.
export * from './api/types.js';
export { FridayError, type FridayErrorCode, type FridayErrorJSON } from './api/errors.js';
export type { ModelInput } from './model/source/open.js';
import type { Engine } from './api/types.js';
import { LocalEngine, type LocalEngineOptions } from './engine/local.js';
import { openSource, type ModelInput } from './model/source/open.js';

export interface CreateEngineOptions extends LocalEngineOptions {
  /** The GGUF model: a path (Node), an http(s) URL, a File/Blob, or bytes. */
  model: ModelInput;
}

/** Loads a model onto the local GPU and returns an Engine that batches concurrent requests. */
export async function createEngine(options: CreateEngineOptions): Promise<Engine> {
  const { model, ...rest } = options;
  const source = await openSource(model);
  try {
    return await LocalEngine.create(source, rest);
  } finally {
    await source.close();
  }
}

/** The same Engine, hosted in a dedicated Web Worker (src/worker/worker.ts is the worker entry). */
export { WorkerEngine, type WorkerEngineCreateOptions } from './worker/worker-engine.js';
