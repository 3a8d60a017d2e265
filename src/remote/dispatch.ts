// Endpoint choice for the remote engine: among the endpoints a request may use, the healthy ones
// with a closed circuit, capacity and no Retry-After block, by smooth weighted round-robin; if all
// are busy or blocked, the request waits (bounded queue) for a slot or for the block to pass.
import { abortedError, FridayError } from '../api/errors.js';
import type { Endpoint } from './endpoint.js';
import { remoteError } from './errors.js';

export interface SlotRequest {
  /** Endpoints this stream already failed over from. */
  readonly exclude: ReadonlySet<string>;
  /** Tried before the first token (preferred last), and broken (protocol errors: never again). */
  readonly tried: ReadonlySet<string>;
  readonly broken: ReadonlySet<string>;
  /** A chat continuation: only endpoints that continue an assistant message. */
  readonly needContinue: boolean;
  readonly signal: AbortSignal | undefined;
  readonly lastErr?: FridayError;
}

export class EndpointPicker {
  private readonly waiters = new Set<() => void>();
  /** Requests waiting for a slot. */
  queued = 0;

  constructor(
    private readonly endpoints: Endpoint[],
    private readonly o: { maxQueue: number; maxRetryAfterMs: number },
    private readonly isClosed: () => boolean,
    private readonly onCircuitOpen: () => void,
  ) {}

  wake(): void {
    if (this.waiters.size === 0) return;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /**
   * Picks an endpoint and takes a slot on it, waiting for capacity or backpressure to pass. It
   * runs for every request, so the common path builds no lists and no promise: each endpoint gets
   * a rank, and the ready ones of the best rank share the request by smooth weighted round-robin.
   * An endpoint is returned as it is when one is ready now.
   */
  acquire(a: SlotRequest): Endpoint | Promise<Endpoint> {
    const r = this.tryAcquire(a);
    return typeof r === 'number' ? this.acquireLater(a, r) : r;
  }

  private async acquireLater(a: SlotRequest, waitMs: number): Promise<Endpoint> {
    for (;;) {
      if (this.queued >= this.o.maxQueue) throw new FridayError('QUEUE_FULL', `More than ${this.o.maxQueue} requests are waiting for a remote endpoint.`);
      this.queued++;
      try {
        await this.waitForSlot(waitMs, a.signal);
      } finally {
        this.queued--;
      }
      const r = this.tryAcquire(a);
      if (typeof r !== 'number') return r;
      waitMs = r;
    }
  }

  /** An endpoint with its slot taken, or how long to wait (ms) before trying again; throws when waiting cannot help. */
  private tryAcquire(a: SlotRequest): Endpoint | number {
    for (;;) {
      if (a.signal?.aborted) throw abortedError();
      if (this.isClosed()) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
      const now = Date.now();
      let best: number = NOT_CANDIDATE;
      let cands = 0, open = 0, blocked = 0;
      let until = Infinity; // the earliest end of a Retry-After block among the passable
      for (const e of this.endpoints) {
        const r = rank(e, a, now);
        if (r === NOT_CANDIDATE) continue;
        cands++;
        if (r === OPEN) open++;
        else if (e.blocked(now)) {
          blocked++;
          until = Math.min(until, e.blockedUntil);
        }
        if (r < best) best = r;
      }
      if (cands === 0) {
        throw a.lastErr ?? remoteError('REMOTE_UNAVAILABLE', 'no_endpoint', a.needContinue
          ? 'No remote endpoint can continue an assistant message (none has continueAssistant).'
          : 'No remote endpoint is left to try.', {});
      }
      if (open === cands) throw this.circuitOpen(a, now);
      if (best <= WORST_READY) {
        const ep = pickWeighted(this.endpoints, a, now, best);
        if (ep.breaker.tryAcquire()) {
          ep.inFlight++;
          return ep;
        }
        continue;
      }
      // Everything passable is busy or backing off: wait for a slot or for Retry-After to pass.
      if (blocked === cands - open && until - now > this.o.maxRetryAfterMs && a.lastErr) throw a.lastErr;
      return Number.isFinite(until) ? until - now : 1_000;
    }
  }

  /** Every candidate's circuit is open: the error says which and when the next probe is. */
  private circuitOpen(a: SlotRequest, now: number): FridayError {
    const cands = this.endpoints.filter((e) => rank(e, a, now) !== NOT_CANDIDATE);
    const retryIn = Math.min(...cands.map((e) => e.breaker.retryInMs));
    this.onCircuitOpen();
    return remoteError('REMOTE_UNAVAILABLE', 'circuit_open', `Remote endpoint${cands.length > 1 ? 's' : ''} ${cands.map((e) => `"${e.name}"`).join(', ')} failed repeatedly (circuit open); next probe in ${retryIn} ms.`, { endpoints: cands.map((e) => e.name), retryInMs: retryIn, ...(a.lastErr ? { lastError: a.lastErr.message } : {}) });
  }

  private waitForSlot(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => { done(); reject(abortedError()); };
      const t = setTimeout(done, Math.max(1, ms));
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

// Ranks: 0..3 for a ready endpoint, in order of preference (untried and not known unhealthy,
// untried, not known unhealthy, any); then busy or backing off, circuit open, not a candidate.
const WORST_READY = 3;
const BUSY = 4;
const OPEN = 5;
const NOT_CANDIDATE = 6;

function rank(e: Endpoint, a: SlotRequest, now: number): number {
  if (a.exclude.has(e.name) || a.broken.has(e.name) || (a.needContinue && !e.continueAssistant)) return NOT_CANDIDATE;
  if (!e.breaker.canPass()) return OPEN;
  if (e.blocked(now) || !e.hasCapacity) return BUSY;
  const untried = !a.tried.has(e.name);
  const healthy = e.healthy !== false;
  return untried ? (healthy ? 0 : 1) : healthy ? 2 : 3;
}

/** Smooth weighted round-robin among the endpoints of rank `r` (at least one). */
function pickWeighted(eps: Endpoint[], a: SlotRequest, now: number, r: number): Endpoint {
  let total = 0;
  let best: Endpoint | undefined;
  for (const e of eps) {
    if (rank(e, a, now) !== r) continue;
    e.current += e.weight;
    total += e.weight;
    if (!best || e.current > best.current) best = e;
  }
  best!.current -= total;
  return best!;
}
