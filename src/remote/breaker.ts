// A circuit breaker per endpoint. Closed: requests flow; `failureThreshold` consecutive failures
// open it. Open: requests skip the endpoint until `resetTimeoutMs` has passed. Half-open: exactly
// one request (the probe) goes through; success closes the circuit, failure re-opens it with the
// timeout doubled (up to `maxResetTimeoutMs`). Neutral outcomes (4xx, backpressure, the caller
// aborting) release the probe without a verdict.
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number;
  /** How long an open circuit stays open before a probe. Default 5000 ms. */
  resetTimeoutMs?: number;
  /** Cap for the doubling reset timeout. Default 60000 ms. */
  maxResetTimeoutMs?: number;
}

export class CircuitBreaker {
  private _state: BreakerState = 'closed';
  private failures = 0;
  private openedUntil = 0;
  private timeout: number;
  private probing = false;
  readonly threshold: number;
  private readonly baseTimeout: number;
  private readonly maxTimeout: number;
  /** Times the circuit opened. */
  opens = 0;

  constructor(opts: BreakerOptions = {}, private readonly now: () => number = Date.now) {
    this.threshold = Math.max(1, opts.failureThreshold ?? 5);
    this.baseTimeout = this.timeout = Math.max(0, opts.resetTimeoutMs ?? 5_000);
    this.maxTimeout = Math.max(this.baseTimeout, opts.maxResetTimeoutMs ?? 60_000);
  }

  get state(): BreakerState {
    return this._state;
  }

  /** Milliseconds until an open circuit admits a probe (0 when it would now). */
  get retryInMs(): number {
    return this._state === 'open' ? Math.max(0, this.openedUntil - this.now()) : 0;
  }

  /** Would a request be admitted now? (No state change.) */
  canPass(): boolean {
    if (this._state === 'closed') return true;
    if (this._state === 'half-open') return !this.probing;
    return this.now() >= this.openedUntil;
  }

  /** Admits a request; returns false if the circuit refuses it. An admitted half-open request is the probe. */
  tryAcquire(): boolean {
    if (this._state === 'closed') return true;
    if (this._state === 'open') {
      if (this.now() < this.openedUntil) return false;
      this._state = 'half-open';
      this.probing = false;
    }
    if (this.probing) return false;
    this.probing = true;
    return true;
  }

  onSuccess(): void {
    this.failures = 0;
    this.probing = false;
    this.timeout = this.baseTimeout;
    this._state = 'closed';
  }

  onFailure(): void {
    this.probing = false;
    if (this._state === 'half-open') {
      this.timeout = Math.min(this.maxTimeout, Math.max(1, this.timeout * 2));
      this.open();
      return;
    }
    this.failures++;
    if (this._state === 'closed' && this.failures >= this.threshold) this.open();
  }

  /** The request ended without saying anything about the endpoint. */
  onNeutral(): void {
    this.probing = false;
  }

  /** A health check succeeded: an open circuit may probe right away. */
  onHealthy(): void {
    if (this._state === 'open') this.openedUntil = Math.min(this.openedUntil, this.now());
  }

  private open(): void {
    this._state = 'open';
    this.opens++;
    this.openedUntil = this.now() + this.timeout;
  }
}
