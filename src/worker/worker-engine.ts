// An Engine whose model runs in a dedicated Web Worker: the main thread only routes messages, so
// tokenization, scheduling and GPU submission never block the UI. Chat and completions run in
// the worker too (the chat template and tokenizer live there); their chunks are streamed across.
import { FridayError, toFridayError } from '../api/errors.js';
import type {
  ChatCompletionParams, CompletionParams, Engine, EngineInfo, EngineStats, GenerateEvent, GenerateRequest,
  GenerationStream, RequestOptions,
} from '../api/types.js';
import { isNodeLike } from '../platform/env.js';
import { Link, type LinkOptions } from './link.js';
import {
  PROTOCOL_VERSION, type Endpoint, type LoadProgress, type ReadyMsg, type WorkerEngineOptions, type WorkerModelInput,
  type WorkerRequest,
} from './protocol.js';
import { RemoteStream } from './remote-stream.js';

export interface WorkerEngineCreateOptions extends WorkerEngineOptions, Pick<LinkOptions, 'heartbeatMs' | 'heartbeatTimeoutMs'> {
  /** An http(s) URL (relative ones resolve against the page), a Blob/File, or bytes (copied, not transferred). */
  model: string | URL | Blob | ArrayBuffer | Uint8Array;
  /** Load progress, forwarded from the worker (throttled). */
  onProgress?: (p: LoadProgress) => void;
  /** Aborts the load (the worker is terminated). */
  signal?: AbortSignal;
  /** Items each stream may have in flight from the worker ahead of its consumer. Default 32. */
  streamWindow?: number;
  /** close() waits this long for the worker to release the GPU before terminating it. Default 10000. */
  closeTimeoutMs?: number;
}

/** The cloneable form of the model; relative URLs would otherwise resolve against the worker script. */
function toWorkerModel(model: WorkerEngineCreateOptions['model']): WorkerModelInput {
  if (model instanceof URL) return model.href;
  if (typeof model === 'string') {
    const base = (globalThis as { location?: { href: string } }).location?.href;
    return !isNodeLike() && base ? new URL(model, base).href : model;
  }
  if (model instanceof Uint8Array && (model.byteOffset !== 0 || model.byteLength !== model.buffer.byteLength)) return model.slice();
  return model;
}

function spawnWorker(url: URL): Worker {
  if (typeof Worker === 'undefined') throw new FridayError('INVALID_REQUEST', 'This environment has no Web Worker; pass a Worker or a MessagePort served by serveEngine.');
  return new Worker(url, { type: 'module' });
}

export class WorkerEngine implements Engine {
  readonly info: EngineInfo;
  readonly chat: Engine['chat'];
  readonly completions: Engine['completions'];
  private snapshot: EngineStats;
  private background: Promise<unknown> | undefined;
  private closing: Promise<void> | undefined;

  private constructor(private readonly link: Link, ready: ReadyMsg, private readonly window: number, private readonly closeTimeoutMs: number) {
    this.info = { ...ready.info, kind: 'worker' };
    this.snapshot = ready.stats;
    this.chat = { completions: { create: ((p: ChatCompletionParams, o?: RequestOptions) => this.openai('chat', p, o)) as Engine['chat']['completions']['create'] } };
    this.completions = { create: ((p: CompletionParams, o?: RequestOptions) => this.openai('completion', p, o)) as Engine['completions']['create'] };
  }

  /**
   * Starts the engine in `worker` (a Worker running src/worker/worker.ts, its module URL, or any
   * port served by serveEngine) and resolves once the model is loaded. The worker belongs to the
   * engine from then on: close(), a failed load or a dead worker terminate it.
   */
  static async create(worker: Worker | URL | Endpoint, options: WorkerEngineCreateOptions): Promise<WorkerEngine> {
    const { model, onProgress, signal, streamWindow, heartbeatMs, heartbeatTimeoutMs, closeTimeoutMs, ...engineOptions } = options;
    const ep: Endpoint = worker instanceof URL ? spawnWorker(worker) : worker;
    const terminate = typeof (ep as Partial<Worker>).terminate === 'function' ? () => (ep as Worker).terminate() : undefined;
    let engine: WorkerEngine | undefined;
    const link = new Link(ep, {
      heartbeatMs, heartbeatTimeoutMs, terminate,
      onStats: (m) => { if (engine && 'stats' in m && m.stats) engine.snapshot = m.stats; },
    });
    const id = link.id();
    const init: WorkerRequest = { type: 'init', id, version: PROTOCOL_VERSION, model: toWorkerModel(model), options: engineOptions, progress: onProgress !== undefined };
    try {
      const ready = await new Promise<ReadyMsg>((resolve, reject) => {
        link.request(id, init, {
          onMessage: (m) => {
            if (m.type === 'progress') {
              try { onProgress?.(m.progress); } catch { /* a UI callback must not break the load */ }
            } else if (m.type === 'ready') { link.settle(id); resolve(m); }
            else if (m.type === 'error') { link.settle(id); reject(FridayError.fromJSON(m.error)); }
          },
          fail: reject,
        }, signal);
      });
      engine = new WorkerEngine(link, ready, Math.max(1, streamWindow ?? 32), closeTimeoutMs ?? 10_000);
      return engine;
    } catch (e) {
      const err = toFridayError(e);
      link.die(err); // a worker that could not load is of no further use
      throw err;
    }
  }

  generate(request: GenerateRequest, options: RequestOptions = {}): GenerationStream {
    const id = this.link.id();
    const stream = this.remoteStream<GenerateEvent>(id);
    this.link.request(id, { type: 'generate', id, request, credit: this.window }, {
      onMessage: (m) => {
        if (m.type === 'event') {
          stream.push(m.event);
          if (m.event.done) { this.link.settle(id); stream.close(); }
        } else if (m.type === 'error') {
          this.link.settle(id);
          stream.fail(FridayError.fromJSON(m.error));
        }
      },
      fail: (e) => stream.fail(e, e.code === 'ABORTED'),
    }, options.signal);
    return stream;
  }

  private remoteStream<T>(id: number): RemoteStream<T> {
    return new RemoteStream<T>(this.window, {
      credit: (n) => { this.link.send({ type: 'credit', id, n }); },
      cancel: () => this.link.abort(id),
    });
  }

  /** chat/completions: run by the worker's facade; a streaming one resolves on its acceptance, then chunks follow. */
  private openai(kind: 'chat' | 'completion', params: ChatCompletionParams | CompletionParams, options?: RequestOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.link.id();
      const stream = params.stream ? this.remoteStream<unknown>(id) : undefined;
      let accepted = false;
      const fail = (e: FridayError) => (accepted ? stream!.fail(e, e.code === 'ABORTED') : reject(e));
      const msg = kind === 'chat'
        ? { type: 'chat' as const, id, params: params as ChatCompletionParams, credit: this.window }
        : { type: 'completion' as const, id, params: params as CompletionParams, credit: this.window };
      this.link.request(id, msg, {
        onMessage: (m) => {
          if (m.type === 'result') {
            if (stream) { accepted = true; resolve(stream); } else { this.link.settle(id); resolve(m.value); }
          } else if (m.type === 'chunk') stream?.push(m.chunk);
          else if (m.type === 'end') { this.link.settle(id); stream?.close(); }
          else if (m.type === 'error') { this.link.settle(id); fail(FridayError.fromJSON(m.error)); }
        },
        fail,
      }, options?.signal);
    });
  }

  /** The latest snapshot the worker sent (it rides on results and stream ends); also asks for a fresh one. */
  stats(): EngineStats {
    if (!this.link.dead && !this.background) {
      this.background = this.refreshStats().catch(() => undefined).finally(() => { this.background = undefined; });
    }
    return { ...this.snapshot };
  }

  /** Asks the worker for its current stats (ordered after every message sent before it). */
  refreshStats(): Promise<EngineStats> {
    return new Promise<EngineStats>((resolve, reject) => {
      const id = this.link.id();
      this.link.request(id, { type: 'stats', id }, {
        onMessage: (m) => {
          this.link.settle(id);
          if (m.type === 'result') resolve(m.value as EngineStats);
          else if (m.type === 'error') reject(FridayError.fromJSON(m.error));
        },
        fail: reject,
      });
    });
  }

  /** Closes the engine in the worker (its requests fail with ENGINE_CLOSED), then terminates the worker. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (!this.link.dead) {
      const id = this.link.id();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.closeTimeoutMs);
        const done = () => { clearTimeout(timer); resolve(); };
        const sent = this.link.request(id, { type: 'close', id }, {
          // An `error` here means engine.close() threw in the worker; `closed` still follows.
          onMessage: (m) => { if (m.type === 'closed') { this.link.settle(id); done(); } },
          fail: done,
        });
        if (!sent) done();
      });
    }
    this.link.die(new FridayError('ENGINE_CLOSED', 'The engine is closed.'));
  }
}
