// One HTTP exchange with one endpoint, as the engine's attempt loop runs it: a streamed request
// (sent and answered through callbacks; its leg pushes events into the request's queue) or a
// whole JSON answer.
import type { FridayError } from '../api/errors.js';
import type { Channel } from '../stream/channel.js';
import type { LegBatch, LegEvent } from './chunks.js';
import { ChunkDecoder } from './chunks.js';
import type { Endpoint } from './endpoint.js';
import { errorFromStreamEvent, remoteError } from './errors.js';
import { Exchange, type Exchanges } from './exchange.js';
import type { LegRequest } from './failover.js';
import { SseLeg } from './leg.js';
import type { REMOTE_DEFAULTS } from './options.js';
import type { ResponseReceiver, Transport, TransportResponse } from './transport.js';
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
  /** After each read's events (one, or a batch) pushed into the queue. */
  batch(b: LegEvent | LegBatch): void;
  /** The exchange ended: with nothing after the final batch, else with the failure. */
  ended(err?: FridayError): void;
}

/** The decoder for one streamed request's response. */
export function streamDecoder(ep: Endpoint, leg: LegRequest): ChunkDecoder {
  const promptIds = leg.kind === 'completion' && Array.isArray(leg.gen!.prompt) ? leg.gen!.prompt : undefined;
  return new ChunkDecoder(leg.kind, ep.name, promptIds);
}

/**
 * Sends one streamed request on `ep` through `x`, without a promise: its response, or the failure
 * to get one (map it with x.sendError()), goes to `rc`. Throws if it cannot be sent.
 */
export function sendStream(cx: RequestContext, t: Transport, ep: Endpoint, leg: LegRequest, x: Exchange, rc: ResponseReceiver): void {
  const path = ep.path(leg.kind === 'chat' ? '/v1/chat/completions' : '/v1/completions');
  x.arm(cx.o.firstTokenTimeoutMs, 'timeout_first_token', cx.timeoutWhat.firstToken);
  x.open(t, { method: 'POST', path, headers: ep.streamHeaders, body: JSON.stringify(requestBody(ep, leg, true, cx.defaultModel)) }, rc);
}

/**
 * The response to a streamed request. An event stream: its leg, which from now on reports to
 * `owner` (batches, then ended()). Otherwise a promise: for a whole JSON answer (a server that
 * ignored `stream`), pushed as one batch, or rejecting with the server's error status. Throws
 * what is wrong with the response itself (map it with x.reason(e, true)).
 */
export function streamResponse(
  cx: RequestContext, ep: Endpoint, x: Exchange, dec: ChunkDecoder, res: TransportResponse, out: Channel<LegEvent | LegBatch>, owner: LegOwner,
): SseLeg | Promise<void> {
  const failed = x.checkStatus(res);
  if (failed) return failed;
  const ctype = (res.header('content-type') ?? '').toLowerCase();
  if (ctype.includes('text/event-stream')) {
    const sse = new SseLeg(x, dec, out, cx.o.interTokenTimeoutMs, cx.timeoutWhat.interToken, owner);
    owner.leg = sse;
    sse.start(res);
    return sse;
  }
  // Some servers ignore `stream`: accept a whole JSON answer.
  if (!ctype.includes('json')) throw remoteError('REMOTE_PROTOCOL', 'protocol', `Remote endpoint "${ep.name}" answered a stream request with content-type "${ctype}".`, { endpoint: ep.name });
  return res.text(64 << 20).then((text) => {
    const batch = dec.fromResponse(parseJson(text, ep.name));
    x.clean();
    x.disarm();
    out.push(batch);
    owner.batch(batch);
  });
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
