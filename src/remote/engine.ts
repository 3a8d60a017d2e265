// RemoteEngine: the Engine interface against OpenAI-compatible servers (`friday serve`, vLLM,
// llama.cpp's server, OpenAI). Several endpoints, each with a weight and a max concurrency; a
// keep-alive connection pool per origin (undici in Node/Electron, fetch in the browser); background
// health checks; a circuit breaker per endpoint; retries with backoff and jitter before the first
// token; 429/503 as backpressure (Retry-After honoured, next endpoint tried); first-token and
// between-token timeouts; mid-stream failover to another endpoint (see failover.ts).
//
// generate() uses /v1/completions with `return_token_ids: true` and maps chunks to TokenEvents.
// A server that does not return token ids gives `token: -1` on every TokenEvent (the text is still
// exact; the final event's index and usage come from the server's `usage`).
import { FridayError, toFridayError } from '../api/errors.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionParams, Completion, CompletionChunk, CompletionParams, Engine,
  EngineInfo, EngineStats, GenerateRequest, GenerationStream, RequestOptions,
} from '../api/types.js';
import { toGenerateRequest } from '../stream/openai.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { BreakerOptions } from './breaker.js';
import {
  ChunkDecoder, chatChunks, completionChunks, generationStream, newMeta, publicEvents, type LegBatch,
} from './chunks.js';
import { Endpoint, type RemoteEndpointConfig } from './endpoint.js';
import {
  errorFromResponse, errorFromStreamEvent, isNeutral, isRetryable, kindOf, networkError, parseRetryAfter, remoteError, type RemoteErrorKind,
} from './errors.js';
import { runWithFailover, type FailoverTarget, type LegRequest } from './failover.js';
import type { LatencySummary } from './metrics.js';
import { SseParser } from './sse.js';
import { createTransport, type PoolSnapshot, type Transport, type TransportResponse } from './transport.js';

export type { RemoteEndpointConfig } from './endpoint.js';

export interface RemoteEngineOptions {
  /** Endpoints: configs or base URLs. */
  endpoints: (RemoteEndpointConfig | string)[];
  /** Defaults for every endpoint (an endpoint's own setting wins). */
  apiKey?: string;
  model?: string;
  headers?: Record<string, string>;
  /** Reported in `info.contextLength` (the remote's own limit applies anyway). Default 0 (unknown). */
  contextLength?: number;
  /** TCP/TLS connect timeout. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Idle keep-alive sockets close after this. Default 30000 ms (a shorter server Keep-Alive hint wins). */
  idleTimeoutMs?: number;
  /** From sending a streamed request to its first token. Default 60000 ms. */
  firstTokenTimeoutMs?: number;
  /** Between two tokens of a stream (keep-alive comments do not count as tokens). Default 30000 ms. */
  interTokenTimeoutMs?: number;
  /** A whole non-streamed response. Default 600000 ms. */
  requestTimeoutMs?: number;
  /** Attempts per request before its first token (all endpoints together). Default 4. */
  maxAttempts?: number;
  /** Backoff before retrying an endpoint already tried: equal jitter over base·2^n, capped. Defaults 100 / 4000 ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Block time after a 429/503 without Retry-After. Default 1000 ms. */
  defaultRetryAfterMs?: number;
  /** A Retry-After longer than this is not waited for (the error is returned). Default 30000 ms. */
  maxRetryAfterMs?: number;
  /** Requests waiting for endpoint capacity beyond this get QUEUE_FULL. Default 1024. */
  maxQueue?: number;
  breaker?: BreakerOptions;
  /** Background health checks (GET /health, else /v1/models). Default 10000 ms; 0 = off. */
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** The model's tokenizer, if known: exact text across a mid-stream failover (see failover.ts). */
  tokenizer?: Tokenizer;
  /** Force the HTTP layer (default: undici in Node/Electron main, fetch elsewhere). */
  transport?: 'undici' | 'fetch';
}

export interface EndpointMetrics {
  name: string;
  url: string;
  healthy: boolean | undefined;
  circuit: 'closed' | 'open' | 'half-open';
  inFlight: number;
  maxConcurrency: number;
  weight: number;
  requests: number;
  succeeded: number;
  failed: number;
  errors: Record<string, number>;
  /** Request start to first token (streams) / whole response (non-streamed). */
  ttft_ms: LatencySummary;
  /** Request start to end of response. */
  latency_ms: LatencySummary;
  pool: PoolSnapshot | undefined;
}

export interface RemoteMetrics {
  transport: 'undici' | 'fetch' | undefined;
  /** HTTP requests sent (health checks included). */
  requests: number;
  /** Sockets opened (undici only). */
  newConnections: number | undefined;
  /** 1 − new connections ÷ requests (undici only). */
  connectionReuseRatio: number | undefined;
  /** Streams/requests in flight (caller-level). */
  inFlight: number;
  /** Requests waiting for endpoint capacity. */
  queued: number;
  tokens: number;
  retries: number;
  failovers: number;
  errors: Record<string, number>;
  endpoints: EndpointMetrics[];
}

const D = {
  contextLength: 0, connectTimeoutMs: 5_000, idleTimeoutMs: 30_000, firstTokenTimeoutMs: 60_000, interTokenTimeoutMs: 30_000,
  requestTimeoutMs: 600_000, maxAttempts: 4, backoffBaseMs: 100, backoffMaxMs: 4_000, defaultRetryAfterMs: 1_000,
  maxRetryAfterMs: 30_000, maxQueue: 1024, healthIntervalMs: 10_000, healthTimeoutMs: 2_000,
};

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new FridayError('ABORTED', 'The request was aborted by the caller.'));
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, Math.max(0, ms));
    const onAbort = () => { clearTimeout(t); reject(new FridayError('ABORTED', 'The request was aborted by the caller.')); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const dropUndefined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export class RemoteEngine implements Engine {
  readonly info: EngineInfo;
  readonly endpoints: Endpoint[];
  /** Settable: the router sets it once the local model (same model) is loaded. */
  tokenizer: Tokenizer | undefined;
  readonly chat;
  readonly completions;
  private readonly o: typeof D;
  private readonly defaultModel: string | undefined;
  private readonly transportP: Promise<Transport>;
  private transport: Transport | undefined;
  private readonly waiters = new Set<() => void>();
  /** Abort functions of every exchange and health check in flight (close() calls them). */
  private readonly active = new Set<() => void>();
  private healthTimer: ReturnType<typeof setInterval> | undefined;
  private readonly checking = new Set<Endpoint>();
  private closed = false;
  private inFlight = 0;
  private queued = 0;
  private httpRequests = 0;
  private tokens = 0;
  private retries = 0;
  private failovers = 0;
  private readonly errors: Record<string, number> = {};

  constructor(opts: RemoteEngineOptions) {
    if (!opts.endpoints?.length) throw new FridayError('INVALID_REQUEST', 'RemoteEngine needs at least one endpoint.', { param: 'endpoints' });
    this.o = { ...D, ...dropUndefined(opts as unknown as Record<string, unknown>) } as typeof D;
    const defaults = { apiKey: opts.apiKey, model: opts.model, headers: opts.headers };
    this.endpoints = opts.endpoints.map((e) => new Endpoint(typeof e === 'string' ? { url: e } : e, defaults, opts.breaker ?? {}));
    const names = new Set(this.endpoints.map((e) => e.name));
    if (names.size !== this.endpoints.length) throw new FridayError('INVALID_REQUEST', 'Remote endpoint names must be unique.', { param: 'endpoints' });
    this.tokenizer = opts.tokenizer;
    this.defaultModel = opts.model;
    this.info = { kind: 'remote', model: opts.model ?? this.endpoints[0]!.model ?? 'remote', contextLength: this.o.contextLength };
    this.transportP = createTransport({
      maxConnections: (origin) => this.endpoints.filter((e) => e.origin === origin).reduce((n, e) => n + e.maxConcurrency, 0) + 1,
      idleTimeoutMs: this.o.idleTimeoutMs,
      connectTimeoutMs: this.o.connectTimeoutMs,
    }, opts.transport);
    this.transportP.then((t) => { this.transport = t; }, () => undefined);
    if (this.o.healthIntervalMs > 0) {
      const tick = () => { for (const ep of this.endpoints) void this.checkEndpoint(ep); };
      tick();
      this.healthTimer = setInterval(tick, this.o.healthIntervalMs);
      (this.healthTimer as { unref?: () => void }).unref?.();
    }
    const self = this;
    async function chatCreate(p: ChatCompletionParams & { stream: true }, o?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
    async function chatCreate(p: ChatCompletionParams & { stream?: false }, o?: RequestOptions): Promise<ChatCompletion>;
    async function chatCreate(p: ChatCompletionParams, o?: RequestOptions): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
      validateChat(p);
      if (p.stream) return chatChunks(self.stream({ kind: 'chat', chat: p }, o), newMeta('chat', p.model ?? self.info.model), p);
      return (await self.nonStream({ kind: 'chat', chat: p }, o)) as unknown as ChatCompletion;
    }
    async function completionCreate(p: CompletionParams & { stream: true }, o?: RequestOptions): Promise<AsyncIterable<CompletionChunk>>;
    async function completionCreate(p: CompletionParams & { stream?: false }, o?: RequestOptions): Promise<Completion>;
    async function completionCreate(p: CompletionParams, o?: RequestOptions): Promise<Completion | AsyncIterable<CompletionChunk>> {
      const gen = validateCompletion(p);
      const leg: LegRequest = { kind: 'completion', gen, raw: p as unknown as Record<string, unknown> };
      if (p.stream) return completionChunks(self.stream(leg, o), newMeta('completion', p.model ?? self.info.model), p);
      return (await self.nonStream(leg, o)) as unknown as Completion;
    }
    this.chat = { completions: { create: chatCreate } };
    this.completions = { create: completionCreate };
  }

  generate(request: GenerateRequest, options: RequestOptions = {}): GenerationStream {
    return generationStream(publicEvents(this.stream({ kind: 'completion', gen: request }, options)));
  }

  /** Can a stream of this kind that already produced tokens be continued on one of our endpoints? */
  canContinue(kind: 'completion' | 'chat', exclude: ReadonlySet<string> = new Set()): boolean {
    return this.endpoints.some((e) => !exclude.has(e.name) && (kind === 'completion' || e.continueAssistant));
  }

  /** Any endpoint that could take a request now (circuit not open; health not known bad)? */
  get available(): boolean {
    return !this.closed && this.endpoints.some((e) => e.breaker.canPass() && e.healthy !== false);
  }

  /**
   * The full pipeline as events: endpoint choice, retries before the first token, mid-stream
   * failover across endpoints. The router uses it as one target.
   */
  async *stream(leg: LegRequest, options: RequestOptions = {}): AsyncGenerator<LegBatch> {
    if (this.closed) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
    const signal = options.signal; // runWithFailover gives each target its own signal
    const exclude = new Set<string>();
    let first = true;
    const next = (ctx: { tokens: number; error: FridayError | undefined }): FailoverTarget | undefined => {
      if (first) {
        first = false;
        return this.target(exclude);
      }
      // Before the first token the attempt loop already retried every endpoint it could.
      if (ctx.tokens === 0) return undefined;
      const ep = ctx.error?.details?.endpoint;
      if (typeof ep !== 'string' || exclude.has(ep)) return undefined;
      exclude.add(ep);
      if (!this.endpoints.some((e) => !exclude.has(e.name))) return undefined;
      this.failovers++;
      return this.target(exclude);
    };
    this.inFlight++;
    try {
      yield* runWithFailover(leg, next, { signal, tokenizer: this.tokenizer });
    } finally {
      this.inFlight--;
    }
  }

  private target(exclude: Set<string>): FailoverTarget {
    return {
      name: 'remote',
      canContinue: (kind) => this.canContinue(kind, exclude),
      open: (leg, signal) => this.attempts(leg.kind === 'chat' && !!leg.continueFinal, exclude, signal, (ep, s) => this.streamFrom(ep, leg, s), (b) => b[b.length - 1]!.done),
    };
  }

  /** A non-streamed request: the server's JSON with `served_by` set to the endpoint name. */
  private async nonStream(leg: LegRequest, options: RequestOptions = {}): Promise<Record<string, unknown>> {
    if (this.closed) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
    const signal = options.signal ?? new AbortController().signal;
    this.inFlight++;
    try {
      for await (const r of this.attempts(false, new Set(), signal, (ep, s) => this.responseFrom(ep, leg, s), () => true)) return r;
      throw new FridayError('INTERNAL', 'no response');
    } finally {
      this.inFlight--;
    }
  }

  // ------------------------------------------------------------ endpoint choice and retries

  /** Runs `run` on an endpoint, retrying on others (or later) until it yields its first item. */
  private async *attempts<T>(
    needContinue: boolean, exclude: ReadonlySet<string>, signal: AbortSignal, run: (ep: Endpoint, signal: AbortSignal) => AsyncIterable<T>,
    isEnd: (item: T) => boolean,
  ): AsyncGenerator<T> {
    const tried = new Set<string>();
    const broken = new Set<string>(); // protocol errors: not retried on the same endpoint
    let lastErr: FridayError | undefined;
    for (let attempt = 1; ; attempt++) {
      const ep = await this.acquire({ exclude, tried, broken, needContinue, signal, lastErr });
      const t0 = performance.now();
      let first = true;
      let verdict = false;
      ep.counters.requests++;
      try {
        for await (const item of run(ep, signal)) {
          if (first) {
            first = false;
            ep.counters.ttft.record(performance.now() - t0);
          }
          if (isEnd(item)) {
            // Recorded before handing it over: the consumer may stop iterating right after.
            // Only a complete answer counts as a success (a server that always drops mid-stream opens the circuit).
            ep.breaker.onSuccess();
            verdict = true;
            ep.counters.succeeded++;
            ep.counters.latency.record(performance.now() - t0);
          }
          yield item;
        }
        return;
      } catch (e) {
        const err = toFridayError(e);
        verdict = true;
        if (signal.aborted || err.code === 'ABORTED' || err.code === 'ENGINE_CLOSED') {
          ep.breaker.onNeutral();
          this.count(ep, 'aborted');
          throw err.code === 'ABORTED' || err.code === 'ENGINE_CLOSED' ? err : new FridayError('ABORTED', 'The request was aborted by the caller.', undefined, { cause: err });
        }
        const kind = kindOf(err) ?? 'other';
        this.count(ep, kind);
        if (isNeutral(err)) ep.breaker.onNeutral();
        else ep.breaker.onFailure();
        if (kind === 'backpressure') {
          const ra = typeof err.details?.retryAfterMs === 'number' ? err.details.retryAfterMs : this.o.defaultRetryAfterMs;
          ep.blockedUntil = Math.max(ep.blockedUntil, Date.now() + ra);
        }
        if (!first) throw err; // mid-stream: the failover layer decides
        if (!isRetryable(err) || attempt >= this.o.maxAttempts) throw err;
        tried.add(ep.name);
        if (kind === 'protocol') broken.add(ep.name);
        lastErr = err;
        this.retries++;
        // Another endpoint not yet tried: go now. Otherwise back off (backpressure waits in acquire).
        const untried = this.endpoints.some((x) => !exclude.has(x.name) && !tried.has(x.name) && !broken.has(x.name) && (!needContinue || x.continueAssistant) && x.breaker.canPass());
        if (!untried && kind !== 'backpressure') {
          const cap = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (attempt - 1));
          await sleep(cap / 2 + Math.random() * (cap / 2), signal);
        }
      } finally {
        // The consumer may stop early (no exception, no verdict): release a half-open probe.
        if (!verdict) ep.breaker.onNeutral();
        ep.inFlight--;
        this.wake();
      }
    }
  }

  private count(ep: Endpoint, kind: string): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
    ep.counters.error(kind);
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** Picks an endpoint and takes a slot on it, waiting for capacity or backpressure to pass. */
  private async acquire(a: { exclude: ReadonlySet<string>; tried: Set<string>; broken: Set<string>; needContinue: boolean; signal: AbortSignal; lastErr?: FridayError }): Promise<Endpoint> {
    for (;;) {
      if (a.signal.aborted) throw new FridayError('ABORTED', 'The request was aborted by the caller.');
      if (this.closed) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
      const now = Date.now();
      const cands = this.endpoints.filter((e) => !a.exclude.has(e.name) && !a.broken.has(e.name) && (!a.needContinue || e.continueAssistant));
      if (cands.length === 0) {
        throw a.lastErr ?? remoteError('REMOTE_UNAVAILABLE', 'no_endpoint', a.needContinue
          ? 'No remote endpoint can continue an assistant message (none has continueAssistant).'
          : 'No remote endpoint is left to try.', {});
      }
      const passable = cands.filter((e) => e.breaker.canPass());
      if (passable.length === 0) {
        const retryIn = Math.min(...cands.map((e) => e.breaker.retryInMs));
        const err = remoteError('REMOTE_UNAVAILABLE', 'circuit_open', `Remote endpoint${cands.length > 1 ? 's' : ''} ${cands.map((e) => `"${e.name}"`).join(', ')} failed repeatedly (circuit open); next probe in ${retryIn} ms.`, { endpoints: cands.map((e) => e.name), retryInMs: retryIn, ...(a.lastErr ? { lastError: a.lastErr.message } : {}) });
        this.errors.circuit_open = (this.errors.circuit_open ?? 0) + 1;
        throw err;
      }
      const ready = passable.filter((e) => !e.blocked(now) && e.hasCapacity);
      if (ready.length > 0) {
        const tiers = [
          ready.filter((e) => !a.tried.has(e.name) && e.healthy !== false),
          ready.filter((e) => !a.tried.has(e.name)),
          ready.filter((e) => e.healthy !== false),
          ready,
        ];
        const ep = pickWeighted(tiers.find((t) => t.length > 0)!);
        if (ep.breaker.tryAcquire()) {
          ep.inFlight++;
          return ep;
        }
        continue;
      }
      // Everything passable is busy or backing off: wait for a slot or for Retry-After to pass.
      const blocked = passable.filter((e) => e.blocked(now));
      const until = blocked.length > 0 ? Math.min(...blocked.map((e) => e.blockedUntil)) : Infinity;
      if (blocked.length === passable.length && until - now > this.o.maxRetryAfterMs && a.lastErr) throw a.lastErr;
      if (this.queued >= this.o.maxQueue) throw new FridayError('QUEUE_FULL', `More than ${this.o.maxQueue} requests are waiting for a remote endpoint.`);
      this.queued++;
      try {
        await this.waitForSlot(Number.isFinite(until) ? until - now : 1_000, a.signal);
      } finally {
        this.queued--;
      }
    }
  }

  private waitForSlot(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => { done(); reject(new FridayError('ABORTED', 'The request was aborted by the caller.')); };
      const t = setTimeout(done, Math.max(1, ms));
      this.waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ------------------------------------------------------------ one HTTP exchange

  /** The request body. Undefined fields are left in: JSON.stringify omits them. */
  private body(ep: Endpoint, leg: LegRequest, stream: boolean): Record<string, unknown> {
    const wantIds = stream ? ep.returnTokenIds : ep.returnTokenIds && leg.raw?.return_token_ids === true;
    const streamFields = stream ? { stream: true, stream_options: { include_usage: true } } : { stream: false };
    if (leg.kind === 'chat') {
      const { stream: _s, stream_options: _o, return_token_ids: rti, ...rest } = leg.chat!;
      return {
        ...rest, model: ep.model ?? rest.model ?? this.defaultModel, ...streamFields,
        return_token_ids: stream ? (wantIds ? true : undefined) : ep.returnTokenIds && rti ? true : undefined,
        ...(leg.continueFinal ? { continue_final_message: true, add_generation_prompt: false } : {}),
      } as Record<string, unknown>;
    }
    const g = leg.gen!;
    const { prompt: _p, stream: _s, stream_options: _o, return_token_ids: _r, ...raw } = leg.raw ?? {};
    return {
      ...raw, model: ep.model ?? (raw.model as string | undefined) ?? this.defaultModel, prompt: g.prompt, max_tokens: g.max_tokens,
      temperature: g.temperature ?? 0, top_p: g.top_p, top_k: g.top_k, min_p: g.min_p, repeat_penalty: g.repeat_penalty, seed: g.seed,
      stop: g.stop, logprobs: g.logprobs || g.top_logprobs ? true : undefined, top_logprobs: g.top_logprobs,
      ...streamFields, return_token_ids: wantIds ? true : undefined,
    };
  }

  /** One streamed request on one endpoint, as events. */
  private async *streamFrom(ep: Endpoint, leg: LegRequest, outer: AbortSignal): AsyncGenerator<LegBatch> {
    const t = this.transport ?? (await this.transportP);
    const x = this.exchange(ep, outer);
    const path = ep.path(leg.kind === 'chat' ? '/v1/chat/completions' : '/v1/completions');
    const promptIds = leg.kind === 'completion' && Array.isArray(leg.gen!.prompt) ? leg.gen!.prompt : undefined;
    const dec = new ChunkDecoder(leg.kind, ep.name, promptIds);
    let sawDone = false;
    x.arm(this.o.firstTokenTimeoutMs, 'timeout_first_token', `no token within ${this.o.firstTokenTimeoutMs} ms`);
    try {
      const res = await x.send(t, { method: 'POST', path, headers: ep.headers({ 'content-type': 'application/json', accept: 'text/event-stream' }), body: JSON.stringify(this.body(ep, leg, true)) });
      try {
        await x.checkStatus(res);
        const ctype = (res.header('content-type') ?? '').toLowerCase();
        if (!ctype.includes('text/event-stream')) {
          // Some servers ignore `stream`: accept a whole JSON answer.
          if (!ctype.includes('json')) throw remoteError('REMOTE_PROTOCOL', 'protocol', `Remote endpoint "${ep.name}" answered a stream request with content-type "${ctype}".`, { endpoint: ep.name });
          const obj = parseJson(await res.text(64 << 20), ep.name);
          x.clean();
          x.disarm();
          yield dec.fromResponse(obj);
          return;
        }
        const parser = new SseParser();
        for await (const bytes of res.body) {
          // All the events of one read go up as one batch; tokens before an error still go first.
          let out: LegBatch | undefined;
          let failure: unknown;
          try {
            for (const sse of parser.push(bytes)) {
              if (sawDone) continue;
              if (sse.data === '[DONE]') {
                sawDone = true;
                x.arm(this.o.interTokenTimeoutMs, 'timeout_inter_token', 'the stream did not end after [DONE]');
                continue;
              }
              if (sse.event === 'error') throw errorFromStreamEvent(tryJson(sse.data), ep.name);
              const evs = dec.push(parseJson(sse.data, ep.name));
              if (evs.length > 0) out = out ? out.concat(evs) : evs;
            }
          } catch (e) {
            failure = e;
          }
          if (out) {
            x.disarm(); // the consumer's pace is not the server's silence
            this.tokens += out.length;
            yield out;
            if (!sawDone) x.arm(this.o.interTokenTimeoutMs, 'timeout_inter_token', `no token within ${this.o.interTokenTimeoutMs} ms of the previous one`);
            else x.arm(this.o.interTokenTimeoutMs, 'timeout_inter_token', 'the stream did not end after [DONE]');
          }
          if (failure !== undefined) throw failure;
        }
        parser.end();
        x.clean();
      } catch (e) {
        // A server that never closes after [DONE]: the answer is complete, the socket is dropped.
        if (!(sawDone && dec.finished && x.timedOut)) throw x.reason(e, true);
      }
      x.disarm();
      yield [dec.final(sawDone)];
    } finally {
      x.finish();
    }
  }

  /** One non-streamed request on one endpoint. */
  private async *responseFrom(ep: Endpoint, leg: LegRequest, outer: AbortSignal): AsyncGenerator<Record<string, unknown>> {
    const t = this.transport ?? (await this.transportP);
    const x = this.exchange(ep, outer);
    const path = ep.path(leg.kind === 'chat' ? '/v1/chat/completions' : '/v1/completions');
    x.arm(this.o.requestTimeoutMs, 'timeout_response', `no complete response within ${this.o.requestTimeoutMs} ms`);
    try {
      const res = await x.send(t, { method: 'POST', path, headers: ep.headers({ 'content-type': 'application/json', accept: 'application/json' }), body: JSON.stringify(this.body(ep, leg, false)) });
      let obj: unknown;
      try {
        await x.checkStatus(res);
        obj = parseJson(await res.text(64 << 20), ep.name);
        x.clean();
      } catch (e) {
        throw x.reason(e, true);
      }
      x.disarm();
      if (typeof obj !== 'object' || obj === null || !Array.isArray((obj as { choices?: unknown }).choices)) {
        if (typeof obj === 'object' && obj !== null && 'error' in obj) throw errorFromStreamEvent(obj, ep.name);
        throw remoteError('REMOTE_PROTOCOL', 'protocol', `Remote endpoint "${ep.name}" sent a response without \`choices\`.`, { endpoint: ep.name });
      }
      const u = (obj as { usage?: { completion_tokens?: number } }).usage;
      if (typeof u?.completion_tokens === 'number') this.tokens += u.completion_tokens;
      yield { ...(obj as Record<string, unknown>), served_by: ep.name };
    } finally {
      x.finish();
    }
  }

  /** Per-exchange plumbing: abort controller, our timeouts, the reason an abort happened, socket hygiene. */
  private exchange(ep: Endpoint, outer: AbortSignal) {
    const ac = new AbortController();
    let why: FridayError | undefined;
    // One timer per exchange, not one per token: arm() moves a deadline; the timer, when it fires
    // early, sleeps again until the deadline (a token stream re-arms thousands of times a second).
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timerAt = Infinity;
    let deadline = Infinity;
    let expiry: { ms: number; kind: RemoteErrorKind; what: string } = { ms: 0, kind: 'timeout_first_token', what: '' };
    let clean = false;
    let timedOut = false;
    const abortWith = (e: FridayError) => { why ??= e; ac.abort(); };
    const schedule = (at: number) => {
      clearTimeout(timer);
      timerAt = at;
      timer = setTimeout(fire, Math.max(1, Math.ceil(at - performance.now())));
    };
    const fire = () => {
      timer = undefined;
      timerAt = Infinity;
      if (deadline === Infinity) return;
      if (performance.now() < deadline) return schedule(deadline);
      timedOut = true;
      abortWith(remoteError('REMOTE_UNAVAILABLE', expiry.kind, `Remote endpoint "${ep.name}": ${expiry.what}.`, { endpoint: ep.name, timeoutMs: expiry.ms }));
    };
    const onOuter = () => abortWith(new FridayError('ABORTED', 'The request was aborted by the caller.'));
    if (outer.aborted) onOuter();
    else outer.addEventListener('abort', onOuter, { once: true });
    const closer = () => abortWith(new FridayError('ENGINE_CLOSED', 'The remote engine was closed before this request finished.'));
    this.active.add(closer);
    const self = this;
    return {
      get timedOut() { return timedOut; },
      arm(ms: number, kind: 'timeout_first_token' | 'timeout_inter_token' | 'timeout_response', what: string) {
        if (ms <= 0) { deadline = Infinity; return; }
        deadline = performance.now() + ms;
        if (expiry.what !== what) expiry = { ms, kind, what };
        if (deadline < timerAt) schedule(deadline);
      },
      disarm() { deadline = Infinity; },
      clean() { clean = true; },
      async send(t: Transport, req: Parameters<Transport['request']>[1]): Promise<TransportResponse> {
        if (self.closed) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
        self.httpRequests++;
        try {
          return await t.request(ep.origin, { ...req, signal: ac.signal });
        } catch (e) {
          throw why ?? networkError(e, ep.name, false);
        }
      },
      async checkStatus(res: TransportResponse): Promise<void> {
        if (res.status >= 200 && res.status < 300) return;
        const text = await res.text(16 * 1024);
        clean = true;
        throw errorFromResponse(res.status, text, ep.name, parseRetryAfter(res.header('retry-after')));
      },
      reason(e: unknown, afterResponse: boolean): FridayError {
        if (why) return why;
        if (e instanceof FridayError) return e;
        return networkError(e, ep.name, afterResponse);
      },
      finish() {
        clearTimeout(timer);
        outer.removeEventListener('abort', onOuter);
        self.active.delete(closer);
        if (!clean) ac.abort(); // the body was not read to its end: drop the socket rather than reuse it
      },
    };
  }

  // ------------------------------------------------------------ health, metrics, lifecycle

  /** Runs a health check on every endpoint now; resolves with each endpoint's state. */
  async checkHealth(): Promise<{ name: string; healthy: boolean | undefined; path: string; error?: string }[]> {
    await Promise.all(this.endpoints.map((ep) => this.checkEndpoint(ep)));
    return this.endpoints.map((e) => ({ name: e.name, healthy: e.healthy, path: e.healthPath, ...(e.lastHealthError ? { error: e.lastHealthError } : {}) }));
  }

  private async checkEndpoint(ep: Endpoint): Promise<void> {
    if (this.closed || this.checking.has(ep)) return;
    this.checking.add(ep);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.o.healthTimeoutMs);
    const closer = () => ac.abort();
    this.active.add(closer);
    try {
      const t = await this.transportP;
      const get = async (path: string) => {
        this.httpRequests++;
        return t.request(ep.origin, { method: 'GET', path: ep.path(path), headers: ep.headers({ accept: 'application/json' }), signal: ac.signal });
      };
      let res = await get(ep.healthPath);
      if ((res.status === 404 || res.status === 405) && ep.healthPath === '/health') {
        await res.discard();
        ep.healthPath = '/v1/models';
        res = await get(ep.healthPath);
      }
      const text = await res.text(256 * 1024);
      ep.healthy = res.status === 200;
      ep.lastHealthError = ep.healthy ? undefined : `HTTP ${res.status}: ${text.slice(0, 200)}`;
      if (ep.healthy) ep.breaker.onHealthy();
      if (ep.healthy && ep.healthPath === '/v1/models' && !this.info.contextLength) {
        const ctx = (tryJson(text) as { data?: { context_length?: unknown }[] } | undefined)?.data?.[0]?.context_length;
        if (typeof ctx === 'number') this.info.contextLength = ctx;
      }
    } catch (e) {
      ep.healthy = false;
      ep.lastHealthError = ac.signal.aborted ? `no answer within ${this.o.healthTimeoutMs} ms` : (e as Error).message;
    } finally {
      clearTimeout(timer);
      this.active.delete(closer);
      this.checking.delete(ep);
    }
  }

  metrics(): RemoteMetrics {
    const t = this.transport;
    const newConnections = t?.newConnections();
    return {
      transport: t?.kind,
      requests: this.httpRequests,
      newConnections,
      connectionReuseRatio: newConnections === undefined || this.httpRequests === 0 ? undefined : 1 - newConnections / this.httpRequests,
      inFlight: this.inFlight,
      queued: this.queued,
      tokens: this.tokens,
      retries: this.retries,
      failovers: this.failovers,
      errors: { ...this.errors },
      endpoints: this.endpoints.map((e) => ({
        name: e.name, url: e.origin + e.prefix, healthy: e.healthy, circuit: e.breaker.state, inFlight: e.inFlight,
        maxConcurrency: e.maxConcurrency, weight: e.weight, requests: e.counters.requests, succeeded: e.counters.succeeded,
        failed: e.counters.failed, errors: { ...e.counters.errors }, ttft_ms: e.counters.ttft.summary(), latency_ms: e.counters.latency.summary(),
        pool: t?.poolStats(e.origin),
      })),
    };
  }

  /** Pool state for one endpoint's origin (undici: open/idle sockets). */
  poolStats(endpointName?: string): PoolSnapshot | undefined {
    const ep = endpointName ? this.endpoints.find((e) => e.name === endpointName) : this.endpoints[0];
    return ep ? this.transport?.poolStats(ep.origin) : undefined;
  }

  /** Prometheus text exposition of metrics(). */
  prometheus(prefix = 'friday_remote'): string {
    const m = this.metrics();
    const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    const lines = [
      `# TYPE ${prefix}_requests_total counter`, `${prefix}_requests_total ${m.requests}`,
      `# TYPE ${prefix}_in_flight gauge`, `${prefix}_in_flight ${m.inFlight}`,
      `# TYPE ${prefix}_queued gauge`, `${prefix}_queued ${m.queued}`,
      `# TYPE ${prefix}_retries_total counter`, `${prefix}_retries_total ${m.retries}`,
      `# TYPE ${prefix}_failovers_total counter`, `${prefix}_failovers_total ${m.failovers}`,
    ];
    if (m.newConnections !== undefined) lines.push(`# TYPE ${prefix}_new_connections_total counter`, `${prefix}_new_connections_total ${m.newConnections}`);
    if (m.connectionReuseRatio !== undefined) lines.push(`# TYPE ${prefix}_connection_reuse_ratio gauge`, `${prefix}_connection_reuse_ratio ${m.connectionReuseRatio.toFixed(4)}`);
    lines.push(`# TYPE ${prefix}_errors_total counter`);
    for (const [k, v] of Object.entries(m.errors)) lines.push(`${prefix}_errors_total{kind="${esc(k)}"} ${v}`);
    lines.push(`# TYPE ${prefix}_endpoint_up gauge`, `# TYPE ${prefix}_endpoint_in_flight gauge`, `# TYPE ${prefix}_endpoint_latency_ms summary`, `# TYPE ${prefix}_endpoint_ttft_ms summary`);
    for (const e of m.endpoints) {
      const l = `endpoint="${esc(e.name)}"`;
      lines.push(`${prefix}_endpoint_up{${l}} ${e.healthy === false || e.circuit === 'open' ? 0 : 1}`);
      lines.push(`${prefix}_endpoint_in_flight{${l}} ${e.inFlight}`);
      for (const [name, s] of [['latency_ms', e.latency_ms], ['ttft_ms', e.ttft_ms]] as const) {
        for (const [q, v] of [['0.5', s.p50], ['0.9', s.p90], ['0.99', s.p99]] as const) lines.push(`${prefix}_endpoint_${name}{${l},quantile="${q}"} ${v}`);
        lines.push(`${prefix}_endpoint_${name}_count{${l}} ${s.count}`);
      }
    }
    return lines.join('\n') + '\n';
  }

  stats(): EngineStats {
    return { running: this.inFlight, waiting: this.queued, kvPagesUsed: 0, kvPagesTotal: 0, prefixCacheHitRate: 0, tokensGenerated: this.tokens, steps: 0 };
  }

  /** Stops health checks, aborts requests in flight (ENGINE_CLOSED), closes the pools. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    for (const abort of [...this.active]) abort();
    this.wake();
    const t = await this.transportP.catch(() => undefined);
    await t?.close();
  }
}

function pickWeighted(eps: Endpoint[]): Endpoint {
  if (eps.length === 1) return eps[0]!;
  let total = 0;
  let best = eps[0]!;
  for (const e of eps) {
    e.current += e.weight;
    total += e.weight;
    if (e.current > best.current) best = e;
  }
  best.current -= total;
  return best;
}

function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function parseJson(s: string, endpoint: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    throw remoteError('REMOTE_PROTOCOL', 'protocol', `Remote endpoint "${endpoint}" sent data that is not JSON: ${JSON.stringify(s.slice(0, 80))}.`, { endpoint });
  }
}

export function validateCompletion(p: CompletionParams): GenerateRequest {
  if (typeof p.prompt !== 'string' && !(Array.isArray(p.prompt) && p.prompt.every((x) => Number.isInteger(x)))) {
    throw new FridayError('INVALID_REQUEST', '`prompt` must be a string or an array of token ids.', { param: 'prompt' });
  }
  return toGenerateRequest(p, p.prompt);
}

export function validateChat(p: ChatCompletionParams): GenerateRequest {
  if (!Array.isArray(p.messages) || p.messages.some((m) => typeof m !== 'object' || m === null || typeof m.role !== 'string' || typeof m.content !== 'string')) {
    throw new FridayError('INVALID_REQUEST', '`messages` must be an array of {role, content} with string content.', { param: 'messages' });
  }
  return toGenerateRequest(p, '');
}
