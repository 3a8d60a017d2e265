// One HTTP exchange with one endpoint: its abort handle, our timeouts (first token, between
// tokens, whole response), the reason an abort happened, and socket hygiene (a body not read to its
// end drops the socket rather than returning it to the pool).
//
// Deadlines are checked by one timer for all the exchanges of an engine (Exchanges), not by a
// timer per exchange: a stream moves its deadline on every network read, and even one setTimeout
// and clearTimeout per request is a measurable share of a streamed request's client CPU. A read
// that re-arms the same timeout does not read the clock either (performance.now() returns a new
// heap number each call): it bumps a counter, and the check dates the activity at the first tick
// that sees the counter moved. The check runs every twentieth of the shortest timeout (5 ms to
// 500 ms), so a timeout fires at most two ticks, a tenth of it, late, and never early.
import { abortedError, FridayError } from '../api/errors.js';
import { AbortHandle } from './abort.js';
import type { Endpoint } from './endpoint.js';
import { errorFromResponse, networkError, parseRetryAfter, remoteError } from './errors.js';
import type { ResponseReceiver, Transport, TransportRequest, TransportResponse } from './transport.js';

type TimeoutKind = 'timeout_first_token' | 'timeout_inter_token' | 'timeout_response';

/** The exchanges in flight: close() reaches them all, and one interval checks their deadlines. */
export class Exchanges {
  private readonly live = new Set<Exchange>();
  private timer: ReturnType<typeof setInterval> | undefined;
  /** HTTP requests sent. */
  sent = 0;
  closed = false;

  constructor(private readonly tickMs: number) {}

  add(x: Exchange): void {
    this.live.add(x);
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  delete(x: Exchange): void {
    this.live.delete(x);
  }

  /** Aborts every exchange in flight with ENGINE_CLOSED. */
  closeAll(): void {
    this.closed = true;
    for (const x of [...this.live]) x.abortWith(new FridayError('ENGINE_CLOSED', 'The remote engine was closed before this request finished.'));
    this.stop();
  }

  private tick(): void {
    if (this.live.size === 0) return this.stop(); // idle: stop until the next exchange
    const now = performance.now();
    for (const x of this.live) x.check(now);
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

export class Exchange {
  /** When our current timeout expires (performance.now() time), as of `seen` re-arms; Infinity when none is armed. */
  private deadline = Infinity;
  /** Re-arms of the same timeout so far (arm() with what is armed already), and how many of them the deadline counts. */
  private touches = 0;
  private seen = 0;
  timedOut = false;
  private readonly ac = new AbortHandle();
  private why: FridayError | undefined;
  private expiryMs = 0;
  private expiryKind: TimeoutKind = 'timeout_first_token';
  private expiryWhat = '';
  private isClean = false;
  private readonly onOuter: (() => void) | undefined;

  constructor(private readonly ep: Endpoint, private readonly outer: AbortSignal | undefined, private readonly owner: Exchanges) {
    if (outer) {
      this.onOuter = () => this.abortWith(abortedError());
      if (outer.aborted) this.onOuter();
      else outer.addEventListener('abort', this.onOuter, { once: true });
    }
    owner.add(this);
  }

  abortWith(e: FridayError): void {
    this.why ??= e;
    this.ac.abort();
  }

  /** Sets our timeout: `what` is said in the error if nothing happens within `ms`. */
  arm(ms: number, kind: TimeoutKind, what: string): void {
    if (ms <= 0) {
      this.deadline = Infinity;
      return;
    }
    if (this.deadline !== Infinity && ms === this.expiryMs && kind === this.expiryKind && what === this.expiryWhat) {
      this.touches++; // the same timeout again, from now: dated by the next check
      return;
    }
    this.deadline = performance.now() + ms;
    this.seen = this.touches;
    this.expiryMs = ms;
    this.expiryKind = kind;
    this.expiryWhat = what;
  }

  disarm(): void {
    this.deadline = Infinity;
  }

  /** Exchanges' timer: dates re-arms since the last check at `now`, or expires a deadline that passed. */
  check(now: number): void {
    if (this.deadline === Infinity) return;
    if (this.touches !== this.seen) {
      this.seen = this.touches;
      this.deadline = now + this.expiryMs;
    } else if (this.deadline <= now) {
      this.expire();
    }
  }

  private expire(): void {
    this.deadline = Infinity;
    this.timedOut = true;
    const ep = this.ep.name;
    this.abortWith(remoteError('REMOTE_UNAVAILABLE', this.expiryKind, `Remote endpoint "${ep}": ${this.expiryWhat}.`, { endpoint: ep, timeoutMs: this.expiryMs }));
  }

  /** The body was read to its end: the socket may go back to the pool. */
  clean(): void {
    this.isClean = true;
  }

  /** The consumer stopped reading: end the exchange, no verdict on the endpoint. */
  cancel(): void {
    this.abortWith(new FridayError('ABORTED', 'The consumer stopped reading.'));
  }

  async send(t: Transport, req: TransportRequest): Promise<TransportResponse> {
    this.sending(req);
    try {
      return await t.request(this.ep.origin, req);
    } catch (e) {
      throw this.sendError(e);
    }
  }

  /** send() without a promise: the response or the failure goes to `rc` (map a failure with sendError()). */
  open(t: Transport, req: TransportRequest, rc: ResponseReceiver): void {
    this.sending(req);
    t.open(this.ep.origin, req, rc);
  }

  private sending(req: TransportRequest): void {
    if (this.owner.closed) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
    this.owner.sent++;
    req.signal = this.ac;
  }

  /** Why sending failed (no response): our own abort reason first, else a network error. */
  sendError(e: unknown): FridayError {
    return this.why ?? networkError(e, this.ep.name, false);
  }

  /** Undefined for a 2xx status (no promise on the common path); else a promise that rejects with the server's error. */
  checkStatus(res: TransportResponse): Promise<never> | undefined {
    if (res.status >= 200 && res.status < 300) return undefined;
    return this.statusError(res);
  }

  private async statusError(res: TransportResponse): Promise<never> {
    const text = await res.text(16 * 1024);
    this.isClean = true;
    throw errorFromResponse(res.status, text, this.ep.name, parseRetryAfter(res.header('retry-after')));
  }

  /** Why the exchange failed: our own abort reason (timeout, caller, close) first. */
  reason(e: unknown, afterResponse: boolean): FridayError {
    if (this.why) return this.why;
    if (e instanceof FridayError) return e;
    return networkError(e, this.ep.name, afterResponse);
  }

  finish(): void {
    this.deadline = Infinity;
    if (this.onOuter) this.outer!.removeEventListener('abort', this.onOuter);
    this.owner.delete(this);
    if (!this.isClean) this.ac.abort(); // the body was not read to its end: drop the socket rather than reuse it
  }
}

/** How often Exchanges checks deadlines, for these timeouts (ms; 0 = off). */
export function deadlineTickMs(...timeouts: number[]): number {
  const on = timeouts.filter((t) => t > 0);
  return on.length === 0 ? 500 : Math.min(500, Math.max(5, Math.floor(Math.min(...on) / 20)));
}
