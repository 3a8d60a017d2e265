// HTTP for the remote engine. Node and Electron main: undici, one keep-alive Pool per origin (max
// connections, idle timeout, connect timeout; transport-undici.ts) — imported dynamically so browser
// bundles never see it. Browser and workers: fetch, with a per-origin concurrency limit (the
// browser owns the sockets).
import { FridayError } from '../api/errors.js';
import { detectRuntime, type Runtime } from '../platform/env.js';
import { toAbortSignal, type AbortLike } from './abort.js';
import type * as Undici from 'undici';
import { UndiciTransport } from './transport-undici.js';

export interface TransportRequest {
  method: 'GET' | 'POST';
  /** Path and query, starting with "/". */
  path: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortLike;
}

export interface TransportResponse {
  status: number;
  header(name: string): string | undefined;
  /** The body; read it to the end (or call discard) so the connection can be reused. */
  body: AsyncIterable<Uint8Array>;
  /** Reads the body as text, at most `limit` characters kept (the rest is still drained). */
  text(limit?: number): Promise<string>;
  /** Drains the body without keeping it (keeps the connection reusable). */
  discard(): Promise<void>;
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
  /** Per-origin pool state; fetch cannot see sockets, so it reports requests only. */
  poolStats(origin: string): PoolSnapshot | undefined;
  /** Sockets opened so far, all origins (undefined for fetch: the browser does not say). */
  newConnections(): number | undefined;
  close(): Promise<void>;
}

export interface TransportOptions {
  /** Max sockets (undici) or concurrent requests (fetch) per origin. */
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
    const release = await this.limit(origin).acquire(req.signal);
    let res: Response;
    try {
      res = await fetch(origin + req.path, { method: req.method, headers: req.headers, body: req.body, signal: req.signal && toAbortSignal(req.signal) });
    } catch (e) {
      release();
      throw e;
    }
    const stream = res.body;
    async function* body(): AsyncGenerator<Uint8Array> {
      if (!stream) return;
      const reader = stream.getReader();
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) return;
          yield r.value;
        }
      } finally {
        release();
        await reader.cancel().catch(() => undefined);
      }
    }
    const it = body();
    if (!stream) release();
    return {
      status: res.status,
      header: (name) => res.headers.get(name) ?? undefined,
      body: it,
      text: async (limit = 64 * 1024) => {
        let s = '';
        const dec = new TextDecoder();
        for await (const c of it) if (s.length < limit) s += dec.decode(c, { stream: true });
        return (s + dec.decode()).slice(0, limit);
      },
      discard: async () => { for await (const _ of it) { /* drain */ } },
    };
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
