// The remote client's routing, flow control and health checks against the failure-injecting
// server on 127.0.0.1 (failure-server.ts): a router over remote engines, a consumer slower than
// the server, the undici transport's aborts, and /health. Like remote-failures.test.ts, each test
// ends with the pools idle and no socket left behind (remote-rig.ts).
import { describe, expect, it } from 'vitest';
import type { FinalEvent, GenerateEvent } from '../../src/api/types.js';
import { AbortHandle } from '../../src/remote/abort.js';
import type { RemoteEngine } from '../../src/remote/engine.js';
import { RouterEngine } from '../../src/remote/router.js';
import { createTransport } from '../../src/remote/transport.js';
import { expectedTokens } from './failure-server.js';
import { remoteRig, run, sleep } from './remote-rig.js';

describe('RemoteEngine routing, flow control and health against a failure-injecting server', () => {
  const rig = remoteRig();
  const { engine, ep, expectSettled } = rig;

  it('router with no local side: the remote engine serves, failing over across its endpoints; closed, the router refuses while a remote it does not own goes on', async () => {
    const remote = engine({ endpoints: [ep('drop=2', { name: 'A', weight: 1000 }), { url: rig.s.url, name: 'B' }] });
    const router = new RouterEngine({ remote }); // prefer-local, nothing local
    const only = new RouterEngine({ policy: 'remote-only', remote });
    for (const r of [router, only]) {
      const o = await run(r as unknown as RemoteEngine, { prompt: [97], max_tokens: 5 });
      expect(o.error).toBeUndefined();
      expect(o.tokens).toEqual(expectedTokens([97], 5));
      expect(o.final).toMatchObject({ served_by: 'B', usage: { prompt_tokens: 1, completion_tokens: 5 } });
    }
    expect(router.metrics()).toMatchObject({ routed: { 'remote:none': 1 }, failovers: 0, remote: { failovers: 2 } });
    expect(only.metrics().routed).toEqual({ 'remote:policy': 1 });
    const early = router.generate({ prompt: 'ab', max_tokens: 2 }); // made while open, read after close()
    expect(router.metrics().routed).toEqual({ 'remote:none': 1 }); // counted when read, not when made
    await router.close();
    expect((await run(router as unknown as RemoteEngine, { prompt: 'ab', max_tokens: 2 })).error).toMatchObject({ code: 'ENGINE_CLOSED' });
    await expect(early[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'ENGINE_CLOSED' });
    expect((await run(only as unknown as RemoteEngine, { prompt: 'ab', max_tokens: 2 })).error).toBeUndefined(); // the remote was not the router's to close
  });

  it('router prefer-remote: a remote that dies mid-stream continues on the local side; an open circuit routes local first', async () => {
    // Any Engine can be the local side; a RemoteEngine on a healthy endpoint stands in for the GPU here.
    const standIn = engine({ endpoints: [{ url: rig.s.url, name: 'stand-in' }] });
    const flaky = engine({ endpoints: [ep('drop=3')], maxAttempts: 1, breaker: { failureThreshold: 2, resetTimeoutMs: 60_000 } });
    const router = new RouterEngine({ policy: 'prefer-remote', local: standIn, remote: flaky, closeLocal: false });
    const a = await run(router as unknown as RemoteEngine, { prompt: [97], max_tokens: 7 });
    expect(a.error).toBeUndefined();
    expect(a.tokens).toEqual(expectedTokens([97], 7));
    expect(a.final).toMatchObject({ served_by: 'stand-in', usage: { prompt_tokens: 1, completion_tokens: 7 } });
    expect(rig.s.requests.at(-1)!.body).toMatchObject({ prompt: [97, 98, 99, 100], max_tokens: 4 });
    await run(router as unknown as RemoteEngine, { prompt: [97], max_tokens: 7 }); // second failure opens the circuit
    expect(flaky.metrics().endpoints[0]!.circuit).toBe('open');
    const c = await run(router as unknown as RemoteEngine, { prompt: [97], max_tokens: 3 });
    expect(c.final?.served_by).toBe('stand-in');
    expect(router.metrics()).toMatchObject({ failovers: 2, routed: { 'remote:policy': 2, 'local:remote_unavailable': 1 } });
    const chat = await router.chat.completions.create({ messages: [{ role: 'user', content: 'a' }], max_tokens: 3 });
    expect(chat).toMatchObject({ served_by: 'stand-in', choices: [{ message: { content: 'bcd' } }] });
  });

  it('a consumer slower than the server pauses the socket, and its slowness does not count as the server\'s silence', async () => {
    const r = engine({ endpoints: [{ url: rig.s.url, name: 'fast' }], interTokenTimeoutMs: 200 });
    const tokens: number[] = [];
    let final: FinalEvent | undefined;
    for await (const ev of r.generate({ prompt: 'a', max_tokens: 300 }) as AsyncIterable<GenerateEvent>) {
      if (ev.done) final = ev;
      else if (tokens.push(ev.token) === 5) await sleep(600); // the queue fills (64 reads) and the socket pauses meanwhile
    }
    expect(tokens).toEqual(expectedTokens('a', 300));
    expect(final).toMatchObject({ finish_reason: 'length', index: 300 });
    expect(r.metrics().errors).toEqual({});
    await expectSettled(r);
  });

  it('a paused stream is not read: the server\'s writes back up while the consumer sleeps, and every token still arrives', async () => {
    // 32 KiB per event, 400 events (13 MB): more than loopback's socket buffers hold, so if the
    // client kept reading into memory the server's writes would go straight out.
    const r = engine({ endpoints: [{ url: `${rig.s.url}/fail/pad=32768`, name: 'big' }], interTokenTimeoutMs: 500 });
    const tokens: number[] = [];
    for await (const ev of r.generate({ prompt: 'a', max_tokens: 400 }) as AsyncIterable<GenerateEvent>) {
      if (!ev.done && tokens.push(ev.token) === 5) await sleep(800);
    }
    expect(tokens).toEqual(expectedTokens('a', 400));
    const logged = rig.s.requests.find((q) => q.directives === 'pad=32768')!;
    // What the client held back stayed in the server: megabytes, not the 64 reads the queue keeps.
    expect(logged.maxBacklog).toBeGreaterThan(2 << 20);
    expect(r.metrics().errors).toEqual({});
    await expectSettled(r);
  });

  it('the end of a stream: once the pool has all its sockets, at once (the next request waits for that socket); before, when the socket is free again', async () => {
    // What the pool says when the final event arrives: is the stream's socket free again yet?
    const freeAtEnd = async (r: RemoteEngine): Promise<number> => {
      let free = -1;
      for await (const ev of r.generate({ prompt: 'a', max_tokens: 3 })) if (ev.done) free = r.poolStats()!.free;
      return free;
    };
    const full = engine({ endpoints: [{ url: rig.s.url, name: 'full', maxConcurrency: 1 }] });
    const room = engine({ endpoints: [{ url: rig.s.url, name: 'room', maxConcurrency: 4 }] });
    for (let i = 0; i < 4; i++) {
      expect(await freeAtEnd(full)).toBe(0); // ended before undici freed the socket
      expect(await freeAtEnd(room)).toBe(1); // ended after: the caller's next request finds it free
    }
    // Either way a sequential caller keeps its one socket, and two callers at the cap keep two.
    const two = engine({ endpoints: [{ url: rig.s.url, name: 'two', maxConcurrency: 2 }] });
    const loop = async () => { for (let i = 0; i < 5; i++) expect((await run(two, { prompt: 'a', max_tokens: 3 })).tokens).toEqual(expectedTokens('a', 3)); };
    await Promise.all([loop(), loop()]);
    expect([full, room, two].map((r) => r.metrics().newConnections)).toEqual([1, 1, 2]);
    expect(two.metrics().requests).toBe(10);
  });

  it('undici transport: a request queued for a socket rejects the moment it is aborted; one on the socket ends its piped body', async () => {
    const t = await createTransport({ maxConnections: () => 1, idleTimeoutMs: 30_000, connectTimeoutMs: 2_000 }, 'undici');
    const post = (signal: AbortHandle) => t.request(rig.s.url, {
      method: 'POST', path: '/fail/stall=3000/v1/completions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a', max_tokens: 2, stream: true }), signal,
    });
    try {
      const first = new AbortHandle();
      const res = await post(first); // holds the only socket: pings for 3 s
      const ended = new Promise<unknown>((resolve) => res.pipe({ data: () => undefined, end: () => resolve('end'), error: (e) => resolve(e) }));
      const queued = new AbortHandle();
      const t0 = performance.now();
      const second = post(queued).then(() => 'answered', (e: Error) => e);
      setTimeout(() => queued.abort(), 50);
      const err = await second;
      expect(err).toBeInstanceOf(Error);
      expect(performance.now() - t0).toBeLessThan(1_000); // not after the first request's 3 s
      first.abort();
      expect(await ended).toBeInstanceOf(Error);
    } finally {
      await t.close();
    }
    for (let i = 0; i < 100 && rig.s.openSockets() > 0; i++) await sleep(10);
    expect(rig.s.openSockets()).toBe(0);
  });

  it('health checks use /health, else /v1/models; unhealthy endpoints are avoided', async () => {
    const r = engine({ endpoints: [ep('nohealth', { weight: 1 }), ep('unhealthy', { weight: 100 })], healthIntervalMs: 50 });
    for (let i = 0; i < 100 && r.endpoints.some((e) => e.healthy === undefined); i++) await sleep(10);
    expect(await r.checkHealth()).toEqual([
      { name: 'nohealth', healthy: true, path: '/v1/models' },
      { name: 'unhealthy', healthy: false, path: '/health', error: expect.stringMatching(/HTTP 503/) },
    ]);
    expect(r.info.contextLength).toBe(4096); // learned from /v1/models
    for (let i = 0; i < 3; i++) expect((await run(r, { prompt: 'a', max_tokens: 1 })).final?.served_by).toBe('nohealth');
    expect(r.prometheus()).toMatch(/friday_remote_endpoint_up\{endpoint="unhealthy"\} 0/);
    await r.close(); // stops the health timer
  });
});
