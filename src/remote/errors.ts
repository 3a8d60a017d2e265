// Remote failures as FridayErrors. `details.kind` classifies them for retries, the circuit breaker
// and metrics; `details.endpoint` names the endpoint; `details.httpStatus` keeps the status.
// For 4xx answers `details.status` is set too, so a Friday server proxying the error (the router
// behind `friday serve --fallback`) passes the same status (400, 404, 429) on to its own client.
import { FridayError, type FridayErrorCode } from '../api/errors.js';

export type RemoteErrorKind =
  | 'connect' // could not connect / connection refused / reset before a response
  | 'dropped' // the connection closed mid-response
  | 'timeout_connect'
  | 'timeout_first_token'
  | 'timeout_inter_token'
  | 'timeout_response'
  | 'backpressure' // 429 / 503: honour Retry-After, try the next endpoint
  | 'http_4xx'
  | 'http_5xx'
  | 'stream_error' // an error event inside a 200 stream
  | 'protocol' // malformed SSE / JSON / missing fields
  | 'circuit_open'
  | 'no_endpoint'
  | 'aborted';

export const kindOf = (e: FridayError): RemoteErrorKind | undefined => e.details?.kind as RemoteErrorKind | undefined;

export function remoteError(code: FridayErrorCode, kind: RemoteErrorKind, message: string, details: Record<string, unknown> = {}, cause?: unknown): FridayError {
  return new FridayError(code, message, { kind, ...details }, cause === undefined ? undefined : { cause });
}

/** Retry-After: delta-seconds or an HTTP date. Returns milliseconds, or undefined when absent/invalid. */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

interface OpenAIErrorBody { message?: unknown; type?: unknown; code?: unknown; param?: unknown }

function errorFields(body: unknown): OpenAIErrorBody | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const e = (body as { error?: unknown }).error;
  if (typeof e === 'string') return { message: e };
  if (typeof e === 'object' && e !== null) return e as OpenAIErrorBody;
  if (typeof (body as { message?: unknown }).message === 'string') return body as OpenAIErrorBody; // {"message": "..."} (some servers)
  return undefined;
}

/** A non-2xx answer (body already read, maybe truncated). */
export function errorFromResponse(status: number, bodyText: string, endpoint: string, retryAfterMs?: number): FridayError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    parsed = undefined;
  }
  const f = errorFields(parsed);
  const msg = typeof f?.message === 'string' && f.message ? f.message : bodyText.trim().slice(0, 300) || `HTTP ${status}`;
  const backpressure = status === 429 || status === 503;
  const code: FridayErrorCode = status >= 500 ? 'REMOTE_HTTP_5XX' : 'REMOTE_HTTP_4XX';
  const kind: RemoteErrorKind = backpressure ? 'backpressure' : status >= 500 ? 'http_5xx' : 'http_4xx';
  return remoteError(code, kind, `Remote endpoint "${endpoint}" answered HTTP ${status}: ${msg}`, {
    endpoint, httpStatus: status,
    ...(status < 500 ? { status } : {}),
    ...(typeof f?.code === 'string' ? { remoteCode: f.code } : {}),
    ...(typeof f?.type === 'string' ? { type: f.type } : {}),
    ...(typeof f?.param === 'string' ? { param: f.param } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

/** `data: {"error": ...}` (or `event: error`) inside a 200 stream: the server failed after it started answering. */
export function errorFromStreamEvent(body: unknown, endpoint: string): FridayError {
  const f = errorFields(body);
  const msg = typeof f?.message === 'string' && f.message ? f.message : typeof body === 'string' ? body.slice(0, 300) : 'error event in stream';
  const type = typeof f?.type === 'string' ? f.type : undefined;
  // An invalid_request_error is the caller's fault (not worth another endpoint); anything else is the server's.
  const client = type === 'invalid_request_error';
  return remoteError(client ? 'REMOTE_HTTP_4XX' : 'REMOTE_HTTP_5XX', client ? 'http_4xx' : 'stream_error', `Remote endpoint "${endpoint}" reported an error mid-stream: ${msg}`, {
    endpoint,
    ...(typeof f?.code === 'string' ? { remoteCode: f.code } : {}),
    ...(type ? { type } : {}),
    ...(typeof f?.param === 'string' ? { param: f.param } : {}),
  });
}

/** A transport-level failure (no HTTP status): refused, reset, DNS, connect timeout, socket closed. */
export function networkError(e: unknown, endpoint: string, afterResponse: boolean): FridayError {
  const err = e as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err?.code ?? err?.cause?.code;
  const message = err?.cause?.message ?? err?.message ?? String(e);
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return remoteError('REMOTE_UNAVAILABLE', 'timeout_connect', `Remote endpoint "${endpoint}": connect timed out.`, { endpoint, cause: code }, e);
  }
  // UND_ERR_SOCKET: the socket was up and closed under the request (the server went away).
  const dropped = afterResponse || code === 'UND_ERR_SOCKET';
  const kind: RemoteErrorKind = dropped ? 'dropped' : 'connect';
  const what = afterResponse ? 'the connection closed mid-response' : dropped ? 'the connection closed before the response' : 'could not connect';
  return remoteError('REMOTE_UNAVAILABLE', kind, `Remote endpoint "${endpoint}": ${what} (${code ?? message}).`, { endpoint, ...(code ? { cause: code } : {}) }, e);
}

/** Failures that say nothing about the endpoint's health (the caller's request, or the caller giving up). */
export function isNeutral(e: FridayError): boolean {
  const k = kindOf(e);
  return e.code === 'ABORTED' || k === 'http_4xx' || k === 'backpressure' || k === 'aborted' || k === 'circuit_open' || k === 'no_endpoint';
}

/** Worth another attempt before the first token (same or another endpoint). */
export function isRetryable(e: FridayError): boolean {
  if (e.code === 'ABORTED') return false;
  const k = kindOf(e);
  return k !== undefined && k !== 'http_4xx' && k !== 'aborted' && k !== 'no_endpoint';
}
