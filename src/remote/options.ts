// RemoteEngine's options and their defaults.
import type { Tokenizer } from '../tokenizer/index.js';
import type { BreakerOptions } from './breaker.js';
import type { RemoteEndpointConfig } from './endpoint.js';

export interface RemoteEngineOptions {
  /** Endpoints: configs or base URLs. */
  endpoints: (RemoteEndpointConfig | string)[];
  /** Defaults for every endpoint (an endpoint's own setting wins). */
  apiKey?: string;
  model?: string;
  headers?: Record<string, string>;
  /** Reported in `info.contextLength` (the remote's own limit applies anyway). Default 0 (unknown). */
  contextLength?: number;
  /** TCP/TLS connect timeout. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Idle keep-alive sockets close after this. Default 30000 ms (a shorter server Keep-Alive hint wins). */
  idleTimeoutMs?: number;
  /**
   * From sending a streamed request to its first token. Default 60000 ms. Timeouts are checked
   * every twentieth of the shortest one (5 ms to 500 ms), and one fires up to a tenth of it late.
   */
  firstTokenTimeoutMs?: number;
  /** Between two tokens of a stream (keep-alive comments do not count as tokens). Default 30000 ms. */
  interTokenTimeoutMs?: number;
  /** A whole non-streamed response. Default 600000 ms. */
  requestTimeoutMs?: number;
  /** Attempts per request before its first token (all endpoints together). Default 4. */
  maxAttempts?: number;
  /** Backoff before retrying an endpoint already tried: equal jitter over base·2^n, capped. Defaults 100 / 4000 ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Block time after a 429/503 without Retry-After. Default 1000 ms. */
  defaultRetryAfterMs?: number;
  /** A Retry-After longer than this is not waited for (the error is returned). Default 30000 ms. */
  maxRetryAfterMs?: number;
  /** Requests waiting for endpoint capacity beyond this get QUEUE_FULL. Default 1024. */
  maxQueue?: number;
  breaker?: BreakerOptions;
  /** Background health checks (GET /health, else /v1/models). Default 10000 ms; 0 = off. */
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  /** The model's tokenizer, if known: exact text across a mid-stream failover (see failover.ts). */
  tokenizer?: Tokenizer;
  /** Force the HTTP layer (default: undici in Node/Electron main, fetch elsewhere). */
  transport?: 'undici' | 'fetch';
}

export const REMOTE_DEFAULTS = {
  contextLength: 0, connectTimeoutMs: 5_000, idleTimeoutMs: 30_000, firstTokenTimeoutMs: 60_000, interTokenTimeoutMs: 30_000,
  requestTimeoutMs: 600_000, maxAttempts: 4, backoffBaseMs: 100, backoffMaxMs: 4_000, defaultRetryAfterMs: 1_000,
  maxRetryAfterMs: 30_000, maxQueue: 1024, healthIntervalMs: 10_000, healthTimeoutMs: 2_000,
};

