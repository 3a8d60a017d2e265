// Remote engine pieces that need no network: SSE parsing, chunk decoding, Retry-After, error
// mapping, endpoint lists, the circuit breaker and the exchange deadlines. (The failover logic: failover.test.ts.)
import { describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { AbortHandle } from '../../src/remote/abort.js';
import { CircuitBreaker } from '../../src/remote/breaker.js';
import { ChunkDecoder, type LegEvent } from '../../src/remote/chunks.js';
import { Endpoint } from '../../src/remote/endpoint.js';
import { errorFromResponse, parseRetryAfter } from '../../src/remote/errors.js';
import { deadlineTickMs, Exchange, Exchanges } from '../../src/remote/exchange.js';
import { shouldFailOver } from '../../src/remote/failover.js';
import { parseEndpointList } from '../../src/remote/cli-support.js';
import { SseParser, type SseEvent } from '../../src/remote/sse.js';
import { requestBody } from '../../src/remote/wire.js';

const enc = new TextEncoder();

function parseAll(pieces: (string | Uint8Array)[]): { events: SseEvent[]; comments: number } {
  const p = new SseParser();
  const events: SseEvent[] = [];
  for (const piece of pieces) events.push(...p.push(piece));
  events.push(...p.end());
  return { events, comments: p.comments };
}

describe('SseParser', () => {
  const stream = '\uFEFF: keep-alive\n\ndata: {"a":"héllo 日本"}\n\nevent: error\r\ndata: line1\r\ndata: line2\r\n\r\n: ping\r\rid: 7\rdata: [DONE]\r\r';
  const expected: SseEvent[] = [
    { event: 'message', data: '{"a":"héllo 日本"}' },
    { event: 'error', data: 'line1\nline2' },
    { event: 'message', data: '[DONE]', id: '7' },
  ];

  it('parses events, multi-line data, event names, ids, comments, BOM and all three line endings', () => {
    const r = parseAll([stream]);
    expect(r.events).toEqual(expected);
    expect(r.comments).toBe(2);
  });

  it('gives the same events however the bytes are split (UTF-8 characters and CRLF included)', () => {
    const bytes = enc.encode(stream);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(parseAll([bytes.subarray(0, cut), bytes.subarray(cut)]).events).toEqual(expected);
    }
    expect(parseAll([...bytes].map((b) => new Uint8Array([b]))).events).toEqual(expected); // one byte at a time
  });

  it('drops an event that was never terminated, keeps `data:` without a space, ignores unknown fields', () => {
    expect(parseAll(['data:x\nretry: 5\nfoo: bar\n\ndata: cut off']).events).toEqual([{ event: 'message', data: 'x' }]);
    expect(parseAll(['event: nodata\n\n']).events).toEqual([]);
  });

  it('rejects a runaway line', () => {
    const p = new SseParser(100);
    expect(() => p.push('data: ' + 'x'.repeat(200))).toThrow(/longer than 100/);
    const q = new SseParser(100); // bytes with no line end are held undecoded, and bounded too
    expect(() => { for (let i = 0; i < 10; i++) q.push(enc.encode('x'.repeat(50))); }).toThrow(/longer than 100/);
  });

  it('strips a byte order mark only at the start of the stream, not at the start of a later read', () => {
    const r = parseAll([enc.encode('\uFEFFdata: a\n\n'), enc.encode('\uFEFFdata: b\n\n')]);
    expect(r.events.map((e) => e.data)).toEqual(['a']); // "\uFEFFdata" is not a data field
    expect(parseAll([enc.encode('data: a\n'), enc.encode('data: \uFEFFb\n\n')]).events).toEqual([{ event: 'message', data: 'a\n\uFEFFb' }]);
  });
});

describe('ChunkDecoder', () => {
  it("maps Friday's completion chunks (one id per token chunk; tail text in the finish chunk)", () => {
    const d = new ChunkDecoder('completion', 'ep', [1, 2]);
    const evs: LegEvent[] = [];
    evs.push(...d.push({ choices: [{ index: 0, text: 'He', finish_reason: null, token_ids: [10] }] }));
    evs.push(...d.push({ choices: [{ index: 0, text: '', finish_reason: null, token_ids: [11] }] })); // held text
    evs.push(...d.push({ choices: [{ index: 0, text: 'llo', finish_reason: 'length' }] }));
    evs.push(...d.push({ choices: [], usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 } }));
    evs.push(d.final(true));
    expect(evs).toEqual([
      { done: false, token: 10, text: 'He', index: 0 },
      { done: false, token: 11, text: '', index: 1 },
      { done: true, text: 'llo', index: 2, finish_reason: 'length', served_by: 'ep', prompt_tokens: [1, 2], usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 } },
    ]);
  });

  it("maps vLLM-style chunks (several ids per chunk, last token in the finish chunk, prompt ids in the first)", () => {
    const d = new ChunkDecoder('chat', 'v');
    const evs: LegEvent[] = [];
    evs.push(...d.push({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, prompt_token_ids: [5, 6], finish_reason: null }] }));
    evs.push(...d.push({ choices: [{ index: 0, delta: { content: 'ab' }, token_ids: [7, 8], finish_reason: null }] }));
    evs.push(...d.push({ choices: [{ index: 0, delta: { content: 'c' }, token_ids: [9], finish_reason: 'stop' }] }));
    evs.push(d.final(false));
    expect(evs.map((e) => (e.done ? ['final', e.text, e.index, e.finish_reason, e.prompt_tokens] : [e.token, e.text]))).toEqual([
      [7, ''], [8, 'ab'], [9, 'c'], ['final', '', 3, 'stop', [5, 6]],
    ]);
  });

  it('without token ids: one event per non-empty chunk with token -1; counts from usage', () => {
    const d = new ChunkDecoder('completion', 'o');
    const evs = [...d.push({ choices: [{ text: 'a', finish_reason: null }] }), ...d.push({ choices: [{ text: '', finish_reason: null }] }), ...d.push({ choices: [{ text: 'b', finish_reason: null }] })];
    d.push({ choices: [{ text: '', finish_reason: 'length' }], usage: { prompt_tokens: 3, completion_tokens: 3 } });
    expect(evs.map((e) => [e.token, e.text])).toEqual([[-1, 'a'], [-1, 'b']]);
    expect(d.final(true)).toMatchObject({ index: 3, usage: { completion_tokens: 3, total_tokens: 6 } });
  });

  it('turns error objects, malformed chunks and truncated streams into FridayErrors', () => {
    const d = new ChunkDecoder('completion', 'x');
    expect(() => d.push({ error: { message: 'boom', type: 'server_error', code: 'DEVICE_LOST' } })).toThrow(expect.objectContaining({ code: 'REMOTE_HTTP_5XX', details: expect.objectContaining({ remoteCode: 'DEVICE_LOST', kind: 'stream_error' }) }));
    expect(() => d.push({ error: { message: 'bad', type: 'invalid_request_error' } })).toThrow(expect.objectContaining({ code: 'REMOTE_HTTP_4XX' }));
    expect(() => d.push([1, 2])).toThrow(expect.objectContaining({ code: 'REMOTE_PROTOCOL' }));
    expect(() => d.push({ choices: [{ text: 5 }] })).toThrow(expect.objectContaining({ code: 'REMOTE_PROTOCOL' }));
    expect(() => d.push({ choices: [{ text: 'a', token_ids: ['x'] }] })).toThrow(expect.objectContaining({ code: 'REMOTE_PROTOCOL' }));
    expect(() => new ChunkDecoder('completion', 'x').final(false)).toThrow(expect.objectContaining({ code: 'REMOTE_UNAVAILABLE', details: expect.objectContaining({ kind: 'dropped' }) }));
  });

  it('reads both logprob formats', () => {
    const d = new ChunkDecoder('completion', 'x');
    const [a] = d.push({ choices: [{ text: 'a', token_ids: [1], logprobs: { content: [{ token: 'a', logprob: -0.5, bytes: [97], top_logprobs: [{ token: 'b', logprob: -1, bytes: [98] }] }] } }] });
    expect(a).toMatchObject({ logprob: -0.5, top_logprobs: [{ token: -1, text: 'b', logprob: -1 }] });
    const [b] = d.push({ choices: [{ text: 'c', token_ids: [2], logprobs: { tokens: ['c'], token_logprobs: [-0.25], top_logprobs: [{ c: -0.25, d: -2 }] } }] });
    expect(b).toMatchObject({ logprob: -0.25, top_logprobs: [{ text: 'c' }, { text: 'd', logprob: -2 }] });
  });
});

describe('HTTP errors, Retry-After, endpoint lists', () => {
  it('parses Retry-After seconds and dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('maps OpenAI error bodies to REMOTE_HTTP_4XX/5XX with the details a proxy needs', () => {
    const e = errorFromResponse(400, JSON.stringify({ error: { message: '`temperature` must be a number', type: 'invalid_request_error', param: 'temperature', code: 'INVALID_REQUEST' } }), 'a');
    expect(e).toMatchObject({ code: 'REMOTE_HTTP_4XX', details: { kind: 'http_4xx', status: 400, httpStatus: 400, param: 'temperature', remoteCode: 'INVALID_REQUEST', endpoint: 'a' } });
    expect(e.message).toMatch(/temperature/);
    const b = errorFromResponse(503, 'Service Unavailable', 'b', 1000);
    expect(b).toMatchObject({ code: 'REMOTE_HTTP_5XX', details: { kind: 'backpressure', retryAfterMs: 1000, httpStatus: 503 } });
    expect(b.details?.status).toBeUndefined();
    expect(shouldFailOver(b)).toBe(true);
    expect(shouldFailOver(errorFromResponse(429, '{}', 'c'))).toBe(true);
    expect(shouldFailOver(e)).toBe(false);
    expect(FridayError.fromJSON(JSON.parse(JSON.stringify(b))).details?.kind).toBe('backpressure');
  });

  it('parses --fallback endpoint lists', () => {
    expect(parseEndpointList('http://a:1, big=http://b:2/v1;weight=3;max=64;model=m;continue')).toEqual([
      { url: 'http://a:1' },
      { url: 'http://b:2/v1', name: 'big', weight: 3, maxConcurrency: 64, model: 'm', continueAssistant: true },
    ]);
    expect(() => parseEndpointList('')).toThrow(FridayError);
    expect(() => parseEndpointList('ftp://x')).toThrow(/not an http/);
    expect(() => parseEndpointList('http://x;color=red')).toThrow(/Unknown endpoint setting/);
  });
});

describe('CircuitBreaker', () => {
  it('opens after consecutive failures, admits one half-open probe, closes on success, backs off on failure', () => {
    let now = 0;
    const b = new CircuitBreaker({ failureThreshold: 3, resetTimeoutMs: 100, maxResetTimeoutMs: 250 }, () => now);
    b.onFailure(); b.onFailure(); b.onSuccess(); b.onFailure(); b.onFailure();
    expect(b.state).toBe('closed'); // not consecutive
    b.onFailure();
    expect(b.state).toBe('open');
    expect(b.canPass()).toBe(false);
    expect(b.retryInMs).toBe(100);
    now = 100;
    expect(b.tryAcquire()).toBe(true); // the probe
    expect(b.state).toBe('half-open');
    expect(b.tryAcquire()).toBe(false); // only one
    b.onFailure();
    expect(b.state).toBe('open');
    expect(b.retryInMs).toBe(200); // doubled
    now = 300;
    expect(b.tryAcquire()).toBe(true);
    b.onNeutral(); // e.g. the caller aborted: no verdict, probe released
    expect(b.tryAcquire()).toBe(true);
    b.onSuccess();
    expect(b.state).toBe('closed');
    expect(b.opens).toBe(2);
  });
});

describe('Exchange deadlines', () => {
  // The check is called with made-up times: no timer runs (the tick is an hour).
  const exchange = () => new Exchange(new Endpoint({ url: 'http://127.0.0.1:9', name: 'ep' }, {}, {}), undefined, new Exchanges(3_600_000));

  it('expires an armed timeout once its time passed, not before', () => {
    const x = exchange();
    const t0 = performance.now();
    x.arm(100, 'timeout_first_token', 'no token');
    x.check(t0 + 50);
    expect(x.timedOut).toBe(false);
    x.check(performance.now() + 100);
    expect(x.timedOut).toBe(true);
    x.finish();
  });

  it('dates a re-arm of the same timeout at the next check, so it never expires early', () => {
    const x = exchange();
    const t0 = performance.now();
    x.arm(100, 'timeout_inter_token', 'gap');
    x.arm(100, 'timeout_inter_token', 'gap'); // a read: counted, not timed
    x.check(t0 + 90); // sees the read: the deadline is now t0 + 190
    x.check(t0 + 150); // past the first deadline, not the moved one
    expect(x.timedOut).toBe(false);
    x.check(t0 + 191);
    expect(x.timedOut).toBe(true);
    x.finish();
  });

  it('re-arms from now when the timeout changes, and stays off once disarmed', () => {
    const x = exchange();
    x.arm(100, 'timeout_first_token', 'no token');
    x.arm(50, 'timeout_inter_token', 'gap'); // another timeout: timed at once
    x.disarm();
    x.check(performance.now() + 10_000);
    expect(x.timedOut).toBe(false);
    x.arm(50, 'timeout_inter_token', 'gap');
    x.check(performance.now() + 51);
    expect(x.timedOut).toBe(true);
    x.finish();
  });

  it('checks every twentieth of the shortest timeout, 5 ms to 500 ms', () => {
    expect(deadlineTickMs(30_000, 0, 600_000)).toBe(500);
    expect(deadlineTickMs(2_000)).toBe(100);
    expect(deadlineTickMs(20)).toBe(5);
    expect(deadlineTickMs(0, 0)).toBe(500);
  });
});

describe('requestBody', () => {
  const ep = (model?: string) => new Endpoint({ url: 'http://127.0.0.1:9', name: 'ep', ...(model ? { model } : {}) }, {}, {});

  it("sends the caller's extra OpenAI fields; ours win, undefined ones are left out, and the stream fields are ours", () => {
    const leg = {
      kind: 'completion' as const,
      gen: { prompt: 'hi', max_tokens: 5, top_k: 3 },
      raw: { prompt: 'raw prompt', max_tokens: 99, stream: false, stream_options: { x: 1 }, return_token_ids: false, n_probs: 2, model: 'raw-model', top_p: 0.5 },
    };
    expect(JSON.parse(JSON.stringify(requestBody(ep(), leg, true, 'default')))).toEqual({
      model: 'raw-model', prompt: 'hi', max_tokens: 5, temperature: 0, top_k: 3,
      stream: true, stream_options: { include_usage: true }, return_token_ids: true, n_probs: 2,
    });
    expect(JSON.parse(JSON.stringify(requestBody(ep('ep-model'), { kind: 'completion', gen: { prompt: [1, 2] } }, false, 'default')))).toEqual({
      model: 'ep-model', prompt: [1, 2], temperature: 0, stream: false,
    });
  });
});

describe('AbortHandle', () => {
  it('runs its listeners once, in the order added, less those removed; adds nothing after abort', () => {
    const h = new AbortHandle();
    const calls: string[] = [];
    const l = (name: string) => () => { calls.push(name); };
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(l);
    h.addEventListener('abort', a!);
    h.addEventListener('abort', b!);
    h.addEventListener('abort', c!);
    h.removeEventListener('abort', a!); // the first: the next one takes its place
    h.removeEventListener('abort', c!);
    h.addEventListener('abort', d!);
    h.abort();
    h.abort();
    h.addEventListener('abort', a!);
    expect(calls).toEqual(['b', 'd']);
    expect(h.aborted).toBe(true);
  });
});
