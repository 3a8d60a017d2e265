// The remote pool lives in main: one RemoteEngine (undici, keep-alive, breakers, failover) shared
// by every window, with the API keys main was configured with. Renderers start and abort streams
// over IPC and get events back; they never see a key, and a renderer-chosen endpoint only gets a
// key that main configured for that same origin.
import { FridayError, toFridayError } from '../../src/api/errors.js';
import type { ChatCompletionChunk, Engine } from '../../src/api/types.js';
import { RemoteEngine, type RemoteEngineOptions } from '../../src/remote/engine.js';
import type { RemoteMetrics } from '../../src/remote/engine.js';
import { LIMITS, type RemoteStartMessage, type RemoteStatus, type RemoteStreamMessage } from './bridge-types.js';

/** An endpoint as main's configuration knows it (keys included). */
export interface RemoteEndpointSecret {
  url: string;
  name?: string;
  apiKey?: string;
}

export interface RemoteProxyOptions {
  /** Endpoints (and keys) from main's configuration; active until a renderer configures others. */
  endpoints?: RemoteEndpointSecret[];
  /** Extra RemoteEngine options (timeouts, transport). */
  engineOptions?: Omit<RemoteEngineOptions, 'endpoints'>;
  /** How the engine is made (tests). Default: new RemoteEngine. */
  createEngine?: (o: RemoteEngineOptions) => Engine & { metrics(): RemoteMetrics };
}

type RemoteLike = Engine & { metrics(): RemoteMetrics };

/** Sends one message to the window that started the stream; false once the window is gone. */
export type SendFn = (m: RemoteStreamMessage) => void;

interface Stream {
  owner: number;
  ac: AbortController;
}

const originOf = (u: string) => {
  try {
    return new URL(u).origin;
  } catch {
    return undefined;
  }
};

/**
 * Reads main's remote configuration: FRIDAY_REMOTE_ENDPOINTS (comma-separated URLs) with
 * FRIDAY_REMOTE_API_KEY, and a JSON file `{ "endpoints": [{ "url", "apiKey"?, "name"? }] }`
 * (e.g. remote.json in the app's userData directory). Bad entries are skipped with a warning.
 */
export function loadRemoteConfig(env: Record<string, string | undefined>, fileText?: string, warn: (m: string) => void = () => {}): RemoteEndpointSecret[] {
  const out: RemoteEndpointSecret[] = [];
  const add = (e: RemoteEndpointSecret) => {
    const o = originOf(e.url);
    if (!o || !/^https?:/.test(e.url)) return warn(`ignoring remote endpoint "${e.url}": not an http(s) URL`);
    out.push(e);
  };
  for (const url of (env.FRIDAY_REMOTE_ENDPOINTS ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    add({ url, ...(env.FRIDAY_REMOTE_API_KEY ? { apiKey: env.FRIDAY_REMOTE_API_KEY } : {}) });
  }
  if (fileText) {
    try {
      const j = JSON.parse(fileText) as { endpoints?: unknown };
      for (const e of Array.isArray(j.endpoints) ? j.endpoints : []) {
        const r = e as Record<string, unknown>;
        if (typeof r.url !== 'string') { warn('ignoring a remote endpoint without a url'); continue; }
        add({ url: r.url, ...(typeof r.apiKey === 'string' ? { apiKey: r.apiKey } : {}), ...(typeof r.name === 'string' ? { name: r.name } : {}) });
      }
    } catch (e) {
      warn(`ignoring the remote configuration file: ${(e as Error).message}`);
    }
  }
  return out;
}

export class RemoteProxy {
  private engine: RemoteLike | undefined;
  private readonly secrets: RemoteEndpointSecret[];
  private active: RemoteEndpointSecret[] = [];
  private readonly streams = new Map<string, Stream>();
  private closed = false;

  constructor(private readonly opts: RemoteProxyOptions = {}) {
    this.secrets = opts.endpoints ?? [];
    if (this.secrets.length) this.use(this.secrets);
  }

  private use(endpoints: RemoteEndpointSecret[]): void {
    const old = this.engine;
    this.engine = undefined;
    this.active = endpoints;
    void old?.close().catch(() => {});
    if (!endpoints.length) return;
    const o: RemoteEngineOptions = {
      ...this.opts.engineOptions,
      endpoints: endpoints.map((e) => ({ url: e.url, ...(e.name ? { name: e.name } : {}), ...(e.apiKey ? { apiKey: e.apiKey } : {}) })),
    };
    this.engine = this.opts.createEngine ? this.opts.createEngine(o) : new RemoteEngine(o);
  }

  /**
   * The renderer's endpoint list (already validated URLs). A key from main's configuration is
   * attached only to an endpoint of the same origin. An empty list turns the remote off.
   */
  configure(urls: string[]): RemoteStatus {
    if (this.closed) throw new FridayError('ENGINE_CLOSED', 'The remote pool is closed.');
    const byOrigin = new Map(this.secrets.map((s) => [originOf(s.url), s]));
    this.use(urls.map((url) => {
      const s = byOrigin.get(originOf(url));
      return { url, ...(s?.apiKey ? { apiKey: s.apiKey } : {}) };
    }));
    return this.status();
  }

  status(): RemoteStatus {
    const eps = this.engine?.metrics().endpoints ?? [];
    return {
      configured: this.engine !== undefined,
      endpoints: eps.map((e, i) => ({ name: e.name, url: e.url, healthy: e.healthy, circuit: e.circuit, authenticated: Boolean(this.active[i]?.apiKey) })),
    };
  }

  /** Starts a stream for window `owner`; its messages go to `send`. Errors are sent, never thrown. */
  start(owner: number, msg: RemoteStartMessage, send: SendFn): void {
    const fail = (e: unknown) => send({ id: msg.id, type: 'error', error: this.redact(toFridayError(e)).toJSON() });
    if (this.streams.has(msg.id)) return fail(new FridayError('INVALID_REQUEST', `Stream id ${msg.id} is already in use.`, { param: 'id' }));
    if (this.countFor(owner) >= LIMITS.maxStreams) return fail(new FridayError('QUEUE_FULL', `Too many remote streams from this window (${LIMITS.maxStreams}).`));
    const engine = this.engine;
    if (!engine) return fail(new FridayError('REMOTE_UNAVAILABLE', 'No remote endpoint is configured. Set one in the settings.'));
    const ac = new AbortController();
    this.streams.set(msg.id, { owner, ac });
    void (async () => {
      try {
        if (msg.kind === 'generate') {
          for await (const event of engine.generate(msg.request, { signal: ac.signal })) send({ id: msg.id, type: 'event', event });
        } else {
          const chunks = await engine.chat.completions.create({ ...msg.params, stream: true }, { signal: ac.signal });
          for await (const chunk of chunks) send({ id: msg.id, type: 'chunk', chunk: chunk as ChatCompletionChunk });
          send({ id: msg.id, type: 'end' });
        }
      } catch (e) {
        fail(e);
      } finally {
        this.streams.delete(msg.id);
      }
    })();
  }

  /** Aborts a stream of `owner` (another window's stream id is ignored). */
  abort(owner: number, id: string): void {
    const s = this.streams.get(id);
    if (s && s.owner === owner) s.ac.abort(new FridayError('ABORTED', 'The request was aborted by the caller.'));
  }

  abortOwner(owner: number): void {
    for (const s of this.streams.values()) if (s.owner === owner) s.ac.abort(new FridayError('ABORTED', 'The window was closed.'));
  }

  countFor(owner: number): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.owner === owner) n++;
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.streams.values()) s.ac.abort();
    const e = this.engine;
    this.engine = undefined;
    await e?.close();
  }

  /** Errors can quote request details: make sure no key travels to a renderer inside one. */
  private redact(e: FridayError): FridayError {
    const keys = this.secrets.map((s) => s.apiKey).filter((k): k is string => Boolean(k));
    if (!keys.length) return e;
    const scrub = (s: string) => keys.reduce((acc, k) => acc.split(k).join('[redacted]'), s);
    const details = e.details ? (JSON.parse(scrub(JSON.stringify(e.details))) as Record<string, unknown>) : undefined;
    return new FridayError(e.code, scrub(e.message), details);
  }
}
