// The worker side of the protocol: owns one Engine and serves WorkerRequests arriving on an
// Endpoint. Kept apart from the worker entry so it runs over any port pair (unit tests use a Node
// MessageChannel in one thread, with structured clone and a real engine).
import { abortedError, FridayError, toFridayError } from '../api/errors.js';
import type { ChatCompletionParams, CompletionParams, Engine, EngineStats } from '../api/types.js';
import { createEngine, type CreateEngineOptions } from '../index.js';
import {
  isWorkerRequest, PROTOCOL_VERSION, type ChunkMsg, type Endpoint, type InitMsg, type LoadProgress, type ResultMsg, type WorkerRequest,
  type WorkerResponse,
} from './protocol.js';

export interface HostOptions {
  /** How the engine is made; default the library's createEngine. */
  createEngine?: (options: CreateEngineOptions) => Promise<Engine>;
  /** Called after `closed` was sent (the worker entry closes its global scope). */
  onClosed?: () => void;
  /** Minimum interval between `progress` messages; the last one is always sent. Default 50 ms. */
  progressIntervalMs?: number;
}

export interface Host {
  /** Stops listening (the engine, if any, is left as is). */
  dispose(): void;
}

/** Serves one engine on `ep`: the worker entry calls this with its global scope. */
export function serveEngine(ep: Endpoint, opts: HostOptions = {}): Host {
  return new EngineHost(ep, opts);
}

/** Credit for one stream: how many more items may be sent before the consumer asks for more. */
class Credit {
  private wake: (() => void) | undefined;
  private cancelled = false;

  constructor(private n: number) {}

  grant(k: number): void {
    this.n += k;
    this.wake?.();
  }

  cancel(): void {
    this.cancelled = true;
    this.wake?.();
  }

  /** Resolves true once an item may be sent, false if the request was aborted meanwhile. */
  async take(): Promise<boolean> {
    while (this.n <= 0 && !this.cancelled) await new Promise<void>((r) => { this.wake = r; });
    this.wake = undefined;
    if (this.cancelled) return false;
    this.n--;
    return true;
  }
}

interface Slot {
  ac: AbortController;
  credit: Credit;
}

class EngineHost implements Host {
  private readonly slots = new Map<number, Slot>();
  /** Requests in progress, so close() can wait until their last messages are out. */
  private readonly running = new Set<Promise<void>>();
  private engine: Engine | undefined;
  private initStarted = false;

  constructor(private readonly ep: Endpoint, private readonly opts: HostOptions) {
    ep.addEventListener('message', this.onMessage);
    ep.addEventListener('close', this.onPortClose);
    ep.start?.();
  }

  dispose(): void {
    this.ep.removeEventListener('message', this.onMessage);
    this.ep.removeEventListener('close', this.onPortClose);
  }

  private readonly onMessage = (ev: Event) => {
    const m = (ev as MessageEvent).data;
    if (isWorkerRequest(m)) this.handle(m);
  };

  // The main thread's end of the port is gone (Node, newer browsers say so): nobody will read or
  // grant credit again, so free the engine's sequences instead of keeping them paused forever.
  private readonly onPortClose = () => {
    for (const slot of this.slots.values()) { slot.ac.abort(); slot.credit.cancel(); }
    this.dispose();
  };

  private handle(m: WorkerRequest): void {
    switch (m.type) {
      case 'init': void this.init(m); break;
      case 'generate': {
        const slot = this.open(m.id, m.credit);
        void this.run(m.id, slot, async (engine) => {
          await pump(slot, engine.generate(m.request, { signal: slot.ac.signal }), (event) => {
            this.post({ type: 'event', id: m.id, event, ...(event.done ? { stats: engine.stats() } : {}) });
          });
        });
        break;
      }
      case 'chat': void this.openai('chat', m.id, m.params, m.credit); break;
      case 'completion': void this.openai('completion', m.id, m.params, m.credit); break;
      case 'credit': this.slots.get(m.id)?.credit.grant(m.n); break;
      case 'abort': {
        const slot = this.slots.get(m.id);
        slot?.ac.abort(abortedError());
        slot?.credit.cancel();
        break;
      }
      case 'stats': void this.run(m.id, undefined, async (engine) => { this.post({ type: 'result', id: m.id, value: engine.stats(), stats: engine.stats() }); }); break;
      case 'ping': this.post({ type: 'pong' }); break;
      case 'close': void this.close(m.id); break;
    }
  }

  private post(m: WorkerResponse): void {
    this.ep.postMessage(m);
  }

  private fail(id: number | undefined, e: unknown): void {
    let stats: EngineStats | undefined;
    try { stats = this.engine?.stats(); } catch { /* the error matters more than the snapshot */ }
    this.post({ type: 'error', id, error: toFridayError(e).toJSON(), ...(stats ? { stats } : {}) });
  }

  private open(id: number, credit: number): Slot {
    const slot = { ac: new AbortController(), credit: new Credit(Math.max(1, credit)) };
    this.slots.set(id, slot);
    return slot;
  }

  /** Runs one request; its errors go back under its id unless the main thread aborted it (it already failed there). */
  private run(id: number, slot: Slot | undefined, body: (engine: Engine) => Promise<void>): Promise<void> {
    const p = (async () => {
      try {
        if (!this.engine) throw new FridayError('INTERNAL', 'The worker engine is not initialized.');
        await body(this.engine);
      } catch (e) {
        if (!slot?.ac.signal.aborted) this.fail(id, e);
      } finally {
        this.slots.delete(id);
      }
    })().finally(() => this.running.delete(p));
    this.running.add(p);
    return p;
  }

  private async init(m: InitMsg): Promise<void> {
    const slot = this.open(m.id, 0);
    try {
      if (this.initStarted) throw new FridayError('INTERNAL', 'The worker engine was already initialized.');
      this.initStarted = true;
      if (m.version !== PROTOCOL_VERSION) throw new FridayError('INTERNAL', `Worker protocol mismatch: main thread speaks v${m.version}, worker v${PROTOCOL_VERSION}.`);
      const model = m.model instanceof ArrayBuffer ? new Uint8Array(m.model) : m.model;
      const onProgress = m.progress ? this.progressSender(m.id) : undefined;
      const engine = await (this.opts.createEngine ?? createEngine)({ ...m.options, model, signal: slot.ac.signal, ...(onProgress ? { onProgress } : {}) });
      if (slot.ac.signal.aborted) { await engine.close(); return; }
      this.engine = engine;
      this.post({ type: 'ready', id: m.id, info: engine.info, stats: engine.stats() });
    } catch (e) {
      if (!slot.ac.signal.aborted) this.fail(m.id, e);
    } finally {
      this.slots.delete(m.id);
    }
  }

  /** Upload progress fires per chunk and per tensor: send at most one per interval, and always the last. */
  private progressSender(id: number): (p: LoadProgress) => void {
    const every = this.opts.progressIntervalMs ?? 50;
    let last = -Infinity;
    return (p) => {
      const now = performance.now();
      if (p.tensorsDone !== p.tensorsTotal && now - last < every) return;
      last = now;
      this.post({ type: 'progress', id, progress: { ...p } });
    };
  }

  private async openai(kind: 'chat' | 'completion', id: number, params: ChatCompletionParams | CompletionParams, credit: number): Promise<void> {
    const slot = this.open(id, credit);
    await this.run(id, slot, async (engine) => {
      const o = { signal: slot.ac.signal };
      // The facade's overloads pick the return type from `stream`; both shapes are handled below.
      const res: unknown = kind === 'chat'
        ? await engine.chat.completions.create(params as ChatCompletionParams & { stream: false }, o)
        : await engine.completions.create(params as CompletionParams & { stream: false }, o);
      if (!params.stream) {
        this.post({ type: 'result', id, value: res as ResultMsg['value'], stats: engine.stats() });
        return;
      }
      this.post({ type: 'result', id, value: { stream: true }, stats: engine.stats() });
      if (await pump(slot, res as AsyncIterable<ChunkMsg['chunk']>, (chunk) => this.post({ type: 'chunk', id, chunk }))) {
        this.post({ type: 'end', id, stats: engine.stats() });
      }
    });
  }

  private async close(id: number): Promise<void> {
    try {
      await this.engine?.close();
    } catch (e) {
      this.fail(id, e);
    }
    // The engine failed its streams (ENGINE_CLOSED, sent as errors); a pump still waiting for credit
    // is stopped quietly: the main thread fails whatever is pending when `closed` arrives.
    for (const slot of this.slots.values()) slot.credit.cancel();
    await Promise.allSettled([...this.running]);
    this.post({ type: 'closed', id });
    this.dispose();
    this.opts.onClosed?.();
  }
}

/**
 * Sends a stream's items as credit allows; pulls the next one before waiting so the end is seen
 * without credit. Resolves true at the stream's end, false when it was cut off (abort, close).
 */
async function pump<T>(slot: Slot, src: AsyncIterable<T>, send: (item: T) => void): Promise<boolean> {
  const it = src[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (r.done) return true;
    if (!(await slot.credit.take())) {
      await it.return?.(); // the consumer is gone: let the engine free the sequence
      return false;
    }
    send(r.value);
  }
}
