// Endpoint choice for the remote engine: among the endpoints a request may use, the healthy ones
// with a closed circuit, capacity and no Retry-After block, by smooth weighted round-robin; if all
// are busy or blocked, the request waits (bounded queue) for a slot or for the block to pass.
import { FridayError } from '../api/errors.js';
import type { Endpoint } from './endpoint.js';
import { remoteError } from './errors.js';

export interface SlotRequest {
  /** Endpoints this stream already failed over from. */
  exclude: ReadonlySet<string>;
  /** Tried before the first token (preferred last), and broken (protocol errors: never again). */
  tried: ReadonlySet<string>;
  broken: ReadonlySet<string>;
  /** A chat continuation: only endpoints that continue an assistant message. */
  needContinue: boolean;
  signal: AbortSignal | undefined;
  lastErr?: FridayError;
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

  /** Picks an endpoint and takes a slot on it, waiting for capacity or backpressure to pass. */
  async acquire(a: SlotRequest): Promise<Endpoint> {
    for (;;) {
      if (a.signal?.aborted) throw new FridayError('ABORTED', 'The request was aborted by the caller.');
      if (this.isClosed()) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
      const now = Date.now();
      const only = this.endpoints.length === 1 ? this.endpoints[0]! : undefined;
      // One endpoint, free and fine: the common case, without building the candidate lists.
      if (only && !a.needContinue && !a.broken.has(only.name) && !a.exclude.has(only.name) && only.hasCapacity && !only.blocked(now) && only.breaker.canPass() && only.breaker.tryAcquire()) {
        only.inFlight++;
        return only;
      }
      const cands = this.endpoints.filter((e) => !a.exclude.has(e.name) && !a.broken.has(e.name) && (!a.needContinue || e.continueAssistant));
      if (cands.length === 0) {
        throw a.lastErr ?? remoteError('REMOTE_UNAVAILABLE', 'no_endpoint', a.needContinue
          ? 'No remote endpoint can continue an assistant message (none has continueAssistant).'
          : 'No remote endpoint is left to try.', {});
      }
      const passable = cands.filter((e) => e.breaker.canPass());
      if (passable.length === 0) {
        const retryIn = Math.min(...cands.map((e) => e.breaker.retryInMs));
        const err = remoteError('REMOTE_UNAVAILABLE', 'circuit_open', `Remote endpoint${cands.length > 1 ? 's' : ''} ${cands.map((e) => `"${e.name}"`).join(', ')} failed repeatedly (circuit open); next probe in ${retryIn} ms.`, { endpoints: cands.map((e) => e.name), retryInMs: retryIn, ...(a.lastErr ? { lastError: a.lastErr.message } : {}) });
        this.onCircuitOpen();
        throw err;
      }
      const ready = passable.filter((e) => !e.blocked(now) && e.hasCapacity);
      if (ready.length > 0) {
        const tiers = [
          ready.filter((e) => !a.tried.has(e.name) && e.healthy !== false),
          ready.filter((e) => !a.tried.has(e.name)),
          ready.filter((e) => e.healthy !== false),
          ready,
        ];
        const ep = pickWeighted(tiers.find((t) => t.length > 0)!);
        if (ep.breaker.tryAcquire()) {
          ep.inFlight++;
          return ep;
        }
        continue;
      }
      // Everything passable is busy or backing off: wait for a slot or for Retry-After to pass.
      const blocked = passable.filter((e) => e.blocked(now));
      const until = blocked.length > 0 ? Math.min(...blocked.map((e) => e.blockedUntil)) : Infinity;
      if (blocked.length === passable.length && until - now > this.o.maxRetryAfterMs && a.lastErr) throw a.lastErr;
      if (this.queued >= this.o.maxQueue) throw new FridayError('QUEUE_FULL', `More than ${this.o.maxQueue} requests are waiting for a remote endpoint.`);
      this.queued++;
      try {
        await this.waitForSlot(Number.isFinite(until) ? until - now : 1_000, a.signal);
      } finally {
        this.queued--;
      }
    }
  }

  private waitForSlot(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => { done(); reject(new FridayError('ABORTED', 'The request was aborted by the caller.')); };
      const t = setTimeout(done, Math.max(1, ms));
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function pickWeighted(eps: Endpoint[]): Endpoint {
  if (eps.length === 1) return eps[0]!;
  let total = 0;
  let best = eps[0]!;
  for (const e of eps) {
    e.current += e.weight;
    total += e.weight;
    if (e.current > best.current) best = e;
  }
  best.current -= total;
  return best;
}
