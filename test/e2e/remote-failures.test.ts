// RemoteEngine against a real HTTP server on 127.0.0.1 that injects failures (failure-server.ts):
// each failure shows its documented behaviour, and afterwards the pool is back to idle sockets only
// and the server sees exactly the sockets the pool holds (nothing leaks; remote-rig.ts checks it).
// Routing, flow control and health checks against the same server: remote-flow.test.ts.
import { describe, expect, it } from 'vitest';
import type { FridayError } from '../../src/api/errors.js';
import { RemoteEngine } from '../../src/remote/engine.js';
import { expectedTokens, startFailureServer } from './failure-server.js';
import { remoteRig, run, sleep, text } from './remote-rig.js';

describe('RemoteEngine against a failure-injecting server', () => {
  const rig = remoteRig();
  const { engine, ep, expectSettled } = rig;

  it('streams and non-streams completions and chat, reusing one keep-alive connection', async () => {
    const r = engine({ endpoints: [{ url: rig.s.url, name: 'canned', model: 'toy', apiKey: 'sk-test', headers: { 'x-extra': '1' } }] });
    const a = await run(r, { prompt: 'ab', max_tokens: 5 });
    expect(a.tokens).toEqual(expectedTokens('ab', 5));
    expect(a.text).toBe('cdefg');
    expect(a.final).toMatchObject({ finish_reason: 'length', index: 5, served_by: 'canned', usage: { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 } });
    const last = rig.s.requests.at(-1)!;
    expect(last.body).toMatchObject({ model: 'toy', prompt: 'ab', stream: true, return_token_ids: true, temperature: 0, stream_options: { include_usage: true } });

    const b = await run(r, { prompt: [97, 98], max_tokens: 3 });
    expect(b.tokens).toEqual([99, 100, 101]);
    expect(b.final?.prompt_tokens).toEqual([97, 98]);

    const c = await r.completions.create({ prompt: 'ab', max_tokens: 3, return_token_ids: true });
    expect(c).toMatchObject({ object: 'text_completion', served_by: 'canned', choices: [{ text: 'cde', token_ids: [99, 100, 101], finish_reason: 'length' }] });
    const chunks = [];
    for await (const ch of await r.completions.create({ prompt: 'ab', max_tokens: 3, stream: true, return_token_ids: true, stream_options: { include_usage: true } })) chunks.push(ch);
    expect(chunks.flatMap((ch) => ch.choices[0]?.token_ids ?? [])).toEqual([99, 100, 101]);
    expect(chunks.at(-1)).toMatchObject({ usage: { completion_tokens: 3 }, served_by: 'canned' });

    const chat = await r.chat.completions.create({ messages: [{ role: 'user', content: 'hx' }], max_tokens: 4 });
    expect(chat).toMatchObject({ object: 'chat.completion', served_by: 'canned', choices: [{ message: { role: 'assistant', content: 'yzab' } }] });
    let content = '';
    for await (const ch of await r.chat.completions.create({ messages: [{ role: 'user', content: 'hx' }], max_tokens: 4, stream: true })) content += ch.choices[0]?.delta.content ?? '';
    expect(content).toBe('yzab');

    for (let i = 0; i < 10; i++) await run(r, { prompt: 'a', max_tokens: 2 });
    const m = r.metrics();
    expect(m.transport).toBe('undici');
    expect(m.requests).toBe(16);
    expect(m.tokens).toBe(5 + 3 + 3 + 3 + 4 + 4 + 10 * 2); // tokens only, not final events
    expect(m.newConnections).toBe(1); // sequential requests share one keep-alive socket
    expect(m.connectionReuseRatio).toBeCloseTo(1 - 1 / 16);
    expect(m.endpoints[0]).toMatchObject({ requests: 16, succeeded: 16, failed: 0, circuit: 'closed' });
    expect(m.endpoints[0]!.latency_ms.count).toBe(16);
    expect(m.endpoints[0]!.ttft_ms.p50).toBeGreaterThan(0);
  });

  it('parses events split across writes, CRLF, keep-alive comments, JSON answers and id-less servers', async () => {
    const r = engine({ endpoints: [ep('split,crlf,ping'), ep('no-ids'), ep('json'), ep('no-done')] });
    for (const name of ['split,crlf,ping', 'json', 'no-done']) {
      const ex = engine({ endpoints: [ep(name)] });
      const o = await run(ex, { prompt: 'ab', max_tokens: 6 });
      expect(o.error, name).toBeUndefined();
      expect(o.tokens, name).toEqual(expectedTokens('ab', 6));
      expect(o.text, name).toBe('cdefgh');
    }
    const noIds = engine({ endpoints: [ep('no-ids')] });
    const o = await run(noIds, { prompt: 'ab', max_tokens: 4 });
    expect(o.tokens).toEqual([-1, -1, -1, -1]); // documented: tokens unknown
    expect(o.text).toBe('cdef');
    expect(o.final).toMatchObject({ index: 4, usage: { completion_tokens: 4 } });
    expect(r.endpoints.length).toBe(4);
  });

  it('a connection dropped mid-stream: REMOTE_UNAVAILABLE on a single endpoint, seamless continuation with two', async () => {
    const single = engine({ endpoints: [ep('drop=3')] });
    const a = await run(single, { prompt: 'ab', max_tokens: 8 });
    expect(a.tokens).toEqual(expectedTokens('ab', 3));
    expect(a.error).toMatchObject({ code: 'REMOTE_UNAVAILABLE', details: { kind: 'dropped', endpoint: 'drop=3', tokens: 3, failover: 'exhausted' } });
    await expectSettled(single);

    const two = engine({ endpoints: [ep('drop=3'), { url: rig.s.url, name: 'B' }] });
    const n0 = rig.s.requests.length;
    const b = await run(two, { prompt: 'ab', max_tokens: 8 });
    expect(b.error).toBeUndefined();
    expect(b.tokens).toEqual(expectedTokens('ab', 8)); // no gap, no duplicate
    expect(b.text).toBe('cdefghij');
    expect(b.final).toMatchObject({ served_by: 'B', index: 8, usage: { prompt_tokens: 2, completion_tokens: 8, total_tokens: 10 } });
    // No tokenizer and a text prompt: continued as text, max_tokens reduced.
    expect(rig.s.requests.slice(n0).map((q) => [q.directives, q.body?.prompt, q.body?.max_tokens])).toEqual([['drop=3', 'ab', 8], ['', 'abcde', 5]]);
    expect(two.metrics().failovers).toBe(1);

    // A token-id prompt continues as ids.
    const again = engine({ endpoints: [ep('drop=3'), { url: rig.s.url, name: 'B' }] });
    const n1 = rig.s.requests.length;
    const c = await run(again, { prompt: [97, 98], max_tokens: 6 });
    expect(c.tokens).toEqual(expectedTokens([97, 98], 6));
    expect(rig.s.requests.slice(n1).map((q) => q.body?.prompt)).toEqual([[97, 98], [97, 98, 99, 100, 101]]);
  });

  it('a connection dropped before the first token is retried (with backoff) on the same endpoint', async () => {
    const r = engine({ endpoints: [ep('drop=0,times=2')] });
    const o = await run(r, { prompt: 'ab', max_tokens: 3 });
    expect(o.error).toBeUndefined();
    expect(o.tokens).toEqual(expectedTokens('ab', 3));
    expect(r.metrics()).toMatchObject({ retries: 2, errors: { dropped: 2 } });
    const always = engine({ endpoints: [ep('drop=0')], maxAttempts: 3 });
    const e = await run(always, { prompt: 'ab', max_tokens: 3 });
    expect(e.error).toMatchObject({ code: 'REMOTE_UNAVAILABLE', details: { kind: 'dropped' } });
    expect(always.metrics().endpoints[0]!.requests).toBe(3);
  });

  it('503 + Retry-After is backpressure: the next endpoint serves at once; alone, the client waits Retry-After', async () => {
    const two = engine({ endpoints: [ep('status=503,retry-after=2'), { url: rig.s.url, name: 'B' }] });
    const a = await run(two, { prompt: 'ab', max_tokens: 3 });
    expect(a.final?.served_by).toBe('B');
    expect(a.ms).toBeLessThan(1500); // not after A's Retry-After (2 s)
    const hitsA = () => rig.s.requests.filter((q) => q.directives === 'status=503,retry-after=2').length;
    const before = hitsA();
    for (let i = 0; i < 4; i++) expect((await run(two, { prompt: 'ab', max_tokens: 2 })).final?.served_by).toBe('B');
    expect(hitsA()).toBe(before); // blocked for its Retry-After: not asked again
    expect(two.metrics().endpoints[0]).toMatchObject({ circuit: 'closed', errors: { backpressure: 1 } }); // backpressure is not a failure

    const alone = engine({ endpoints: [ep('status=503,retry-after=1,times=1')] });
    const b = await run(alone, { prompt: 'ab', max_tokens: 3 });
    expect(b.error).toBeUndefined();
    expect(b.tokens).toEqual(expectedTokens('ab', 3));
    expect(b.ms).toBeGreaterThanOrEqual(950);
    expect(b.ms).toBeLessThan(3000);
    // The 503 body was read: the socket was reused, not replaced.
    expect(alone.metrics().newConnections).toBe(1);

    const busy = engine({ endpoints: [ep('status=429')], maxAttempts: 2, defaultRetryAfterMs: 200 });
    const c = await run(busy, { prompt: 'ab', max_tokens: 3 });
    expect(c.error).toMatchObject({ code: 'REMOTE_HTTP_4XX', details: { kind: 'backpressure', httpStatus: 429, status: 429, remoteCode: 'QUEUE_FULL' } });
    expect(c.ms).toBeGreaterThanOrEqual(190);
    const tooLong = engine({ endpoints: [ep('status=503,retry-after=120')], maxRetryAfterMs: 5_000 });
    const d = await run(tooLong, { prompt: 'ab', max_tokens: 3 });
    expect(d.error).toMatchObject({ code: 'REMOTE_HTTP_5XX', details: { retryAfterMs: 120_000 } });
    expect(d.ms).toBeLessThan(4000); // a Retry-After beyond maxRetryAfterMs (5 s) is not waited for
  });

  it('a server that stalls before the first token times out (keep-alive pings do not count) and the next endpoint serves', async () => {
    const single = engine({ endpoints: [ep('stall=3000')], firstTokenTimeoutMs: 300, maxAttempts: 2 });
    const a = await run(single, { prompt: 'ab', max_tokens: 3 });
    expect(a.error).toMatchObject({ code: 'REMOTE_UNAVAILABLE', details: { kind: 'timeout_first_token', timeoutMs: 300 } });
    expect(a.ms).toBeGreaterThanOrEqual(590);
    expect(a.ms).toBeLessThan(2000);
    await expectSettled(single); // the timed-out sockets were destroyed on both sides

    const two = engine({ endpoints: [ep('stall=3000'), { url: rig.s.url, name: 'B' }], firstTokenTimeoutMs: 300 });
    const b = await run(two, { prompt: 'ab', max_tokens: 3 });
    expect(b.final?.served_by).toBe('B');
    expect(b.tokens).toEqual(expectedTokens('ab', 3));

    const gap = engine({ endpoints: [ep('gap=3:3000'), { url: rig.s.url, name: 'B' }], interTokenTimeoutMs: 300 });
    const c = await run(gap, { prompt: [97], max_tokens: 7 });
    expect(c.error).toBeUndefined();
    expect(c.tokens).toEqual(expectedTokens([97], 7));
    expect(c.final?.served_by).toBe('B');
    expect(gap.metrics().errors).toMatchObject({ timeout_inter_token: 1 });
  });

  it('malformed SSE is REMOTE_PROTOCOL: not retried on the same endpoint; mid-stream it fails over', async () => {
    const single = engine({ endpoints: [ep('malformed')] });
    const n0 = rig.s.requests.length;
    const a = await run(single, { prompt: 'ab', max_tokens: 3 });
    expect(a.error).toMatchObject({ code: 'REMOTE_PROTOCOL', details: { kind: 'protocol', endpoint: 'malformed' } });
    expect(rig.s.requests.length - n0).toBe(1);

    const two = engine({ endpoints: [ep('malformed=2'), { url: rig.s.url, name: 'B' }] });
    const b = await run(two, { prompt: 'ab', max_tokens: 5 });
    expect(b.tokens).toEqual(expectedTokens('ab', 5));
    expect(b.final?.served_by).toBe('B');
  });

  it('many events in one read: the same tokens; tokens read before a malformed event or an error event still arrive first', async () => {
    const whole = await run(engine({ endpoints: [ep('burst')] }), { prompt: 'ab', max_tokens: 12 });
    expect(whole.error).toBeUndefined();
    expect(whole.tokens).toEqual(expectedTokens('ab', 12));
    expect(whole.final).toMatchObject({ index: 12, finish_reason: 'length', served_by: 'burst' });

    const two = engine({ endpoints: [ep('burst,malformed=3'), { url: rig.s.url, name: 'B' }] });
    const b = await run(two, { prompt: 'ab', max_tokens: 6 });
    expect(b.tokens).toEqual(expectedTokens('ab', 6));
    expect(b.final?.served_by).toBe('B');
    expect(two.metrics().failovers).toBe(1);

    const e = await run(engine({ endpoints: [ep('burst,error-event=4')] }), { prompt: 'ab', max_tokens: 8 });
    expect(e.tokens).toEqual(expectedTokens('ab', 4));
    expect(e.error).toMatchObject({ code: 'REMOTE_HTTP_5XX', details: { tokens: 4 } });
  });

  it('an error event mid-stream becomes REMOTE_HTTP_5XX with the server\'s code', async () => {
    const r = engine({ endpoints: [ep('error-event=2')] });
    const o = await run(r, { prompt: 'ab', max_tokens: 5 });
    expect(o.tokens).toHaveLength(2);
    expect(o.error).toMatchObject({ code: 'REMOTE_HTTP_5XX', details: { kind: 'stream_error', remoteCode: 'DEVICE_LOST', tokens: 2 } });
  });

  it('refused connections open the circuit, which then fails fast, probes half-open and closes again', async () => {
    const own = await startFailureServer();
    try {
      const r = new RemoteEngine({ endpoints: [{ url: own.url, name: 'own' }], healthIntervalMs: 0, maxAttempts: 1, breaker: { failureThreshold: 3, resetTimeoutMs: 300 } });
      expect((await run(r, { prompt: 'ab', max_tokens: 2 })).error).toBeUndefined();
      await own.refuse();
      for (let i = 0; i < 100 && r.poolStats()!.connected > 0; i++) await sleep(10); // the idle socket was closed by the server
      for (let i = 0; i < 3; i++) {
        const o = await run(r, { prompt: 'ab', max_tokens: 2 });
        expect(o.error).toMatchObject({ code: 'REMOTE_UNAVAILABLE', details: { kind: 'connect', cause: 'ECONNREFUSED' } });
      }
      expect(r.metrics().endpoints[0]!.circuit).toBe('open');
      const fast = await run(r, { prompt: 'ab', max_tokens: 2 });
      expect(fast.error).toMatchObject({ code: 'REMOTE_UNAVAILABLE', details: { kind: 'circuit_open' } });
      expect(fast.ms).toBeLessThan(50);
      expect(r.metrics().endpoints[0]!.requests).toBe(4); // no connection attempt while open
      await own.resume();
      await sleep(320);
      const probe = await run(r, { prompt: 'ab', max_tokens: 2 });
      expect(probe.error).toBeUndefined();
      expect(r.metrics().endpoints[0]!.circuit).toBe('closed');
      const p = r.poolStats()!;
      expect(p.connected).toBe(p.free);
      expect(own.openSockets()).toBe(p.connected);
      await r.close();
      for (let i = 0; i < 100 && own.openSockets() > 0; i++) await sleep(10);
      expect(own.openSockets()).toBe(0);
    } finally {
      await own.close();
    }
  });

  it('chat mid-stream: continues only on an endpoint that can continue an assistant message', async () => {
    const msgs = [{ role: 'user' as const, content: 'hx' }];
    const without = engine({ endpoints: [ep('drop=3'), { url: rig.s.url, name: 'B' }] });
    let got = '';
    let err: FridayError | undefined;
    try {
      for await (const ch of await without.chat.completions.create({ messages: msgs, max_tokens: 8, stream: true })) got += ch.choices[0]?.delta.content ?? '';
    } catch (e) {
      err = e as FridayError;
    }
    expect(got).toBe('yza');
    expect(err).toMatchObject({ code: 'REMOTE_UNAVAILABLE', details: { failover: 'unsupported', tokens: 3 } });
    expect(err!.message).toMatch(/continueAssistant/);

    const withFlag = engine({ endpoints: [ep('drop=3'), { url: rig.s.url, name: 'B', continueAssistant: true }] });
    const n0 = rig.s.requests.length;
    got = '';
    let served = '';
    for await (const ch of await withFlag.chat.completions.create({ messages: msgs, max_tokens: 8, stream: true })) {
      got += ch.choices[0]?.delta.content ?? '';
      if (ch.served_by) served = ch.served_by;
    }
    expect(got).toBe(text(expectedTokens('hx', 8)));
    expect(served).toBe('B');
    expect(rig.s.requests[n0 + 1]!.body).toMatchObject({ continue_final_message: true, add_generation_prompt: false, max_tokens: 5, messages: [...msgs, { role: 'assistant', content: 'yza' }] });
  });

  it('weights split traffic; max concurrency caps requests (and sockets) per endpoint', async () => {
    const r = engine({ endpoints: [ep('delay=1', { weight: 3, maxConcurrency: 2 }), ep('delay=2', { weight: 1, maxConcurrency: 2 })] });
    for (let i = 0; i < 8; i++) await run(r, { prompt: 'a', max_tokens: 1 });
    expect(r.metrics().endpoints.map((e) => e.requests)).toEqual([6, 2]);
    const outs = await Promise.all(Array.from({ length: 12 }, () => run(r, { prompt: 'ab', max_tokens: 6 })));
    for (const o of outs) expect(o.tokens).toEqual(expectedTokens('ab', 6));
    expect(rig.s.maxActive()).toBeLessThanOrEqual(4);
    expect(r.poolStats()!.connected).toBeLessThanOrEqual(4);
  });

  it('a consumer that stops reading, or aborts, closes its request', async () => {
    const r = engine({ endpoints: [ep('delay=20')] });
    const a = await run(r, { prompt: 'ab', max_tokens: 50 }, { onToken: (n) => n === 2 });
    expect(a.tokens).toHaveLength(2);
    await expectSettled(r);
    const ac = new AbortController();
    const b = await run(r, { prompt: 'ab', max_tokens: 50 }, { signal: ac.signal, onToken: (n) => { if (n === 2) ac.abort(); } });
    expect(b.error?.code).toBe('ABORTED');
    await expectSettled(r);
    for (let i = 0; i < 50 && rig.s.active() > 0; i++) await sleep(20);
    expect(rig.s.active()).toBe(0); // the server saw the client go away
  });

  it('close() ends streams in flight with ENGINE_CLOSED and releases every socket', async () => {
    const r = new RemoteEngine({ endpoints: [ep('delay=20')], healthIntervalMs: 0 });
    const outs = Promise.all([0, 1, 2].map(() => run(r, { prompt: 'ab', max_tokens: 50 })));
    for (let i = 0; i < 100 && rig.s.active() < 3; i++) await sleep(10);
    await r.close();
    for (const o of await outs) expect(o.error?.code).toBe('ENGINE_CLOSED');
    await expect(r.completions.create({ prompt: 'a' })).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
  });

  it('the fetch transport (the browser path) gives the same streams', async () => {
    const r = new RemoteEngine({ endpoints: [{ url: rig.s.url, maxConcurrency: 2, headers: { connection: 'close' } }], healthIntervalMs: 0, transport: 'fetch' });
    try {
      const outs = await Promise.all([0, 1, 2, 3].map(() => run(r, { prompt: 'ab', max_tokens: 5 })));
      for (const o of outs) expect(o.tokens).toEqual(expectedTokens('ab', 5));
      expect(r.metrics()).toMatchObject({ transport: 'fetch', newConnections: undefined, connectionReuseRatio: undefined });
      const two = new RemoteEngine({ endpoints: [{ url: `${rig.s.url}/fail/drop=2`, name: 'A', headers: { connection: 'close' } }, { url: rig.s.url, name: 'B', headers: { connection: 'close' } }], healthIntervalMs: 0, transport: 'fetch' });
      const o = await run(two, { prompt: 'ab', max_tokens: 6 });
      expect(o.tokens).toEqual(expectedTokens('ab', 6));
      expect(o.final?.served_by).toBe('B');
      await two.close();
    } finally {
      await r.close();
    }
  });
});
