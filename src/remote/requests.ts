// One HTTP exchange with one endpoint, as the engine's attempt loop runs it: a streamed request
// (its leg pushes events into the request's queue) or a whole JSON answer.
import type { FridayError } from '../api/errors.js';
import type { Channel } from '../stream/channel.js';
import type { LegBatch } from './chunks.js';
import { ChunkDecoder } from './chunks.js';
import type { Endpoint } from './endpoint.js';
import { errorFromStreamEvent, remoteError } from './errors.js';
import { Exchange, type Exchanges } from './exchange.js';
import type { LegRequest } from './failover.js';
import { SseLeg } from './leg.js';
import type { REMOTE_DEFAULTS } from './options.js';
import type { Transport } from './transport.js';
import { parseJson, requestBody } from './wire.js';

/** What an exchange needs from its engine. */
export interface RequestContext {
  /** Set once transportP resolves (most requests then skip an await). */
  transport: Transport | undefined;
  readonly transportP: Promise<Transport>;
  readonly exchanges: Exchanges;
  readonly o: typeof REMOTE_DEFAULTS;
  readonly defaultModel: string | undefined;
  /** Tokens received, all requests (the engine's metric). */
  tokens: number;
  /** What each timeout's error says happened (built once per engine, not per request). */
  readonly timeoutWhat: { firstToken: string; interToken: string; response: string };
}

/**
 * What a streamed exchange reports to, and what a cancel or a drain reaches through: the exchange
 * it is on now (and its leg, once streaming).
 */
export interface LegOwner {
  x?: Exchange;
  leg?: SseLeg;
  final?: boolean;
  /** A promise for the first batch: resolves (with false) when batch() is first called; rejects if ended() comes first. */
  waitStart(): Promise<boolean>;
  /** After each batch pushed into the queue. */
  batch(b: LegBatch): void;
  /** The exchange ended: with nothing after the final batch, else with the failure. */
  ended(err?: FridayError): void;
}

/**
 * One streamed request on one endpoint: its batches go into `out` as they arrive, and its end to
 * `owner.ended()`. Resolves at the first batch (false), or true when the answer came whole (a
 * server that ignored `stream`: nothing more follows); rejects on a failure before either.
 */
export async function streamFrom(
  cx: RequestContext, ep: Endpoint, leg: LegRequest, outer: AbortSignal | undefined, out: Channel<LegBatch>, owner: LegOwner,
): Promise<boolean> {
  const t = cx.transport ?? (await cx.transportP);
  const x = new Exchange(ep, outer, cx.exchanges);
  owner.x = x;
  owner.leg = undefined;
  owner.final = false;
  const path = ep.path(leg.kind === 'chat' ? '/v1/chat/completions' : '/v1/completions');
  const promptIds = leg.kind === 'completion' && Array.isArray(leg.gen!.prompt) ? leg.gen!.prompt : undefined;
  const dec = new ChunkDecoder(leg.kind, ep.name, promptIds);
  x.arm(cx.o.firstTokenTimeoutMs, 'timeout_first_token', cx.timeoutWhat.firstToken);
  let streaming = false;
  try {
    const res = await x.send(t, { method: 'POST', path, headers: ep.streamHeaders, body: JSON.stringify(requestBody(ep, leg, true, cx.defaultModel)) });
    try {
      const failed = x.checkStatus(res);
      if (failed) await failed;
      const ctype = (res.header('content-type') ?? '').toLowerCase();
      if (!ctype.includes('text/event-stream')) {
        // Some servers ignore `stream`: accept a whole JSON answer.
        if (!ctype.includes('json')) throw remoteError('REMOTE_PROTOCOL', 'protocol', `Remote endpoint "${ep.name}" answered a stream request with content-type "${ctype}".`, { endpoint: ep.name });
        const batch = dec.fromResponse(parseJson(await res.text(64 << 20), ep.name));
        x.clean();
        x.disarm();
        out.push(batch);
        owner.batch(batch);
        return true;
      }
    } catch (e) {
      throw x.reason(e, true);
    }
    // From here the leg reports to the owner, which finishes the exchange.
    streaming = true;
    const started = owner.waitStart(); // before start(): reads held before pipe() may come at once
    const sse = new SseLeg(x, dec, out, cx.o.interTokenTimeoutMs, cx.timeoutWhat.interToken, owner);
    owner.leg = sse;
    sse.start(res);
    return started;
  } finally {
    if (!streaming) x.finish();
  }
}

/** One non-streamed request on one endpoint: the server's JSON with `served_by` set to the endpoint name. */
export async function responseFrom(cx: RequestContext, ep: Endpoint, leg: LegRequest, outer: AbortSignal | undefined, started: () => void): Promise<Record<string, unknown>> {
  const t = cx.transport ?? (await cx.transportP);
  const x = new Exchange(ep, outer, cx.exchanges);
  const path = ep.path(leg.kind === 'chat' ? '/v1/chat/completions' : '/v1/completions');
  x.arm(cx.o.requestTimeoutMs, 'timeout_response', cx.timeoutWhat.response);
  try {
    const res = await x.send(t, { method: 'POST', path, headers: ep.headers({ 'content-type': 'application/json', accept: 'application/json' }), body: JSON.stringify(requestBody(ep, leg, false, cx.defaultModel)) });
    let obj: unknown;
    try {
      await x.checkStatus(res);
      obj = parseJson(await res.text(64 << 20), ep.name);
      x.clean();
    } catch (e) {
      throw x.reason(e, true);
    }
    x.disarm();
    if (typeof obj !== 'object' || obj === null || !Array.isArray((obj as { choices?: unknown }).choices)) {
      if (typeof obj === 'object' && obj !== null && 'error' in obj) throw errorFromStreamEvent(obj, ep.name);
      throw remoteError('REMOTE_PROTOCOL', 'protocol', `Remote endpoint "${ep.name}" sent a response without \`choices\`.`, { endpoint: ep.name });
    }
    const u = (obj as { usage?: { completion_tokens?: number } }).usage;
    if (typeof u?.completion_tokens === 'number') cx.tokens += u.completion_tokens;
    started();
    return { ...(obj as Record<string, unknown>), served_by: ep.name };
  } finally {
    x.finish();
  }
}
