// The attempt loop of the remote engine: an endpoint is chosen, and the request is retried on
// others (or later) until one delivers its first output; 429/503 count as backpressure. Each
// attempt gives its endpoint a verdict (circuit breaker, counters) when it ends.
//
// A streamed request is callbacks from the start (StreamRun): the transport's response, the leg's
// batches and its end; the exchange's end gives the verdict and closes the request's queue. No
// async function waits for the server, at set-up or later, so a stream in flight keeps a handful
// of objects, not suspended frames and their promises (hundreds of streams are copied by every
// young-generation GC, and at that load what lives as long as a request gets promoted).
import { abortedError, FridayError, sleepUnlessAborted, toFridayError } from '../api/errors.js';
import { Channel, type ChannelHooks } from '../stream/channel.js';
import type { ChunkDecoder, LegBatch, LegEvent } from './chunks.js';
import type { EndpointPicker, SlotRequest } from './dispatch.js';
import type { Endpoint } from './endpoint.js';
import { isNeutral, isRetryable, kindOf } from './errors.js';
import type { LegRequest } from './failover.js';
import type { SseLeg } from './leg.js';
import type { REMOTE_DEFAULTS } from './options.js';
import { Exchange } from './exchange.js';
import { sendStream, streamDecoder, streamResponse, type LegOwner, type RequestContext } from './requests.js';
import type { ResponseReceiver, Transport, TransportResponse } from './transport.js';

export const NO_NAMES: ReadonlySet<string> = new Set();

/** Batches a stream holds for a consumer that is behind before its socket is paused. */
const LEG_QUEUE = 64;

const counted = (ep: Endpoint): Endpoint => {
  ep.counters.requests++;
  return ep;
};

/** One request's retry state (and what the endpoint picker asks). Its sets are made on the first retry only: most requests never need them. */
class Tries implements SlotRequest {
  tried = NO_NAMES;
  /** Protocol errors: not retried on the same endpoint. */
  broken = NO_NAMES;
  lastErr: FridayError | undefined;
  attempt = 0;
  constructor(readonly needContinue: boolean, readonly exclude: ReadonlySet<string>, readonly signal: AbortSignal | undefined) {}
}

export class Attempts {
  retries = 0;
  readonly errors: Record<string, number> = {};

  constructor(
    private readonly endpoints: Endpoint[], private readonly picker: EndpointPicker,
    private readonly o: typeof REMOTE_DEFAULTS, readonly cx: RequestContext,
  ) {}

  /**
   * Runs `run` on an endpoint, retrying on others (or later) until one delivers its first output
   * (`run` calls `started`); after that a failure is passed on. Resolves when a run completes.
   */
  async run<T>(
    signal: AbortSignal | undefined, run: (ep: Endpoint, signal: AbortSignal | undefined, started: () => void) => Promise<T>,
  ): Promise<T> {
    const tries = new Tries(false, NO_NAMES, signal);
    for (;;) {
      const ep = await this.acquire(tries);
      const t0 = performance.now();
      let first = true;
      let verdict = false;
      const started = () => {
        if (!first) return;
        first = false;
        ep.counters.ttft.record(performance.now() - t0);
      };
      try {
        const result = await run(ep, signal, started);
        this.succeeded(ep, t0);
        verdict = true;
        return result;
      } catch (e) {
        const err = this.judge(ep, e, signal);
        verdict = true;
        if (!first) throw err;
        await this.retryOrThrow(tries, ep, err);
      } finally {
        this.release(ep, verdict);
      }
    }
  }

  /** A streamed request: its reads' events (one, or a batch, each), from whichever endpoint serves it. */
  stream(leg: LegRequest, exclude: ReadonlySet<string>, signal: AbortSignal | undefined): AsyncIterable<LegEvent | LegBatch> {
    return new StreamRun(this, leg, new Tries(leg.kind === 'chat' && !!leg.continueFinal, exclude, signal)).out;
  }

  /** An endpoint for the next attempt: as it is when one is ready now (no promise), else a promise. */
  acquire(t: Tries): Endpoint | Promise<Endpoint> {
    t.attempt++;
    const got = this.picker.acquire(t);
    if (!(got instanceof Promise)) return counted(got);
    return got.then(counted);
  }

  /** Only a complete answer counts as a success (a server that always drops mid-stream opens the circuit). */
  succeeded(ep: Endpoint, t0: number): void {
    ep.breaker.onSuccess();
    ep.counters.succeeded++;
    ep.counters.latency.record(performance.now() - t0);
  }

  /** An attempt failed: counted, and told to its endpoint's breaker. Returns the error to pass on. */
  judge(ep: Endpoint, e: unknown, signal: AbortSignal | undefined): FridayError {
    const err = toFridayError(e);
    if (signal?.aborted || err.code === 'ABORTED' || err.code === 'ENGINE_CLOSED') {
      ep.breaker.onNeutral();
      this.count(ep, 'aborted');
      return err.code === 'ABORTED' || err.code === 'ENGINE_CLOSED' ? err : abortedError('request', err);
    }
    const kind = kindOf(err) ?? 'other';
    this.count(ep, kind);
    if (isNeutral(err)) ep.breaker.onNeutral();
    else ep.breaker.onFailure();
    if (kind === 'backpressure') {
      const ra = typeof err.details?.retryAfterMs === 'number' ? err.details.retryAfterMs : this.o.defaultRetryAfterMs;
      ep.blockedUntil = Math.max(ep.blockedUntil, Date.now() + ra);
    }
    return err;
  }

  /** The attempt's slot is free again; with no verdict (the consumer left), a half-open probe is released. */
  release(ep: Endpoint, verdict: boolean): void {
    if (!verdict) ep.breaker.onNeutral();
    ep.inFlight--;
    this.picker.wake();
  }

  /** Before the first output: returns when another attempt should go, else throws `err`. */
  async retryOrThrow(t: Tries, ep: Endpoint, err: FridayError): Promise<void> {
    if (err.code === 'ABORTED' || err.code === 'ENGINE_CLOSED') throw err;
    if (!isRetryable(err) || t.attempt >= this.o.maxAttempts) throw err;
    const kind = kindOf(err);
    t.tried = new Set([...t.tried, ep.name]);
    if (kind === 'protocol') t.broken = new Set([...t.broken, ep.name]);
    t.lastErr = err;
    this.retries++;
    // Another endpoint not yet tried: go now. Otherwise back off (backpressure waits in acquire).
    const untried = this.endpoints.some((x) => !t.exclude.has(x.name) && !t.tried.has(x.name) && !t.broken.has(x.name) && (!t.needContinue || x.continueAssistant) && x.breaker.canPass());
    if (!untried && kind !== 'backpressure') {
      const cap = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (t.attempt - 1));
      await sleepUnlessAborted(cap / 2 + Math.random() * (cap / 2), t.signal);
    }
  }

  private count(ep: Endpoint, kind: string): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
    ep.counters.error(kind);
  }
}

/**
 * One streamed request: its queue (the consumer reads it through the failover layer), the
 * exchange it is on now (what a cancel or a drain reaches), and the attempt in progress. It is
 * driven by callbacks (the transport's response, the leg's batches and end), not an async
 * function: a request waiting for its server keeps this object, not frames and promises.
 */
class StreamRun implements ChannelHooks, LegOwner, ResponseReceiver {
  readonly out: Channel<LegEvent | LegBatch>;
  x: Exchange | undefined;
  leg: SseLeg | undefined;
  final = false;
  private cancelled = false;
  private ep: Endpoint | undefined;
  private dec: ChunkDecoder | undefined;
  private t0 = 0;
  /** No batch yet from the attempt in progress: a failure is judged, and maybe retried. */
  private first = true;

  constructor(private readonly a: Attempts, private readonly req: LegRequest, private readonly tries: Tries) {
    this.out = new Channel<LegEvent | LegBatch>(LEG_QUEUE, this);
    this.attempt();
  }

  // ChannelHooks
  onDrain(): void {
    this.leg?.resume();
  }

  /** The consumer stopped reading (a stop string, a break): end the exchange in flight, unless it already gave its final batch. */
  onCancel(): void {
    this.cancelled = true;
    if (!this.final) this.x?.cancel();
  }

  // LegOwner
  batch(b: LegEvent | LegBatch): void {
    const n = Array.isArray(b) ? b.length : 1;
    const final = (Array.isArray(b) ? b[n - 1]! : b).done;
    if (final) this.final = true;
    this.a.cx.tokens += final ? n - 1 : n;
    if (!this.first) return;
    this.first = false;
    this.ep!.counters.ttft.record(performance.now() - this.t0);
  }

  ended(err?: FridayError): void {
    this.x?.finish();
    if (this.first) return this.failedBeforeStart(err ?? new FridayError('REMOTE_PROTOCOL', 'The stream ended before its first event.', { kind: 'protocol' }));
    this.close(err);
  }

  // ResponseReceiver: the exchange's response, or the failure to get one.
  response(res: TransportResponse): void {
    const x = this.x!;
    let r: SseLeg | Promise<void>;
    try {
      r = streamResponse(this.a.cx, this.ep!, x, this.dec!, res, this.out, this);
    } catch (e) {
      return this.dropExchange(x, x.reason(e, true));
    }
    if (!(r instanceof Promise)) return; // streaming: the leg reports from here on
    r.then(() => {
      x.finish();
      this.close(); // a whole JSON answer
    }, (e: unknown) => this.dropExchange(x, x.reason(e, true)));
  }

  failed(e: unknown): void {
    const x = this.x!;
    this.dropExchange(x, x.sendError(e));
  }

  /** An attempt: an endpoint (now, or once one is free), then the request sent to it. */
  private attempt(): void {
    if (this.cancelled) return this.out.fail(new FridayError('ABORTED', 'The consumer stopped reading.'));
    let got: Endpoint | Promise<Endpoint>;
    try {
      got = this.a.acquire(this.tries);
    } catch (e) {
      return this.out.fail(e);
    }
    if (got instanceof Promise) got.then((ep) => this.open(ep), (e: unknown) => this.out.fail(e));
    else this.open(got);
  }

  private open(ep: Endpoint): void {
    this.ep = ep;
    this.t0 = performance.now();
    this.first = true;
    const { cx } = this.a;
    if (cx.transport) return this.send(ep, cx.transport);
    cx.transportP.then((t) => this.send(ep, t), (e: unknown) => this.failedBeforeStart(e));
  }

  private send(ep: Endpoint, t: Transport): void {
    const x = new Exchange(ep, this.tries.signal, this.a.cx.exchanges);
    this.x = x;
    this.leg = undefined;
    this.final = false;
    this.dec = streamDecoder(ep, this.req);
    try {
      sendStream(this.a.cx, t, ep, this.req, x, this); // the answer comes to response() or failed()
    } catch (e) {
      this.dropExchange(x, e);
    }
  }

  /** The exchange failed before any batch: it is finished, and the attempt judged. */
  private dropExchange(x: Exchange, e: unknown): void {
    x.finish();
    this.failedBeforeStart(e);
  }

  /** The attempt failed before its first batch: judged, then another attempt, or the stream fails. */
  private failedBeforeStart(e: unknown): void {
    const { a, tries } = this;
    const ep = this.ep!;
    if (this.cancelled) { // the consumer left: no verdict, nothing to count
      a.release(ep, false);
      return this.out.fail(e);
    }
    const err = a.judge(ep, e, tries.signal);
    a.retryOrThrow(tries, ep, err).then(() => {
      a.release(ep, true);
      if (this.cancelled) this.out.fail(err);
      else this.attempt();
    }, (thrown: unknown) => {
      a.release(ep, true);
      this.out.fail(thrown);
    });
  }

  /** The stream's end after its first batch: the endpoint's verdict, then the queue's end. */
  private close(err?: FridayError): void {
    const { a } = this;
    const ep = this.ep!;
    if (!err) {
      a.succeeded(ep, this.t0);
      a.release(ep, true);
      this.out.close();
      return;
    }
    if (this.cancelled) {
      a.release(ep, false);
      return;
    }
    const e = a.judge(ep, err, this.tries.signal);
    a.release(ep, true);
    this.out.fail(e); // mid-stream: the failover layer decides
  }
}
