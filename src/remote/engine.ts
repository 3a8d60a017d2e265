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
import { FridayError } from '../api/errors.js';
import { Attempts, NO_NAMES } from './attempts.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionParams, Completion, CompletionChunk, CompletionParams, Engine,
  EngineInfo, EngineStats, GenerateEvent, GenerateRequest, GenerationStream, RequestOptions,
} from '../api/types.js';
import type { Tokenizer } from '../tokenizer/index.js';
import {
  chatChunks, completionChunks, generationStream, newMeta, type LegBatch, type LegEvent,
} from './chunks.js';
import { Endpoint } from './endpoint.js';
import { EndpointPicker } from './dispatch.js';
import { Exchanges, deadlineTickMs } from './exchange.js';
import { failoverEvents, runWithFailover, type FailoverOptions, type FailoverTarget, type LegRequest } from './failover.js';
import { checkEndpointHealth } from './health.js';
import { remotePrometheus, type RemoteMetrics } from './metrics.js';
import { REMOTE_DEFAULTS, type RemoteEngineOptions } from './options.js';
import { responseFrom, type RequestContext } from './requests.js';
import { createTransport, type PoolSnapshot } from './transport.js';
import { tryJson, validateChat, validateCompletion } from './wire.js';

export type { RemoteEndpointConfig } from './endpoint.js';
export type { EndpointMetrics, RemoteMetrics } from './metrics.js';
export type { RemoteEngineOptions } from './options.js';
export { validateChat, validateCompletion } from './wire.js';

const dropUndefined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

export class RemoteEngine implements Engine {
  readonly info: EngineInfo;
  readonly endpoints: Endpoint[];
  /** Settable: the router sets it once the local model (same model) is loaded. */
  tokenizer: Tokenizer | undefined;
  readonly chat;
  readonly completions;
  private readonly o: typeof REMOTE_DEFAULTS;
  /** What each exchange needs: the transport, the deadline set, options, the token count. */
  private readonly cx: RequestContext;
  /** Abort functions of the health checks in flight (close() calls them). */
  private readonly active = new Set<() => void>();
  private healthTimer: ReturnType<typeof setInterval> | undefined;
  private readonly checking = new Set<Endpoint>();
  private closed = false;
  private inFlight = 0;
  private healthRequests = 0;
  private failovers = 0;
  private readonly picker: EndpointPicker;
  private readonly attempts: Attempts;
  // Made once, not per stream.
  private readonly streamStarted = () => { this.inFlight++; };
  private readonly streamEnded = () => { this.inFlight--; };

  constructor(opts: RemoteEngineOptions) {
    if (!opts.endpoints?.length) throw new FridayError('INVALID_REQUEST', 'RemoteEngine needs at least one endpoint.', { param: 'endpoints' });
    this.o = { ...REMOTE_DEFAULTS, ...dropUndefined(opts as unknown as Record<string, unknown>) } as typeof REMOTE_DEFAULTS;
    const defaults = { apiKey: opts.apiKey, model: opts.model, headers: opts.headers };
    this.endpoints = opts.endpoints.map((e) => new Endpoint(typeof e === 'string' ? { url: e } : e, defaults, opts.breaker ?? {}));
    const names = new Set(this.endpoints.map((e) => e.name));
    if (names.size !== this.endpoints.length) throw new FridayError('INVALID_REQUEST', 'Remote endpoint names must be unique.', { param: 'endpoints' });
    this.picker = new EndpointPicker(this.endpoints, this.o, () => this.closed, () => { const e = this.attempts.errors; e.circuit_open = (e.circuit_open ?? 0) + 1; });
    this.tokenizer = opts.tokenizer;
    this.info = { kind: 'remote', model: opts.model ?? this.endpoints[0]!.model ?? 'remote', contextLength: this.o.contextLength };
    const transportP = createTransport({
      maxConnections: (origin) => this.endpoints.filter((e) => e.origin === origin).reduce((n, e) => n + e.maxConcurrency, 0),
      idleTimeoutMs: this.o.idleTimeoutMs,
      connectTimeoutMs: this.o.connectTimeoutMs,
    }, opts.transport);
    const o = this.o;
    this.cx = {
      transport: undefined, transportP, o, defaultModel: opts.model, tokens: 0,
      exchanges: new Exchanges(deadlineTickMs(o.firstTokenTimeoutMs, o.interTokenTimeoutMs, o.requestTimeoutMs)),
      timeoutWhat: {
        firstToken: `no token within ${o.firstTokenTimeoutMs} ms`,
        interToken: `no token within ${o.interTokenTimeoutMs} ms of the previous one`,
        response: `no complete response within ${o.requestTimeoutMs} ms`,
      },
    };
    transportP.then((t) => { this.cx.transport = t; }, () => undefined);
    this.attempts = new Attempts(this.endpoints, this.picker, o, this.cx);
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

  generate(request: GenerateRequest, options: RequestOptions = NO_OPTIONS): GenerationStream {
    return generationStream(this.stream(new CompletionLeg(request), options, true));
  }

  /** Can a stream of this kind that already produced tokens be continued on one of our endpoints? */
  canContinue(kind: 'completion' | 'chat', exclude: ReadonlySet<string> = NO_NAMES): boolean {
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
  stream(leg: LegRequest, options?: RequestOptions): AsyncIterable<LegBatch>;
  /** With `events`: the public events, one by one (generate()). */
  stream(leg: LegRequest, options: RequestOptions, events: true): AsyncIterable<GenerateEvent>;
  stream(leg: LegRequest, options: RequestOptions = {}, events = false): AsyncIterable<LegBatch> | AsyncIterable<GenerateEvent> {
    const signal = options.signal;
    let exclude = NO_NAMES; // endpoints failed over from: a new Set on each failover (rare)
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
      exclude = new Set([...exclude, ep]);
      if (!this.endpoints.some((e) => !exclude.has(e.name))) return undefined;
      this.failovers++;
      return this.target(exclude);
    };
    const opts = new StreamOptions(signal, this.tokenizer, this.streamStarted, this.streamEnded);
    return events ? failoverEvents(leg, next, opts) : runWithFailover(leg, next, opts);
  }

  private target(exclude: ReadonlySet<string>): FailoverTarget {
    return new EndpointsTarget(this, exclude);
  }

  /** One target's events (EndpointsTarget's open): see attempts.ts. */
  openStream(leg: LegRequest, exclude: ReadonlySet<string>, signal: AbortSignal | undefined): AsyncIterable<LegEvent | LegBatch> {
    return this.attempts.stream(leg, exclude, signal);
  }

  /** A non-streamed request: the server's JSON with `served_by` set to the endpoint name. */
  private async nonStream(leg: LegRequest, options: RequestOptions = {}): Promise<Record<string, unknown>> {
    if (this.closed) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
    this.inFlight++;
    try {
      return await this.attempts.run(options.signal, (ep, s, started) => responseFrom(this.cx, ep, leg, s, started));
    } finally {
      this.inFlight--;
    }
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
    try {
      const models = await checkEndpointHealth(ep, this.cx.transportP, { timeoutMs: this.o.healthTimeoutMs, active: this.active, onSend: () => { this.healthRequests++; } });
      if (models !== undefined && !this.info.contextLength) {
        const ctx = (tryJson(models) as { data?: { context_length?: unknown }[] } | undefined)?.data?.[0]?.context_length;
        if (typeof ctx === 'number') this.info.contextLength = ctx;
      }
    } finally {
      this.checking.delete(ep);
    }
  }

  metrics(): RemoteMetrics {
    const t = this.cx.transport;
    const newConnections = t?.newConnections();
    const requests = this.cx.exchanges.sent + this.healthRequests;
    return {
      transport: t?.kind,
      requests,
      newConnections,
      connectionReuseRatio: newConnections === undefined || requests === 0 ? undefined : 1 - newConnections / requests,
      inFlight: this.inFlight,
      queued: this.picker.queued,
      tokens: this.cx.tokens,
      retries: this.attempts.retries,
      failovers: this.failovers,
      errors: { ...this.attempts.errors },
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
    return ep ? this.cx.transport?.poolStats(ep.origin) : undefined;
  }

  /** Prometheus text exposition of metrics(). */
  prometheus(prefix = 'friday_remote'): string {
    return remotePrometheus(this.metrics(), prefix);
  }

  stats(): EngineStats {
    return { running: this.inFlight, waiting: this.picker.queued, kvPagesUsed: 0, kvPagesTotal: 0, prefixCacheHitRate: 0, tokensGenerated: this.cx.tokens, steps: 0 };
  }

  /** Stops health checks, aborts requests in flight (ENGINE_CLOSED), closes the pools. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    this.cx.exchanges.closeAll();
    for (const abort of [...this.active]) abort();
    this.picker.wake();
    const t = await this.cx.transportP.catch(() => undefined);
    await t?.close();
  }
}

// What a stream keeps for its whole life: class instances, not object literals, which V8 may
// pretenure at hundreds of streams (see docs/ARCHITECTURE.md, the remote client).
class CompletionLeg implements LegRequest {
  readonly kind = 'completion';
  constructor(readonly gen: GenerateRequest) {}
}

class StreamOptions implements FailoverOptions {
  constructor(
    readonly signal: AbortSignal | undefined, readonly tokenizer: Tokenizer | undefined,
    readonly onStart: () => void, readonly onEnd: () => void,
  ) {}
}

const NO_OPTIONS: RequestOptions = Object.freeze({});

/** This engine's endpoints, less those already failed over from, as one failover target. */
class EndpointsTarget implements FailoverTarget {
  readonly name = 'remote';
  constructor(private readonly engine: RemoteEngine, private readonly exclude: ReadonlySet<string>) {}
  canContinue(kind: 'completion' | 'chat'): boolean {
    return this.engine.canContinue(kind, this.exclude);
  }
  open(leg: LegRequest, signal: AbortSignal | undefined): AsyncIterable<LegEvent | LegBatch> {
    return this.engine.openStream(leg, this.exclude, signal);
  }
}
