// The Node / Electron-main transport: one undici keep-alive Pool per origin (max connections, idle
// timeout, connect timeout), driven through `dispatch()` with a handler of our own rather than
// `request()`. `request()` wraps every response body in a Node Readable, and reading it with
// for-await goes through the stream machinery (buffer list, 'readable' events, an async generator)
// for each network read. Here each read goes straight to the reader's sink (body.ts), which parses
// it there and then; the reader pauses and resumes the socket when its own consumer falls behind.
import type { AbortLike } from './abort.js';
import { PipedResponse, type BodyFlow, type BodySink, type TransportResponse } from './body.js';
import type { PoolSnapshot, Transport, TransportOptions, TransportRequest } from './transport.js';
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';

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
 * One exchange, seen from undici: resolves the response at its headers, then hands each network
 * read to the sink given to pipe() (reads that come before pipe() are held). The caller's signal
 * (an AbortHandle) aborts it at any stage: queued for a socket (the promise rejects at once),
 * waiting for headers, or mid-body (the sink's error()).
 */
class ResponseHandler extends PipedResponse implements Dispatcher.DispatchHandler {
  status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private started = false;
  private sink: BodySink | undefined;
  /** Before pipe(): the reads so far, and how the body ended (true, or the error). */
  private held: Uint8Array[] = [];
  private ended: true | Error | undefined;

  constructor(
    private readonly signal: AbortLike | undefined,
    private readonly resolve: (r: TransportResponse) => void,
    private readonly reject: (e: unknown) => void,
    private readonly abortError: () => Error,
  ) {
    super();
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort);
  }

  private readonly onAbort = (): void => {
    if (this.abortReason) return;
    this.abortReason = this.abortError();
    if (this.controller) this.controller.abort(this.abortReason);
    else this.finish(this.abortReason); // still queued for a socket: reject now, abort once connected
  };

  /** The body ended (true) or failed: tell the sink, or hold it for pipe(). */
  private finish(how: true | Error): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    if (!this.started) {
      this.started = true;
      if (how !== true) this.reject(how);
      return;
    }
    if (this.ended !== undefined) return;
    this.ended = how;
    const sink = this.sink;
    if (!sink) return;
    if (how === true) sink.end();
    else sink.error(how);
  }

  pipe(sink: BodySink): BodyFlow {
    this.sink = sink;
    const held = this.held;
    this.held = [];
    for (const c of held) sink.data(c);
    if (this.ended === true) sink.end();
    else if (this.ended) sink.error(this.ended);
    return {
      pause: () => this.controller?.pause(),
      resume: () => this.controller?.resume(),
      cancel: () => {
        this.sink = undefined;
        this.controller?.abort(this.abortError());
      },
    };
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    // undici's adapter keeps the raw header buffers on the controller for the whole exchange; we
    // have them parsed: let them go (a streamed request lives long and there may be hundreds).
    c.rawHeaders = null;
    if (status < 200 || this.started) return; // 1xx informational
    this.status = status;
    this.headers = headers;
    this.started = true;
    this.resolve(this);
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.sink) this.sink.data(chunk);
    else if (this.ended === undefined) this.held.push(chunk);
  }

  onResponseEnd(): void {
    // undici frees the socket one macrotask after the response ends (its own setImmediate, queued
    // after this call returns): end the body after that, so the reader's next request, sent the
    // moment this one ends, finds the socket free and reuses it.
    // (A promise job, not queueMicrotask(), which costs an AsyncResource per call in Node.)
    void Promise.resolve().then(() => setImmediate(() => this.finish(true)));
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.finish(this.abortReason ?? err);
  }

  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }
}
