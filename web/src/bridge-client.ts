// The renderer's side of the Electron bridge (window.friday, see electron/lib/bridge-types.ts):
// model files opened by main, read in chunks, as a ByteSource; and the remote pool in main as an
// Engine. A test can pass any object implementing FridayBridge (a fake over an in-page channel).
import { FridayError } from '../../src/api/errors.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionParams, Completion, CompletionChunk, CompletionParams, Engine, EngineInfo,
  EngineStats, GenerateEvent, GenerateRequest, GenerationStream, RequestOptions,
} from '../../src/api/types.js';
import type { ByteSource } from '../../src/model/source/types.js';
import { batched, collectCompletion, completionChunks, generationStream, newMeta } from '../../src/remote/chunks.js';
import { BRIDGE_GLOBAL, LIMITS, type BridgeResult, type FridayBridge, type ModelFileInfo, type RemoteStreamMessage } from '../../electron/lib/bridge-types.js';

export type { FridayBridge, ModelFileInfo } from '../../electron/lib/bridge-types.js';

/** The preload's bridge, when running in the Electron app. */
export function getBridge(): FridayBridge | undefined {
  const b = (globalThis as Record<string, unknown>)[BRIDGE_GLOBAL] as FridayBridge | undefined;
  return b && typeof b.readModel === 'function' ? b : undefined;
}

export function unwrap<T>(r: BridgeResult<T>): T {
  if (r.ok) return r.value;
  throw FridayError.fromJSON(r.error);
}

/** A model file opened by main: reads go over IPC in chunks of at most LIMITS.maxReadBytes. */
export class BridgeSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private closed = false;

  constructor(private readonly bridge: FridayBridge, private readonly file: ModelFileInfo) {
    this.name = file.name;
    this.size = file.size;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    if (n <= LIMITS.maxReadBytes) return this.readOne(offset, n, signal);
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += LIMITS.maxReadBytes) {
      const part = await this.readOne(offset + at, Math.min(LIMITS.maxReadBytes, n - at), signal);
      out.set(part, at);
      if (part.byteLength < Math.min(LIMITS.maxReadBytes, n - at)) return out.subarray(0, at + part.byteLength);
    }
    return out;
  }

  private async readOne(offset: number, n: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (signal?.aborted) throw new FridayError('ABORTED', 'The load was aborted by the caller.');
    if (n === 0) return new Uint8Array(0);
    return unwrap(await this.bridge.readModel(this.file.handle, offset, n));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.bridge.closeModel(this.file.handle).catch(() => undefined);
  }
}

/** Messages pushed by a callback, read as an async iterator; the consumer leaving calls `onCancel`. */
class Inbox<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private error: unknown;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(private readonly onCancel: () => void) {}

  push(x: T): void { this.items.push(x); this.wake?.(); }
  end(): void { this.ended = true; this.wake?.(); }
  fail(e: unknown): void { this.error = e; this.ended = true; this.wake?.(); }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    let finished = false;
    try {
      for (;;) {
        while (this.items.length) yield this.items.shift()!;
        if (this.ended) {
          finished = true;
          if (this.error !== undefined) throw this.error;
          return;
        }
        await new Promise<void>((r) => { this.wake = r; });
        this.wake = undefined;
      }
    } finally {
      if (!finished) this.onCancel();
    }
  }
}

/**
 * The remote pool that Electron's main process owns, as an Engine: requests go over the bridge,
 * the keys stay in main. Streams abort through the bridge when the caller stops reading or aborts.
 */
export class BridgeRemoteEngine implements Engine {
  readonly info: EngineInfo = { kind: 'remote', model: 'remote', contextLength: 0 };
  readonly chat: Engine['chat'];
  readonly completions: Engine['completions'];
  private tokens = 0;
  private inFlight = 0;

  constructor(private readonly bridge: FridayBridge) {
    this.chat = { completions: { create: ((p: ChatCompletionParams, o?: RequestOptions) => this.chatCreate(p, o)) as Engine['chat']['completions']['create'] } };
    this.completions = { create: ((p: CompletionParams, o?: RequestOptions) => this.completionCreate(p, o)) as Engine['completions']['create'] };
  }

  /** Starts a stream over the bridge; messages land in an Inbox mapped by `map`. */
  private open<T>(start: Parameters<FridayBridge['remoteStart']>[0], signal: AbortSignal | undefined, map: (m: RemoteStreamMessage, box: Inbox<T>) => void): Inbox<T> {
    if (signal?.aborted) throw new FridayError('ABORTED', 'The request was aborted by the caller.');
    let id = '';
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      signal?.removeEventListener('abort', onAbort);
    };
    const box = new Inbox<T>(() => { if (!settled) { settle(); this.bridge.remoteAbort(id); } });
    const onAbort = () => {
      if (settled) return;
      settle();
      this.bridge.remoteAbort(id);
      box.fail(new FridayError('ABORTED', 'The request was aborted by the caller.'));
    };
    this.inFlight++;
    signal?.addEventListener('abort', onAbort, { once: true });
    id = this.bridge.remoteStart(start, (m) => {
      if (settled) return;
      if (m.type === 'error') { settle(); box.fail(FridayError.fromJSON(m.error)); return; }
      map(m, box);
      if (m.type === 'end' || (m.type === 'event' && m.event.done)) { settle(); box.end(); }
    });
    return box;
  }

  generate(request: GenerateRequest, options: RequestOptions = {}): GenerationStream {
    const box = this.open<GenerateEvent>({ kind: 'generate', request }, options.signal, (m, b) => {
      if (m.type === 'event') {
        if (!m.event.done) this.tokens++;
        b.push(m.event);
      }
    });
    return generationStream(box);
  }

  private async chatCreate(p: ChatCompletionParams, o?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion> {
    const box = this.open<ChatCompletionChunk>({ kind: 'chat', params: { ...p, stream: true } }, o?.signal, (m, b) => {
      if (m.type === 'chunk') {
        if (m.chunk.choices[0]?.delta.content) this.tokens++;
        b.push(m.chunk);
      }
    });
    if (p.stream) return box;
    let content = '', last: ChatCompletionChunk | undefined, finish: 'stop' | 'length' = 'stop';
    for await (const c of box) {
      last = c;
      content += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    const m = newMeta('chat', p.model ?? this.info.model);
    return {
      ...m, object: 'chat.completion', served_by: last?.served_by ?? 'remote',
      usage: last?.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish, logprobs: null }],
    };
  }

  private async completionCreate(p: CompletionParams, o?: RequestOptions): Promise<AsyncIterable<CompletionChunk> | Completion> {
    const events = batched(this.generate({ ...p, prompt: p.prompt }, o));
    const m = newMeta('completion', p.model ?? this.info.model);
    return p.stream ? completionChunks(events, m, p) : collectCompletion(events, m, p);
  }

  stats(): EngineStats {
    return { running: this.inFlight, waiting: 0, kvPagesUsed: 0, kvPagesTotal: 0, prefixCacheHitRate: 0, tokensGenerated: this.tokens, steps: 0 };
  }

  async close(): Promise<void> {}
}
