// One HTTP exchange with one endpoint: its abort controller, our timeouts (first token, between
// tokens, whole response), the reason an abort happened, and socket hygiene (a body not read to its
// end drops the socket rather than returning it to the pool).
import { FridayError } from '../api/errors.js';
import { AbortHandle } from './abort.js';
import type { Endpoint } from './endpoint.js';
import { errorFromResponse, networkError, parseRetryAfter, remoteError, type RemoteErrorKind } from './errors.js';
import type { Transport, TransportResponse } from './transport.js';

/** What an exchange needs from the engine that runs it. */
export interface ExchangeOwner {
  isClosed(): boolean;
  /** Abort functions of every exchange in flight (the engine's close() calls them). */
  readonly active: Set<() => void>;
  /** Counts an HTTP request sent. */
  onSend(): void;
}

export type Exchange = ReturnType<typeof openExchange>;

/** Per-exchange plumbing: abort controller, our timeouts, the reason an abort happened, socket hygiene. */
export function openExchange(ep: Endpoint, outer: AbortSignal | undefined, owner: ExchangeOwner) {
  const ac = new AbortHandle();
  let why: FridayError | undefined;
  // One timer per exchange, not one per token: arm() moves a deadline; the timer, when it fires
  // early, sleeps again until the deadline (a token stream re-arms thousands of times a second).
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Infinity;
  let deadline = Infinity;
  let expiry: { ms: number; kind: RemoteErrorKind; what: string } = { ms: 0, kind: 'timeout_first_token', what: '' };
  let clean = false;
  let timedOut = false;
  const abortWith = (e: FridayError) => { why ??= e; ac.abort(); };
  const schedule = (at: number) => {
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(fire, Math.max(1, Math.ceil(at - performance.now())));
  };
  const fire = () => {
    timer = undefined;
    timerAt = Infinity;
    if (deadline === Infinity) return;
    if (performance.now() < deadline) return schedule(deadline);
    timedOut = true;
    abortWith(remoteError('REMOTE_UNAVAILABLE', expiry.kind, `Remote endpoint "${ep.name}": ${expiry.what}.`, { endpoint: ep.name, timeoutMs: expiry.ms }));
  };
  const onOuter = () => abortWith(new FridayError('ABORTED', 'The request was aborted by the caller.'));
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  const closer = () => abortWith(new FridayError('ENGINE_CLOSED', 'The remote engine was closed before this request finished.'));
  owner.active.add(closer);
  return {
    get timedOut() { return timedOut; },
    arm(ms: number, kind: 'timeout_first_token' | 'timeout_inter_token' | 'timeout_response', what: string) {
      if (ms <= 0) { deadline = Infinity; return; }
      deadline = performance.now() + ms;
      if (expiry.what !== what) expiry = { ms, kind, what };
      if (deadline < timerAt) schedule(deadline);
    },
    disarm() { deadline = Infinity; },
    clean() { clean = true; },
    async send(t: Transport, req: Parameters<Transport['request']>[1]): Promise<TransportResponse> {
      if (owner.isClosed()) throw new FridayError('ENGINE_CLOSED', 'The remote engine is closed.');
      owner.onSend();
      try {
        return await t.request(ep.origin, { ...req, signal: ac });
      } catch (e) {
        throw why ?? networkError(e, ep.name, false);
      }
    },
    async checkStatus(res: TransportResponse): Promise<void> {
      if (res.status >= 200 && res.status < 300) return;
      const text = await res.text(16 * 1024);
      clean = true;
      throw errorFromResponse(res.status, text, ep.name, parseRetryAfter(res.header('retry-after')));
    },
    reason(e: unknown, afterResponse: boolean): FridayError {
      if (why) return why;
      if (e instanceof FridayError) return e;
      return networkError(e, ep.name, afterResponse);
    },
    finish() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
      owner.active.delete(closer);
      if (!clean) ac.abort(); // the body was not read to its end: drop the socket rather than reuse it
    },
  };
}
