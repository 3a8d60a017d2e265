// RemoteEngine and RouterEngine against the real `friday serve` (a child process on 127.0.0.1),
// compared with a LocalEngine in this process on the same model (greedy: identical tokens).
// The router tests end with a simulated device loss mid-stream, so the local engine goes last.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import type { Engine } from '../../src/api/types.js';
import { LocalEngine } from '../../src/engine/local.js';
import { FileSource } from '../../src/model/source/file.js';
import { createFallbackRouter, generateRemote } from '../../src/remote/cli-support.js';
import { RemoteEngine } from '../../src/remote/engine.js';
import { RouterEngine } from '../../src/remote/router.js';
import { FridayServer } from '../../src/server/http.js';
import { drain, type Outcome } from '../helpers/drain.js';
import { startFridayServe, type FridayServe } from './servers.js';

const MODEL = resolve(process.cwd(), '../shared/fixtures/models/TinyStories-656K-Q8_0.gguf');
const have = existsSync(MODEL);
if (!have) console.warn(`shared fixtures not found (${MODEL}): skipping RemoteEngine/RouterEngine tests against friday serve`);

const PROMPTS = ['Once upon a time', 'Tom had a dog', 'The sun was hot', 'Lily and Ben'];
const N = 12; // tokens per request: SwiftShader is slow
const CHAT = { messages: [{ role: 'system' as const, content: 'Tell a story.' }, { role: 'user' as const, content: 'A cat.' }], max_tokens: 8, temperature: 0 };

describe.skipIf(!have)('RemoteEngine and RouterEngine against friday serve', () => {
  let server: FridayServe | undefined;
  let url: string;
  let local: LocalEngine;
  let remote: RemoteEngine;
  const solo = new Map<string, Outcome>();
  const EP = 'serve';

  beforeAll(async () => {
    const t0 = performance.now();
    const [srv, eng] = await Promise.all([
      startFridayServe(['--model', MODEL, '--max-seqs', '8', '--ctx', '256']),
      (async () => {
        const src = await FileSource.open(MODEL);
        try {
          return await LocalEngine.create(src, { maxSeqs: 4, contextLength: 256 });
        } finally {
          await src.close();
        }
      })(),
    ]);
    server = srv;
    url = srv.url;
    local = eng;
    remote = new RemoteEngine({ endpoints: [{ url, name: EP }], healthIntervalMs: 0 });
    // Batched greedy runs give each request exactly its solo tokens (test/gpu/engine.test.ts).
    const outs = await Promise.all(PROMPTS.map((p) => drain(local.generate({ prompt: p, max_tokens: N }))));
    PROMPTS.forEach((p, i) => solo.set(p, outs[i]!));
    console.log(`set-up (server + local engine + solo runs): ${Math.round(performance.now() - t0)} ms`);
  });
  afterAll(async () => {
    await remote?.close();
    await local?.close();
    await server?.stop();
  });

  it('generate(): the same token ids, text, finish reason and usage as the local engine', async () => {
    for (const p of PROMPTS.slice(0, 1)) {
      const l = solo.get(p)!;
      const r = await drain(remote.generate({ prompt: p, max_tokens: N }));
      expect(r.error).toBeUndefined();
      expect(r.tokens, p).toEqual(l.tokens);
      expect(r.text, p).toBe(l.text);
      expect(r.final).toMatchObject({ finish_reason: l.final!.finish_reason, index: l.final!.index, served_by: EP });
      expect(r.final!.usage).toMatchObject({ prompt_tokens: l.final!.usage.prompt_tokens, completion_tokens: l.final!.usage.completion_tokens });
      // A token-id prompt (BOS included) gives the same.
      const ids = await drain(remote.generate({ prompt: l.final!.prompt_tokens!, max_tokens: N }));
      expect(ids.tokens).toEqual(l.tokens);
      expect(ids.final!.prompt_tokens).toEqual(l.final!.prompt_tokens);
    }
    // Stop strings and a concurrent burst.
    const p0 = PROMPTS[0]!;
    const stop = solo.get(p0)!.text.split(' ').slice(2, 4).join(' ');
    const [ls, rs] = await Promise.all([drain(local.generate({ prompt: p0, max_tokens: N, stop })), drain(remote.generate({ prompt: p0, max_tokens: N, stop }))]);
    expect(rs.text).toBe(ls.text);
    expect(rs.final!.finish_reason).toBe('stop');
    const burst = await Promise.all(PROMPTS.map((p) => drain(remote.generate({ prompt: p, max_tokens: N }))));
    burst.forEach((o, i) => expect(o.tokens, PROMPTS[i]).toEqual(solo.get(PROMPTS[i]!)!.tokens));
  });

  it('completions and chat, streamed and not: the same as the local engine', async () => {
    const p = { prompt: PROMPTS[1]!, max_tokens: 12, temperature: 0, return_token_ids: true } as const;
    const lc = await local.completions.create(p);
    const rc = await remote.completions.create(p);
    expect(rc.choices[0]).toMatchObject({ text: lc.choices[0]!.text, token_ids: lc.choices[0]!.token_ids, finish_reason: lc.choices[0]!.finish_reason });
    expect(rc.prompt_token_ids).toEqual(lc.prompt_token_ids);
    expect(rc.served_by).toBe(EP);
    let text = '';
    const ids: number[] = [];
    for await (const ch of await remote.completions.create({ ...p, stream: true })) {
      text += ch.choices[0]?.text ?? '';
      ids.push(...(ch.choices[0]?.token_ids ?? []));
    }
    expect(text).toBe(lc.choices[0]!.text);
    expect(ids).toEqual(lc.choices[0]!.token_ids);

    const lchat = await local.chat.completions.create(CHAT);
    const rchat = await remote.chat.completions.create(CHAT);
    expect(rchat.choices[0]!.message.content).toBe(lchat.choices[0]!.message.content);
    expect(rchat.usage).toMatchObject({ prompt_tokens: lchat.usage.prompt_tokens, completion_tokens: lchat.usage.completion_tokens });
    let content = '';
    let served = '';
    for await (const ch of await remote.chat.completions.create({ ...CHAT, stream: true })) {
      content += ch.choices[0]?.delta.content ?? '';
      served = ch.served_by ?? served;
    }
    expect(content).toBe(lchat.choices[0]!.message.content);
    expect(served).toBe(EP);

    // A 400 from the server keeps its status and parameter.
    await expect(remote.completions.create({ prompt: [1, 1_000_000], max_tokens: 4, temperature: 0 })).rejects.toMatchObject({ code: 'REMOTE_HTTP_4XX', details: { status: 400, httpStatus: 400, remoteCode: 'INVALID_REQUEST' } });
    const m = remote.metrics();
    expect(m.newConnections).toBeLessThanOrEqual(PROMPTS.length + 1); // the burst opened at most one socket per stream
    expect(m.connectionReuseRatio).toBeGreaterThan(0.5);
  });

  it('`friday generate --remote` support: generateRemote returns the CLI\'s --json fields', async () => {
    const l = solo.get(PROMPTS[2]!)!;
    let streamed = '';
    const r = await generateRemote(url, { prompt: PROMPTS[2]!, max_tokens: N, temperature: 0 }, { onText: (s) => { streamed += s; } });
    expect(r).toMatchObject({ tokens: l.tokens, text: l.text, finish_reason: l.final!.finish_reason, adapter: null });
    expect(streamed).toBe(l.text);
    expect(r.timings.prefill_ms).toBeGreaterThan(0);
    expect(r.timings.decode_tokens_per_s).toBeGreaterThan(0);
  });

  it('router remote-only and local-only; prefer-local goes remote when local is unavailable', async () => {
    const p = PROMPTS[0]!;
    const l = solo.get(p)!;
    const ro = new RouterEngine({ policy: 'remote-only', remote: remote });
    const a = await drain(ro.generate({ prompt: p, max_tokens: N }));
    expect(a.tokens).toEqual(l.tokens);
    expect(a.final!.served_by).toBe(EP);

    const lo = new RouterEngine({ policy: 'local-only', local, closeLocal: false });
    const b = await drain(lo.generate({ prompt: p, max_tokens: N }));
    expect(b.tokens).toEqual(l.tokens);
    expect(b.final!.served_by).toBe('local');
    const chat = await lo.chat.completions.create(CHAT);
    expect(chat.served_by).toBe('local');

    // No WebGPU / model too large (the local promise rejected): remote.
    for (const code of ['NO_WEBGPU', 'MODEL_TOO_LARGE'] as const) {
      const r = new RouterEngine({ local: Promise.reject(new FridayError(code, 'x')), remote: remote });
      const o = await drain(r.generate({ prompt: p, max_tokens: N }));
      expect(o.final!.served_by).toBe(EP);
      expect(r.metrics().routed).toEqual({ [`remote:${code.toLowerCase()}`]: 1 });
    }
    // Only a software adapter (SwiftShader here) and software not allowed: remote.
    const sw = new RouterEngine({ local, remote: remote, closeLocal: false });
    expect((await drain(sw.generate({ prompt: p, max_tokens: 4 }))).final!.served_by).toBe(EP);
    expect(sw.localState()).toEqual({ state: 'unavailable', reason: 'software adapter not allowed' });
    // Still loading and the caller does not wait: remote; waiting: local.
    let resolveLocal!: (e: Engine) => void;
    const loading = new RouterEngine({ local: new Promise<Engine>((r) => { resolveLocal = r; }), remote: remote, allowSoftware: true, closeLocal: false });
    expect((await drain(loading.generate({ prompt: p, max_tokens: 4 }, { waitForLocal: false }))).final!.served_by).toBe(EP);
    const waiting = drain(loading.generate({ prompt: p, max_tokens: 4 }));
    resolveLocal(local);
    expect((await waiting).final!.served_by).toBe('local');
    expect(loading.metrics().routed).toEqual({ 'remote:loading': 1, local: 1 });
  });

  it('router prefer-local overflows to the remote when the local queue is over its threshold', async () => {
    const r = new RouterEngine({ local, remote: remote, allowSoftware: true, overflowWaiting: 0, closeLocal: false });
    const outs = await Promise.all(PROMPTS.map((p) => drain(r.generate({ prompt: p, max_tokens: N }))));
    outs.forEach((o, i) => expect(o.tokens, PROMPTS[i]).toEqual(solo.get(PROMPTS[i]!)!.tokens));
    const served = outs.map((o) => o.final!.served_by);
    expect(served).toContain('local');
    expect(served).toContain(EP);
    expect(r.metrics().routed['remote:overflow']).toBe(served.filter((s) => s === EP).length);
    expect(r.stats().kvPagesUsed).toBe(0);
  });

  it('friday serve --fallback support: a FridayServer over createFallbackRouter answers from the fallback', async () => {
    const router = createFallbackRouter(Promise.reject(new FridayError('NO_WEBGPU', 'no adapter')), `fb=${url}`, { healthIntervalMs: 0 });
    const front = new FridayServer(router, { port: 0 });
    const { url: frontUrl } = await front.listen();
    try {
      const res = await fetch(frontUrl + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: PROMPTS[3], max_tokens: N, temperature: 0, return_token_ids: true }) });
      const body = await res.json();
      expect(res.status).toBe(200);
      expect(body.served_by).toBe('fb');
      expect(body.choices[0].token_ids).toEqual(solo.get(PROMPTS[3]!)!.tokens);
      expect(router.prometheus()).toMatch(/friday_router_routed_total\{target="remote",reason="no_webgpu"\} 1/);
    } finally {
      await front.drain(1000);
    }
  });

  it('device lost mid-stream: the stream finishes on friday serve with no gap or duplicate; so does a chat, continued there', async () => {
    // friday serve continues a partial assistant message (continue_final_message), so it may take chats over.
    const chatRemote = new RemoteEngine({ endpoints: [{ url, name: EP, continueAssistant: true }], healthIntervalMs: 0 });
    const router = new RouterEngine({ local, remote: chatRemote, allowSoftware: true, closeLocal: false });
    const whole = await local.chat.completions.create({ ...CHAT, max_tokens: 40 });
    const p = PROMPTS[0]!;
    const l = solo.get(p)!;
    expect(l.tokens).toHaveLength(N);
    let destroyed = false;
    let chatAtLoss = '';
    const lose = () => { if (!destroyed) { destroyed = true; chatAtLoss = chatText; local.model.gpu.device.destroy(); } };
    let chatText = '';
    let chatErr: FridayError | undefined;
    let chatLast: { served_by?: string; finish?: string | null } = {};
    const chatDone = (async () => {
      try {
        for await (const ch of await router.chat.completions.create({ ...CHAT, max_tokens: 40, stream: true })) {
          chatText += ch.choices[0]?.delta.content ?? '';
          if (ch.choices[0]?.finish_reason) chatLast = { served_by: ch.served_by, finish: ch.choices[0].finish_reason };
        }
      } catch (e) {
        chatErr = e as FridayError;
      }
    })();
    const o = await drain(router.generate({ prompt: p, max_tokens: N }), (n) => { if (n === 5) lose(); });
    await chatDone;
    expect(destroyed).toBe(true);
    expect(o.error).toBeUndefined();
    expect(o.tokens).toEqual(l.tokens); // no gap, no duplicate
    expect(o.text).toBe(l.text);
    expect(o.final).toMatchObject({ served_by: EP, finish_reason: l.final!.finish_reason, index: N, prompt_tokens: l.final!.prompt_tokens });
    expect(o.final!.usage).toMatchObject({ prompt_tokens: l.final!.usage.prompt_tokens, completion_tokens: N });
    // The chat moved to friday serve mid-reply: nothing received before is lost or repeated. After
    // the failover point the reply is friday serve's continuation of the text (the chat API has no
    // token ids), which may re-tokenize differently from the ids generated so far.
    expect(chatErr).toBeUndefined();
    expect(chatLast.served_by).toBe(EP);
    expect(chatAtLoss.length).toBeGreaterThan(0);
    expect(whole.choices[0]!.message.content.startsWith(chatAtLoss)).toBe(true);
    expect(chatText.startsWith(chatAtLoss)).toBe(true);
    expect(chatText.length).toBeGreaterThan(chatAtLoss.length);
    expect(chatText.slice(chatAtLoss.length).startsWith(chatAtLoss)).toBe(false);
    // From now on the router knows: everything goes remote.
    expect(router.localState().state).toBe('lost');
    const after = await drain(router.generate({ prompt: PROMPTS[1]!, max_tokens: N }));
    expect(after.tokens).toEqual(solo.get(PROMPTS[1]!)!.tokens);
    expect(after.final!.served_by).toBe(EP);
    expect(router.metrics()).toMatchObject({ failovers: 2, routed: { local: 2, 'remote:device_lost': 1 } });
    const chat = await router.chat.completions.create(CHAT);
    expect(chat.served_by).toBe(EP);
    await chatRemote.close();
  });
});
