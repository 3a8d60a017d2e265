// One remote endpoint: its configuration and live state (in-flight, circuit, health, backpressure).
import { FridayError } from '../api/errors.js';
import { CircuitBreaker, type BreakerOptions } from './breaker.js';
import { EndpointCounters } from './metrics.js';

export interface RemoteEndpointConfig {
  /** Base URL: `http://host:port`, optionally with a path prefix; a trailing `/v1` is accepted. */
  url: string;
  /** Name reported as `served_by`; default `host:port` (plus path). Must be unique. */
  name?: string;
  /** Share of traffic relative to other endpoints (smooth weighted round-robin). Default 1. */
  weight?: number;
  /** Requests in flight at once on this endpoint (and its connection-pool size). Default 16. */
  maxConcurrency?: number;
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** `model` sent in requests to this endpoint (its name for the model). */
  model?: string;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /**
   * The server can continue a partial assistant message (`continue_final_message: true,
   * add_generation_prompt: false`: vLLM and `friday serve` can). Needed to fail a chat stream over
   * to this endpoint mid-stream. Default false.
   */
  continueAssistant?: boolean;
  /** The server accepts vLLM's `return_token_ids` (Friday and vLLM do; OpenAI does not). Default true. */
  returnTokenIds?: boolean;
}

export class Endpoint {
  readonly name: string;
  readonly origin: string;
  /** Path prefix without trailing slash ('' for the root). */
  readonly prefix: string;
  readonly weight: number;
  readonly maxConcurrency: number;
  readonly continueAssistant: boolean;
  readonly returnTokenIds: boolean;
  readonly model: string | undefined;
  readonly breaker: CircuitBreaker;
  readonly counters = new EndpointCounters();
  inFlight = 0;
  /** Backpressure: no new requests before this time (Retry-After). */
  blockedUntil = 0;
  /** undefined until the first health check. */
  healthy: boolean | undefined;
  healthPath: '/health' | '/v1/models' = '/health';
  lastHealthError: string | undefined;
  /** Smooth weighted round-robin state. */
  current = 0;
  private readonly baseHeaders: Record<string, string>;
  /** Headers of a streamed request, built once (undici and fetch only read them). */
  readonly streamHeaders: Record<string, string>;

  constructor(cfg: RemoteEndpointConfig, defaults: { apiKey?: string; model?: string; headers?: Record<string, string> }, breaker: BreakerOptions) {
    let u: URL;
    try {
      u = new URL(cfg.url);
    } catch {
      throw new FridayError('INVALID_REQUEST', `Remote endpoint URL "${cfg.url}" is not a valid URL.`, { param: 'url' });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FridayError('INVALID_REQUEST', `Remote endpoint URL "${cfg.url}" must be http: or https:.`, { param: 'url' });
    this.origin = u.origin;
    this.prefix = u.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.name = cfg.name ?? `${u.host}${this.prefix}`;
    this.weight = cfg.weight ?? 1;
    if (!(this.weight > 0)) throw new FridayError('INVALID_REQUEST', `Endpoint "${this.name}": weight must be > 0.`, { param: 'weight' });
    this.maxConcurrency = cfg.maxConcurrency ?? 16;
    if (!Number.isInteger(this.maxConcurrency) || this.maxConcurrency < 1) throw new FridayError('INVALID_REQUEST', `Endpoint "${this.name}": maxConcurrency must be an integer >= 1.`, { param: 'maxConcurrency' });
    this.continueAssistant = cfg.continueAssistant ?? false;
    this.returnTokenIds = cfg.returnTokenIds ?? true;
    this.model = cfg.model ?? defaults.model;
    this.breaker = new CircuitBreaker(breaker);
    const key = cfg.apiKey ?? defaults.apiKey;
    this.baseHeaders = { ...defaults.headers, ...cfg.headers, ...(key ? { authorization: `Bearer ${key}` } : {}) };
    this.streamHeaders = this.headers({ 'content-type': 'application/json', accept: 'text/event-stream' });
  }

  path(p: string): string {
    return this.prefix + p;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.baseHeaders, ...extra };
  }

  get hasCapacity(): boolean {
    return this.inFlight < this.maxConcurrency;
  }

  blocked(now = Date.now()): boolean {
    return this.blockedUntil > now;
  }
}
