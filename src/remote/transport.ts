// HTTP for the remote engine. Node and Electron main: undici, one keep-alive Pool per origin (max
// connections, idle timeout, connect timeout; transport-undici.ts) — imported dynamically so browser
// bundles never see it. Browser and workers: fetch, with a per-origin concurrency limit (the
// browser owns the sockets).
import { FridayError } from '../api/errors.js';
import { detectRuntime, type Runtime } from '../platform/env.js';
import { toAbortSignal, type AbortLike } from './abort.js';
import type * as Undici from 'undici';
import { PipedResponse, type BodyFlow, type BodySink, type ResponseReceiver, type TransportResponse } from './body.js';
import { UndiciTransport } from './transport-undici.js';

export type { BodyFlow, BodySink, ResponseReceiver, TransportResponse } from './body.js';

export interface TransportRequest {
  method: 'GET' | 'POST';
  /** Path and query, starting with "/". */
  path: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortLike;
  /** A health check: sent on a connection of its own (undici), outside the concurrency limit (fetch), so it never waits behind streams. */
  probe?: boolean;
}

export interface PoolSnapshot {
  /** Open sockets. */
  connected: number;
  /** Open sockets with no request on them (idle keep-alive). */
  free: number;
  /** Requests currently on a socket. */
  running: number;
  /** Requests waiting for a socket. */
  pending: number;
  /** Sockets opened since the pool was created. */
  newConnections: number;
  /** Sockets closed since the pool was created. */
  closedConnections: number;
}

export interface Transport {
  readonly kind: 'undici' | 'fetch';
  request(origin: string, req: TransportRequest): Promise<TransportResponse>;
  /**
   * request() without a promise: the response (or the failure) goes to `rc`. A streamed request
   * is sent this way, so nothing waits in a promise while hundreds of them are in flight.
   */
  open(origin: string, req: TransportRequest, rc: ResponseReceiver): void;
  /** Per-origin pool state; fetch cannot see sockets, so it reports requests only. */
  poolStats(origin: string): PoolSnapshot | undefined;
  /** Sockets opened so far, all origins (undefined for fetch: the browser does not say). */
  newConnections(): number | undefined;
  close(): Promise<void>;
}

export interface TransportOptions {
  /** Max sockets (undici) or concurrent requests (fetch) per origin; health checks (`probe`) come on top. */
  maxConnections: (origin: string) => number;
  /** Idle keep-alive sockets are closed after this long (a server's shorter Keep-Alive hint wins). */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

export async function createTransport(opts: TransportOptions, kind?: 'undici' | 'fetch', runtime: Runtime = detectRuntime()): Promise<Transport> {
  const useUndici = kind ? kind === 'undici' : runtime === 'node' || runtime === 'electron-main';
  if (useUndici) {
    // A non-literal specifier: bundlers for the browser leave it alone (it is never reached there).
    const spec = 'undici';
    const undici = (await import(/* @vite-ignore */ spec)) as typeof Undici;
    return new UndiciTransport(undici, opts);
  }
  if (typeof globalThis.fetch !== 'function') throw new FridayError('REMOTE_UNAVAILABLE', 'No fetch() in this environment.', { kind: 'connect' });
  return new FetchTransport(opts);
}

// ---------------------------------------------------------------- fetch

class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly max: number) {}
  get running(): number { return this.active; }
  get waiting(): number { return this.queue.length; }
  async acquire(signal?: AbortLike): Promise<() => void> {
    if (this.active >= this.max) {
      await new Promise<void>((resolve, reject) => {
        const go = () => { signal?.removeEventListener('abort', onAbort); resolve(); };
        const onAbort = () => {
          const i = this.queue.indexOf(go);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new FridayError('ABORTED', 'The request was aborted while waiting for a connection.'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.queue.push(go);
      });
    }
    this.active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.queue.shift()?.();
    };
  }
}

class FetchTransport implements Transport {
  readonly kind = 'fetch';
  private readonly limits = new Map<string, Semaphore>();

  constructor(private readonly opts: TransportOptions) {}

  private limit(origin: string): Semaphore {
    let s = this.limits.get(origin);
    if (!s) this.limits.set(origin, (s = new Semaphore(Math.max(1, this.opts.maxConnections(origin)))));
    return s;
  }

  async request(origin: string, req: TransportRequest): Promise<TransportResponse> {
    const release = req.probe ? () => undefined : await this.limit(origin).acquire(req.signal);
    let res: Response;
    try {
      res = await fetch(origin + req.path, { method: req.method, headers: req.headers, body: req.body, signal: req.signal && toAbortSignal(req.signal) });
    } catch (e) {
      release();
      throw e;
    }
    return new FetchResponse(res, release);
  }

  open(origin: string, req: TransportRequest, rc: ResponseReceiver): void {
    this.request(origin, req).then((res) => rc.response(res), (e: unknown) => rc.failed(e));
  }

  poolStats(origin: string): PoolSnapshot | undefined {
    const s = this.limits.get(origin);
    if (!s) return undefined;
    return { connected: s.running, free: 0, running: s.running, pending: s.waiting, newConnections: 0, closedConnections: 0 };
  }

  newConnections(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    this.limits.clear();
  }
}

/** A fetch() response piped by a read loop; the concurrency slot is released when the body is done. */
class FetchResponse extends PipedResponse {
  readonly status: number;

  constructor(private readonly res: Response, private readonly release: () => void) {
    super();
    this.status = res.status;
    if (!res.body) release();
  }

  header(name: string): string | undefined {
    return this.res.headers.get(name) ?? undefined;
  }

  pipe(sink: BodySink): BodyFlow {
    const reader = this.res.body?.getReader();
    let cancelled = false;
    let resume: (() => void) | undefined;
    let paused: Promise<void> | undefined;
    const loop = async () => {
      if (!reader) return sink.end();
      try {
        for (;;) {
          if (paused) await paused;
          const r = await reader.read();
          if (cancelled) return;
          if (r.done) break;
          sink.data(r.value);
        }
        sink.end();
      } catch (e) {
        if (!cancelled) sink.error(e);
      } finally {
        this.release();
      }
    };
    void loop();
    return {
      pause: () => { paused ??= new Promise((r) => (resume = r)); },
      resume: () => { paused = undefined; resume?.(); },
      cancel: () => {
        cancelled = true;
        resume?.();
        void reader?.cancel().catch(() => undefined);
      },
    };
  }
}
