// The Node / Electron-main transport: one undici keep-alive Pool per origin (max connections, idle
// timeout, connect timeout), driven through `dispatch()` with a handler of our own rather than
// `request()`. `request()` wraps every response body in a Node Readable, and reading it with
// for-await goes through the stream machinery (buffer list, 'readable' events, an async generator)
// for each network read. Here each read is pushed straight into a single-consumer Channel, the
// same queue the local engine streams through: one promise per read, nothing else.
//
// Backpressure is kept: when the consumer falls behind and the Channel fills, the socket is paused
// (controller.pause()) until it drains to half.
import { Channel } from '../stream/channel.js';
import type { AbortLike } from './abort.js';
import type { PoolSnapshot, Transport, TransportOptions, TransportRequest, TransportResponse } from './transport.js';
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';

/** Network reads buffered before the socket is paused (SSE reads are small; JSON bodies are few). */
const BODY_READS_BUFFERED = 64;
/** A body still arriving when its reader gives up is drained up to this much, then the socket is dropped. */
const DISCARD_LIMIT = 1 << 20;

interface PoolEntry { pool: Undici.Pool; opened: number; closed: number }

export class UndiciTransport implements Transport {
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

  request(origin: string, req: TransportRequest): Promise<TransportResponse> {
    const { pool } = this.poolFor(origin);
    return new Promise((resolve, reject) => {
      const handler = new ResponseHandler(req.signal, resolve, reject, () => new this.undici.errors.RequestAbortedError());
      pool.dispatch({ path: req.path, method: req.method, headers: req.headers, body: req.body ?? null }, handler);
    });
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

/**
 * One exchange, seen from undici: resolves the response at its headers, then feeds the body into a
 * Channel. The caller's signal (an AbortHandle) aborts it at any stage: queued for a socket (the
 * promise rejects at once), waiting for headers, or mid-body (the Channel fails).
 */
class ResponseHandler implements Dispatcher.DispatchHandler, TransportResponse {
  status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private started = false;
  private readonly chunks: Channel<Uint8Array>;
  readonly body: AsyncIterable<Uint8Array>;

  constructor(
    private readonly signal: AbortLike | undefined,
    private readonly resolve: (r: TransportResponse) => void,
    private readonly reject: (e: unknown) => void,
    private readonly abortError: () => Error,
  ) {
    this.chunks = new Channel<Uint8Array>(BODY_READS_BUFFERED, {
      onOverflow: () => this.controller?.pause(),
      onDrain: () => this.controller?.resume(),
      // The reader stopped early: the rest of the body would block the socket, so drop it.
      onCancel: () => this.onAbort(),
    });
    this.body = this.chunks;
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort);
  }

  private readonly onAbort = (): void => {
    if (this.abortReason) return;
    this.abortReason = this.abortError();
    if (this.controller) this.controller.abort(this.abortReason);
    else this.fail(this.abortReason); // still queued for a socket: reject now, abort once connected
  };

  private fail(e: Error): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    if (this.started) this.chunks.fail(e);
    else {
      this.started = true;
      this.reject(e);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (status < 200 || this.started) return; // 1xx informational
    this.status = status;
    this.headers = headers;
    this.started = true;
    this.resolve(this);
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    // undici frees the socket one macrotask after the response ends (its own setImmediate, queued
    // after this call returns): end the body after that, so the reader's next request, sent the
    // moment this one ends, finds the socket free and reuses it.
    queueMicrotask(() => setImmediate(() => this.chunks.close()));
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.fail(this.abortReason ?? err);
  }

  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  async text(limit = 64 * 1024): Promise<string> {
    let s = '';
    const dec = new TextDecoder();
    for await (const c of this.chunks) if (s.length < limit) s += dec.decode(c, { stream: true });
    return (s + dec.decode()).slice(0, limit);
  }

  async discard(): Promise<void> {
    let n = 0;
    try {
      for await (const c of this.chunks) if ((n += c.byteLength) > DISCARD_LIMIT) break; // break: onCancel drops the socket
    } catch {
      // the body failed: nothing left to drain
    }
  }
}
