// HTTP for the remote engine. Node and Electron main: undici, one keep-alive Pool per origin (max
// connections, idle timeout, connect timeout) — imported dynamically so browser bundles never see
// it. Browser and workers: fetch, with a per-origin concurrency limit (the browser owns the sockets).
import { FridayError } from '../api/errors.js';
import { detectRuntime, type Runtime } from '../platform/env.js';
import { toAbortSignal, type AbortLike } from './abort.js';
import type * as Undici from 'undici';

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

// ---------------------------------------------------------------- undici

interface PoolEntry { pool: Undici.Pool; opened: number; closed: number }

class UndiciTransport implements Transport {
  readonly kind = 'undici';
  private readonly pools = new Map<string, PoolEntry>();
  private opened = 0;

  constructor(private readonly undici: typeof Undici, private readonly opts: TransportOptions) {}

  private poolFor(origin: string): PoolEntry {
    let e = this.pools.get(origin);
    if (!e) {
      const pool = new this.undici.Pool(origin, {
        connections: Math.max(1, this.opts.maxConnections(origin)),
        keepAliveTimeout: this.opts.idleTimeoutMs,
        keepAliveMaxTimeout: this.opts.idleTimeoutMs,
        connectTimeout: this.opts.connectTimeoutMs,
        // Timeouts are ours (first token, between tokens, whole response); undici's would cut SSE.
        headersTimeout: 0,
        bodyTimeout: 0,
        pipelining: 1,
      });
      const entry: PoolEntry = { pool, opened: 0, closed: 0 };
      pool.on('connect', () => { entry.opened++; this.opened++; });
      pool.on('disconnect', () => { entry.closed++; });
      this.pools.set(origin, (e = entry));
    }
    return e;
  }

  async request(origin: string, req: TransportRequest): Promise<TransportResponse> {
    const { pool } = this.poolFor(origin);
    const res = await pool.request({
      path: req.path, method: req.method, headers: req.headers, body: req.body, signal: (req.signal ?? null) as AbortSignal | null, // undici duck-types it
    });
    const raw = res.body;
    const headers = res.headers;
    // undici frees the socket for the next request one macrotask after the response ends
    // (setImmediate): wait for it, so a caller's next request reuses this socket.
    const settle = () => new Promise<void>((r) => setImmediate(r));
    async function* body(): AsyncGenerator<Uint8Array> {
      for await (const c of raw as AsyncIterable<Uint8Array>) yield c;
      await settle();
    }
    const it = body();
    return {
      status: res.statusCode,
      header: (name) => {
        const v = headers[name.toLowerCase()];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      body: it,
      text: async (limit = 64 * 1024) => {
        let s = '';
        const dec = new TextDecoder();
        for await (const c of it) if (s.length < limit) s += dec.decode(c, { stream: true });
        return (s + dec.decode()).slice(0, limit);
      },
      discard: async () => {
        await raw.dump({ limit: 1 << 20 }).catch(() => undefined);
        await settle();
      },
    };
  }

  poolStats(origin: string): PoolSnapshot | undefined {
    const e = this.pools.get(origin);
    if (!e) return undefined;
    const s = e.pool.stats;
    return { connected: s.connected, free: s.free, running: s.running, pending: s.pending, newConnections: e.opened, closedConnections: e.closed };
  }

  newConnections(): number {
    return this.opened;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    // close() waits for running requests; callers abort theirs first, so this is quick.
    await Promise.all(pools.map(async ({ pool }) => {
      const t = setTimeout(() => void pool.destroy().catch(() => undefined), 2_000);
      try {
        await pool.close();
      } catch {
        await pool.destroy().catch(() => undefined);
      } finally {
        clearTimeout(t);
      }
    }));
  }
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
