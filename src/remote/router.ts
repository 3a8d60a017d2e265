// RouterEngine: one Engine over a local engine and a RemoteEngine.
//
// Policies: `local-only`, `remote-only`, `prefer-local` (default), `prefer-remote`.
// prefer-local sends a request to the remote when the local side is not available — no WebGPU, or
// only a software adapter (unless `allowSoftware`), the device was lost, the model does not fit
// (the local promise rejected with NO_WEBGPU / MODEL_TOO_LARGE / DEVICE_LOST, or any other load
// error), the model is still loading and the caller asked not to wait — or when the local queue is
// over its threshold (overflow: `queueDepth(local) > overflowWaiting`, default `stats().waiting`).
//
// Whatever the first choice, the other side is the failover target: a request that fails before
// its first token is re-sent there; one that fails mid-stream (local DEVICE_LOST, a remote that
// dies) continues there (see failover.ts). Every final event and every response carries
// `served_by`: "local" or the endpoint's name (after a failover: the target that finished).
import { FridayError, toFridayError } from '../api/errors.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionParams, Completion, CompletionChunk, CompletionParams, Engine,
  EngineInfo, EngineStats, GenerateEvent, GenerateRequest, GenerationStream, RequestOptions,
} from '../api/types.js';
import type { Tokenizer } from '../tokenizer/index.js';
import {
  chatChunks, collectChat, collectCompletion, completionChunks, eventsFromChunks, generationStream, newMeta,
  type LegBatch, type LegEvent,
} from './chunks.js';
import { RemoteEngine, validateChat, validateCompletion, type RemoteEngineOptions, type RemoteMetrics } from './engine.js';
import { failoverEvents, runWithFailover, type FailoverTarget, type LegRequest } from './failover.js';

const closedError = () => new FridayError('ENGINE_CLOSED', 'The engine is closed.');

export type RoutingPolicy = 'local-only' | 'remote-only' | 'prefer-local' | 'prefer-remote';

export type LocalSource = Engine | Promise<Engine> | (() => Promise<Engine>);

export interface RouterOptions {
  policy?: RoutingPolicy;
  /** The local engine: an engine, a promise of one (rejection = not available), or a factory called on first need. */
  local?: LocalSource;
  /** The remote side: a RemoteEngine, or options to build one (the router then owns it). */
  remote?: RemoteEngine | RemoteEngineOptions;
  /** Use a software (CPU) WebGPU adapter locally. Default false: such a local engine counts as unavailable. */
  allowSoftware?: boolean;
  /** prefer-local overflows to the remote when the local queue depth exceeds this. Default 4. */
  overflowWaiting?: number;
  /** The local queue depth. Default `engine.stats().waiting`. */
  queueDepth?: (local: Engine) => number;
  /** Wait for a still-loading local model (default true); per request via RouterRequestOptions. */
  waitForLocal?: boolean;
  /** The model's tokenizer; default: the local engine's (`engine.model.tokenizer`) once loaded. */
  tokenizer?: Tokenizer;
  /** Close the local engine in close(). Default true. */
  closeLocal?: boolean;
  /** `info.model`; default the local model's name, else the remote's. */
  modelName?: string;
}

export interface RouterRequestOptions extends RequestOptions {
  /** false: if the local model is still loading, go to the remote instead of waiting. */
  waitForLocal?: boolean;
}

export type LocalState = 'none' | 'idle' | 'loading' | 'ready' | 'unavailable' | 'lost';

export interface RouterMetrics {
  policy: RoutingPolicy;
  local: { state: LocalState; reason?: string };
  /** Requests by first target and reason, e.g. `local`, `remote:overflow`, `remote:loading`. */
  routed: Record<string, number>;
  /** Streams that moved to another target (before or after their first token). */
  failovers: number;
  remote: RemoteMetrics | undefined;
}

interface LocalCheck { engine?: Engine; reason?: string; error?: FridayError }

export class RouterEngine implements Engine {
  readonly policy: RoutingPolicy;
  readonly remote: RemoteEngine | undefined;
  readonly chat;
  readonly completions;
  private readonly ownsRemote: boolean;
  private readonly localSrc: LocalSource | undefined;
  private localP: Promise<Engine> | undefined;
  private localEngine: Engine | undefined;
  private localError: FridayError | undefined;
  private localLost: FridayError | undefined;
  private tokenizer: Tokenizer | undefined;
  private readonly routed: Record<string, number> = {};
  /** Requests routed to the local engine that have not reached it yet (counted as queued). */
  private localAdmitting = 0;
  private failovers = 0;
  private closed = false;

  constructor(private readonly opts: RouterOptions) {
    this.policy = opts.policy ?? 'prefer-local';
    this.localSrc = opts.local;
    if (opts.remote instanceof RemoteEngine) {
      this.remote = opts.remote;
      this.ownsRemote = false;
    } else {
      this.remote = opts.remote ? new RemoteEngine(opts.remote) : undefined;
      this.ownsRemote = true;
    }
    if (this.policy === 'remote-only' && !this.remote) throw new FridayError('INVALID_REQUEST', 'Policy remote-only needs `remote`.', { param: 'remote' });
    if (this.policy === 'local-only' && !this.localSrc) throw new FridayError('INVALID_REQUEST', 'Policy local-only needs `local`.', { param: 'local' });
    this.tokenizer = opts.tokenizer;
    if (this.tokenizer && this.remote && !this.remote.tokenizer) this.remote.tokenizer = this.tokenizer;
    // An engine or a promise is already loading: observe it now. A factory waits for the first need.
    if (this.localSrc && typeof this.localSrc !== 'function') this.startLocal();

    const self = this;
    const decode = () => (this.tokenizer ? (id: number) => this.tokenizer!.decode([id]) : undefined);
    async function chatCreate(p: ChatCompletionParams & { stream: true }, o?: RouterRequestOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
    async function chatCreate(p: ChatCompletionParams & { stream?: false }, o?: RouterRequestOptions): Promise<ChatCompletion>;
    async function chatCreate(p: ChatCompletionParams, o?: RouterRequestOptions): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
      validateChat(p);
      const events = self.run({ kind: 'chat', chat: p }, o);
      const m = newMeta('chat', p.model ?? self.info.model);
      return p.stream ? chatChunks(events, m, p, decode()) : collectChat(events, m, p, decode());
    }
    async function completionCreate(p: CompletionParams & { stream: true }, o?: RouterRequestOptions): Promise<AsyncIterable<CompletionChunk>>;
    async function completionCreate(p: CompletionParams & { stream?: false }, o?: RouterRequestOptions): Promise<Completion>;
    async function completionCreate(p: CompletionParams, o?: RouterRequestOptions): Promise<Completion | AsyncIterable<CompletionChunk>> {
      const gen = validateCompletion(p);
      const events = self.run({ kind: 'completion', gen, raw: p as unknown as Record<string, unknown> }, o);
      const m = newMeta('completion', p.model ?? self.info.model);
      return p.stream ? completionChunks(events, m, p, decode()) : collectCompletion(events, m, p, decode());
    }
    this.chat = { completions: { create: chatCreate } };
    this.completions = { create: completionCreate };
  }

  get info(): EngineInfo {
    const l = this.localEngine && !this.localLost ? this.localEngine.info : undefined;
    return {
      kind: 'router',
      model: this.opts.modelName ?? this.localEngine?.info.model ?? this.remote?.info.model ?? 'unknown',
      contextLength: l?.contextLength ?? this.remote?.info.contextLength ?? 0,
      ...(l?.adapter ? { adapter: l.adapter } : {}),
    };
  }

  generate(request: GenerateRequest, options: RouterRequestOptions = {}): GenerationStream {
    return generationStream(this.run({ kind: 'completion', gen: request }, options, true));
  }

  /** Starts loading the local engine if it was given as a factory. Resolves when it settles. */
  async warmup(): Promise<LocalState> {
    await this.startLocal()?.catch(() => undefined);
    return this.localState().state;
  }

  localState(): { state: LocalState; reason?: string } {
    if (!this.localSrc) return { state: 'none' };
    if (this.localLost) return { state: 'lost', reason: this.localLost.message };
    if (this.localError) return { state: 'unavailable', reason: this.localError.message };
    if (this.localEngine) {
      const sw = this.localEngine.info.adapter?.is_software && !this.opts.allowSoftware;
      return sw ? { state: 'unavailable', reason: 'software adapter not allowed' } : { state: 'ready' };
    }
    return { state: this.localP ? 'loading' : 'idle' };
  }

  private startLocal(): Promise<Engine> | undefined {
    const src = this.localSrc;
    if (!src) return undefined;
    if (!this.localP) {
      let p: Promise<Engine>;
      try {
        p = Promise.resolve(typeof src === 'function' ? src() : src);
      } catch (e) {
        p = Promise.reject(e);
      }
      this.localP = p;
      p.then((e) => {
        this.localEngine = e;
        this.tokenizer ??= (e as { model?: { tokenizer?: Tokenizer } }).model?.tokenizer;
        if (this.tokenizer && this.remote && !this.remote.tokenizer) this.remote.tokenizer = this.tokenizer;
      }, (err) => {
        this.localError = toFridayError(err);
      });
    }
    return this.localP;
  }

  private async localFor(wait: boolean): Promise<LocalCheck> {
    if (!this.localSrc) return { reason: 'none' };
    if (this.localLost) return { reason: 'device_lost', error: this.localLost };
    const p = this.startLocal()!;
    if (!this.localEngine && !this.localError) {
      if (!wait) return { reason: 'loading', error: new FridayError('ENGINE_CLOSED', 'The local model is still loading.') };
      await p.catch(() => undefined);
    }
    if (this.localError) {
      const c = this.localError.code;
      const reason = c === 'NO_WEBGPU' ? 'no_webgpu' : c === 'MODEL_TOO_LARGE' ? 'model_too_large' : c === 'DEVICE_LOST' ? 'device_lost' : 'load_failed';
      return { reason, error: this.localError };
    }
    const e = this.localEngine!;
    if (e.info.adapter?.is_software && !this.opts.allowSoftware) {
      return { reason: 'software_adapter', error: new FridayError('NO_WEBGPU', `Only a software WebGPU adapter (${e.info.adapter.architecture}) is available locally and software adapters are not allowed (allowSoftware).`, { adapter: e.info.adapter }) };
    }
    return { engine: e };
  }

  private queueDepth(e: Engine): number {
    return this.opts.queueDepth ? this.opts.queueDepth(e) : e.stats().waiting;
  }

  private route(key: string): void {
    this.routed[key] = (this.routed[key] ?? 0) + 1;
  }

  /**
   * The targets for one request, in order: the first choice, then the failover target. A request
   * sent to the local engine holds a reservation until it reaches it, so a burst of requests sees
   * the queue it is building (the engine's own count only moves once they are admitted).
   */
  private async plan(o: RouterRequestOptions, reservation: { held: boolean }): Promise<FailoverTarget[]> {
    const wait = o.waitForLocal ?? this.opts.waitForLocal ?? true;
    const R = this.remote ? this.remoteTarget() : undefined;
    const L = this.localSrc ? this.localTarget(reservation) : undefined;
    const reserve = () => { reservation.held = true; this.localAdmitting++; };
    const none = (a: LocalCheck) => a.error ?? new FridayError('REMOTE_UNAVAILABLE', 'Neither a local engine nor a remote is available.', { kind: 'no_endpoint' });
    switch (this.policy) {
      case 'remote-only':
        this.route('remote:policy');
        return [R!];
      case 'local-only': {
        const a = await this.localFor(true);
        if (!a.engine && a.reason !== 'software_adapter') throw none(a);
        this.route('local');
        reserve();
        return [L!];
      }
      case 'prefer-remote': {
        if (R && this.remote!.available) {
          this.route('remote:policy');
          const a = L ? await this.localFor(false) : {};
          return a.engine || (L && a.reason === 'loading' && wait) ? [R, L!] : [R];
        }
        const a = await this.localFor(wait);
        if (a.engine) {
          this.route('local:remote_unavailable');
          reserve();
          return R ? [L!, R] : [L!];
        }
        if (R) {
          this.route(`remote:${a.reason}`);
          return [R];
        }
        throw none(a);
      }
      case 'prefer-local':
      default: {
        const a = await this.localFor(wait);
        if (a.engine) {
          if (R && this.queueDepth(a.engine) + this.localAdmitting > (this.opts.overflowWaiting ?? 4)) {
            this.route('remote:overflow');
            return [R, L!];
          }
          this.route('local');
          reserve();
          return R ? [L!, R] : [L!];
        }
        if (R) {
          this.route(`remote:${a.reason}`);
          return [R];
        }
        throw none(a);
      }
    }
  }

  private localTarget(reservation: { held: boolean }): FailoverTarget {
    return { name: 'local', canContinue: (kind) => kind === 'completion', open: (leg, signal) => this.openLocal(leg, signal, reservation) };
  }

  private release(reservation: { held: boolean }): void {
    if (!reservation.held) return;
    reservation.held = false;
    this.localAdmitting--;
  }

  private remoteTarget(): FailoverTarget {
    const r = this.remote!;
    return { name: 'remote', canContinue: (kind) => r.canContinue(kind), open: (leg, signal) => r.stream(leg, { signal }) };
  }

  private async *openLocal(leg: LegRequest, signal: AbortSignal | undefined, reservation: { held: boolean }): AsyncGenerator<LegEvent | LegBatch> {
    let a: LocalCheck;
    try {
      a = await this.localFor(true);
    } catch (e) {
      this.release(reservation);
      throw e;
    }
    const engine = a.engine ?? (a.reason === 'software_adapter' && this.policy === 'local-only' ? this.localEngine : undefined);
    if (!engine) {
      this.release(reservation);
      throw a.error ?? new FridayError('NO_WEBGPU', 'No local engine.');
    }
    try {
      if (leg.kind === 'completion') {
        const stream = engine.generate(leg.gen!, { signal });
        this.release(reservation); // admitted (or refused): the engine's own queue count takes over
        yield* stream;
      } else {
        const pending = engine.chat.completions.create({ ...leg.chat!, stream: true, return_token_ids: true, stream_options: { include_usage: true } }, { signal });
        this.release(reservation);
        yield* eventsFromChunks(await pending, 'chat', 'local');
      }
    } catch (e) {
      const err = toFridayError(e);
      if (err.code === 'DEVICE_LOST') this.localLost ??= err;
      throw err;
    }
  }

  /**
   * One request over the planned targets, with failover. No generator of its own around the
   * failover stream: the plan is made when the stream asks for its first target, and the
   * reservation is released when the stream ends (any way).
   */
  private run(leg: LegRequest, o?: RouterRequestOptions): AsyncIterable<LegBatch>;
  private run(leg: LegRequest, o: RouterRequestOptions, events: true): AsyncIterable<GenerateEvent>;
  private run(leg: LegRequest, o: RouterRequestOptions = {}, events = false): AsyncIterable<LegBatch> | AsyncIterable<GenerateEvent> {
    // Nothing local to fall back to: the remote engine, which fails over across its own endpoints,
    // is the only target, and its stream is the stream (no failover layer of ours around it).
    // Counted, and refused once closed, when it is first read, as the failover path does.
    const only = this.policy === 'remote-only' || !this.localSrc ? this.remote : undefined;
    if (only) {
      const stream: AsyncIterable<LegBatch | GenerateEvent> = events ? only.stream(leg, o, true) : only.stream(leg, o);
      return {
        [Symbol.asyncIterator]: () => {
          if (this.closed) return { next: () => Promise.reject(closedError()) };
          this.route(this.policy === 'remote-only' ? 'remote:policy' : 'remote:none');
          return stream[Symbol.asyncIterator]();
        },
      } as AsyncIterable<LegBatch> & AsyncIterable<GenerateEvent>;
    }
    const reservation = { held: false };
    let targets: FailoverTarget[] | undefined;
    let i = 0;
    const next = async (): Promise<FailoverTarget | undefined> => {
      if (!targets) {
        if (this.closed) throw closedError();
        targets = await this.plan(o, reservation);
      }
      return targets[i++];
    };
    const opts = {
      signal: o.signal,
      tokenizer: this.tokenizer,
      onFailover: () => { this.failovers++; },
      onEnd: () => this.release(reservation),
    };
    return events ? failoverEvents(leg, next, opts) : runWithFailover(leg, next, opts);
  }

  stats(): EngineStats {
    const l = this.localEngine && !this.localLost ? this.localEngine.stats() : undefined;
    const r = this.remote?.stats();
    return {
      running: (l?.running ?? 0) + (r?.running ?? 0),
      waiting: (l?.waiting ?? 0) + (r?.waiting ?? 0),
      kvPagesUsed: l?.kvPagesUsed ?? 0,
      kvPagesTotal: l?.kvPagesTotal ?? 0,
      prefixCacheHitRate: l?.prefixCacheHitRate ?? 0,
      tokensGenerated: (l?.tokensGenerated ?? 0) + (r?.tokensGenerated ?? 0),
      steps: l?.steps ?? 0,
    };
  }

  metrics(): RouterMetrics {
    return { policy: this.policy, local: this.localState(), routed: { ...this.routed }, failovers: this.failovers, remote: this.remote?.metrics() };
  }

  /** Prometheus text: the local engine's own (if it has `prometheus()`), then routing and remote metrics. */
  prometheus(): string {
    const l = this.localEngine as { prometheus?: () => string } | undefined;
    const lines: string[] = [];
    lines.push('# TYPE friday_router_routed_total counter');
    for (const [k, v] of Object.entries(this.routed)) {
      const [target, reason] = k.split(':');
      lines.push(`friday_router_routed_total{target="${target}",reason="${reason ?? 'first_choice'}"} ${v}`);
    }
    lines.push('# TYPE friday_router_failovers_total counter', `friday_router_failovers_total ${this.failovers}`);
    lines.push('# TYPE friday_router_local_available gauge', `friday_router_local_available ${this.localState().state === 'ready' ? 1 : 0}`);
    return (l?.prometheus?.() ?? '') + lines.join('\n') + '\n' + (this.remote?.prometheus() ?? '');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const tasks: Promise<unknown>[] = [];
    if (this.remote && this.ownsRemote) tasks.push(this.remote.close());
    if (this.localP && (this.opts.closeLocal ?? true)) tasks.push(this.localP.then((e) => e.close(), () => undefined));
    await Promise.all(tasks);
  }
}
