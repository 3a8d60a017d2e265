// The Node / Electron-main transport: one undici keep-alive Pool per origin (max connections, idle
// timeout, connect timeout), driven through `dispatch()` with a handler of our own rather than
// `request()`. `request()` wraps every response body in a Node Readable, and reading it with
// for-await goes through the stream machinery (buffer list, 'readable' events, an async generator)
// for each network read. Here each read goes straight to the reader's sink (body.ts), which parses
// it there and then; the reader pauses and resumes the socket when its own consumer falls behind.
import type { AbortLike } from './abort.js';
import { PipedResponse, type BodyFlow, type BodySink, type ResponseReceiver, type TransportResponse } from './body.js';
import type { PoolSnapshot, Transport, TransportOptions, TransportRequest } from './transport.js';
import type * as Undici from 'undici';

/** One origin's pool: its cap, and the sockets it opened and closed (O(1) to read, unlike pool.stats). */
interface PoolEntry { pool: Undici.Pool; cap: number; opened: number; closed: number }

export class UndiciTransport implements Transport {
  readonly kind = 'undici';
  private readonly pools = new Map<string, PoolEntry>();
  /** Health checks have a socket of their own per origin, so they never wait behind streams. */
  private readonly probePools = new Map<string, PoolEntry>();
  private opened = 0;

  constructor(private readonly undici: typeof Undici, private readonly opts: TransportOptions) {}

  private poolFor(origin: string, probe: boolean): PoolEntry {
    const pools = probe ? this.probePools : this.pools;
    let e = pools.get(origin);
    if (!e) {
      const cap = probe ? 1 : Math.max(1, this.opts.maxConnections(origin));
      const pool = new this.undici.Pool(origin, {
        connections: cap,
        keepAliveTimeout: this.opts.idleTimeoutMs,
        keepAliveMaxTimeout: this.opts.idleTimeoutMs,
        connectTimeout: this.opts.connectTimeoutMs,
        // Timeouts are ours (first token, between tokens, whole response); undici's would cut SSE.
        headersTimeout: 0,
        bodyTimeout: 0,
        pipelining: 1,
      });
      const entry: PoolEntry = { pool, cap, opened: 0, closed: 0 };
      pool.on('connect', () => { entry.opened++; this.opened++; });
      pool.on('disconnect', () => { entry.closed++; });
      pools.set(origin, (e = entry));
    }
    return e;
  }

  request(origin: string, req: TransportRequest): Promise<TransportResponse> {
    return new Promise((resolve, reject) => this.open(origin, req, { response: resolve, failed: reject }));
  }

  open(origin: string, req: TransportRequest, rc: ResponseReceiver): void {
    const entry = this.poolFor(origin, req.probe === true);
    const handler = new ResponseHandler(req.signal, rc, entry, this.undici.errors.RequestAbortedError);
    entry.pool.dispatch({ path: req.path, method: req.method, headers: req.headers, body: req.body ?? null }, handler);
  }

  /** Both pools of the origin together (health checks' and the rest). */
  poolStats(origin: string): PoolSnapshot | undefined {
    const es = [this.pools.get(origin), this.probePools.get(origin)].filter((e): e is PoolEntry => e !== undefined);
    if (es.length === 0) return undefined;
    const out: PoolSnapshot = { connected: 0, free: 0, running: 0, pending: 0, newConnections: 0, closedConnections: 0 };
    for (const e of es) {
      const s = e.pool.stats;
      out.connected += s.connected;
      out.free += s.free;
      out.running += s.running;
      out.pending += s.pending;
      out.newConnections += e.opened;
      out.closedConnections += e.closed;
    }
    return out;
  }

  newConnections(): number {
    return this.opened;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values(), ...this.probePools.values()];
    this.pools.clear();
    this.probePools.clear();
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
 * One exchange, seen from undici: gives the response to its receiver at its headers, then hands each network
 * read to the sink given to pipe() (reads that come before pipe() are held). The caller's signal
 * (an AbortHandle) aborts it at any stage: queued for a socket (the receiver is told at once),
 * waiting for headers, or mid-body (the sink's error()).
 *
 * It speaks undici's core handler protocol (onConnect, onHeaders, onData, onComplete, onError),
 * which undici's own request() uses, rather than the newer controller interface: undici adapts
 * that one to this through an extra object, a controller and a parsed copy of every header, per
 * request. (Marked deprecated in undici 7's types; undici is pinned.)
 */
class ResponseHandler extends PipedResponse implements BodyFlow {
  status = 0;
  /** The response headers the engine reads (see header()). */
  private contentType: string | undefined;
  private retryAfter: string | undefined;
  private abortSocket: ((err?: Error) => void) | undefined;
  private resumeSocket: (() => void) | undefined;
  private paused = false;
  private abortReason: Error | undefined;
  private started = false;
  private sink: BodySink | undefined;
  /** Before pipe(): the reads so far (made when there are any), and how the body ended (true, or the error). */
  private held: Uint8Array[] | undefined;
  private ended: true | Error | undefined;

  constructor(
    private readonly signal: AbortLike | undefined,
    private readonly rc: ResponseReceiver,
    private readonly entry: PoolEntry,
    private readonly AbortError: new () => Error,
  ) {
    super();
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort);
  }

  private readonly onAbort = (): void => {
    if (this.abortReason) return;
    this.abortReason = new this.AbortError();
    if (this.abortSocket) this.abortSocket(this.abortReason);
    else this.finish(this.abortReason); // still queued for a socket: reject now, abort once connected
  };

  /** The body ended (true) or failed: tell the sink, or hold it for pipe(). */
  private finish(how: true | Error): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    if (!this.started) {
      this.started = true;
      if (how !== true) this.rc.failed(how);
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
    this.held = undefined;
    if (held) for (const c of held) sink.data(c);
    if (this.ended === true) sink.end();
    else if (this.ended) sink.error(this.ended);
    return this;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeSocket?.();
  }

  cancel(): void {
    this.sink = undefined;
    this.abortSocket?.(new this.AbortError());
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortSocket = abort;
    if (this.abortReason) abort(this.abortReason);
  }

  onHeaders(status: number, rawHeaders: (Buffer | string)[], resume: () => void): boolean {
    if (status < 200 || this.started) return true; // 1xx informational
    this.status = status;
    // Only the headers the engine reads are kept, as strings: the raw ones are views of the
    // socket's read buffer, a stream lives long (hundreds at a time), and decoding them all is
    // most of what a response's headers cost.
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (isName(name, 'content-type')) this.contentType = joined(this.contentType, rawHeaders[i + 1]!);
      else if (isName(name, 'retry-after')) this.retryAfter = joined(this.retryAfter, rawHeaders[i + 1]!);
    }
    this.resumeSocket = resume;
    this.started = true;
    this.rc.response(this); // may pipe() the body at once, or pause() it
    return !this.paused;
  }

  onData(chunk: Buffer): boolean {
    if (this.sink) this.sink.data(chunk);
    else if (this.ended === undefined) (this.held ??= []).push(chunk);
    return !this.paused;
  }

  onComplete(): void {
    // undici frees the socket one macrotask after the response ends (its own setImmediate, queued
    // after this call returns). While the pool may still open sockets, end the body after that, so
    // the reader's next request, sent the moment this one ends, reuses this socket instead of
    // opening another. Once the pool has all its sockets that cannot happen: the next request
    // takes a free socket or waits in undici's queue for this one, as after undici's own request(),
    // and the reader sees the end now rather than after the rest of a busy loop turn.
    const e = this.entry;
    if (e.opened - e.closed >= e.cap) return this.finish(true);
    // (A promise job, not queueMicrotask(), which costs an AsyncResource per call in Node.)
    void Promise.resolve(this).then(endLater);
  }

  /** The body ended (a macrotask after onComplete). */
  endBody(): void {
    this.finish(true);
  }

  onError(err: Error): void {
    this.finish(this.abortReason ?? err);
  }

  /** `content-type` or `retry-after` (the values of a repeated one joined with ", "); no other header is kept. */
  header(name: string): string | undefined {
    const want = name.toLowerCase();
    return want === 'content-type' ? this.contentType : want === 'retry-after' ? this.retryAfter : undefined;
  }
}

/** A macrotask after undici's own (see onComplete): module functions, not closures per response. */
const endLater = (h: ResponseHandler): void => void setImmediate(endNow, h);
const endNow = (h: ResponseHandler): void => h.endBody();

const latin1 = (b: Buffer | string): string => (typeof b === 'string' ? b : b.toString('latin1'));
const joined = (prev: string | undefined, value: Buffer | string): string => (prev === undefined ? latin1(value) : `${prev}, ${latin1(value)}`);

/** Is a raw header name `lower` (ASCII, any case)? Compared in place: most names are not, and are never decoded. */
function isName(raw: Buffer | string, lower: string): boolean {
  if (raw.length !== lower.length) return false;
  if (typeof raw === 'string') return raw.toLowerCase() === lower;
  for (let k = 0; k < lower.length; k++) if ((raw[k]! | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}
