// The continuous-batching engine on a real model: concurrent requests share forward passes and
// each gets exactly the tokens it gets alone.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateEvent, GenerateRequest } from '../../src/api/types.js';
import { LocalEngine } from '../../src/engine/local.js';
import { FileSource } from '../../src/model/source/file.js';
import { drain, type Outcome } from '../helpers/drain.js';
import { until } from '../helpers/until.js';
import { rng } from './helpers.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const have = existsSync(FIXTURES);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping engine tests`);
const Q8 = resolve(FIXTURES, 'models/TinyStories-656K-Q8_0.gguf');
const STORIES = resolve(FIXTURES, 'models/stories260K.gguf');

async function engineFor(path: string, opts: Parameters<typeof LocalEngine.create>[1]): Promise<LocalEngine> {
  const src = await FileSource.open(path);
  try {
    return await LocalEngine.create(src, opts);
  } finally {
    await src.close();
  }
}

const golden = have ? JSON.parse(readFileSync(resolve(process.cwd(), 'test/goldens/TinyStories-656K-Q8_0.llamacpp.json'), 'utf8')) : { cases: [] };
const PROMPTS: string[] = golden.cases.slice(1, 9).map((c: { prompt: string }) => c.prompt);

describe.skipIf(!have)('LocalEngine: continuous batching', () => {
  let e: LocalEngine;
  const solo = new Map<string, number[]>();
  beforeAll(async () => {
    e = await engineFor(Q8, { maxSeqs: 8, contextLength: 256, maxBatchTokens: 128, pageSize: 16, streamBuffer: 8 }); // small buffer: pauses happen
    for (const p of PROMPTS) solo.set(p, (await drain(e.generate({ prompt: p, max_tokens: 20 }))).tokens);
  });
  afterAll(async () => { await e?.close(); });

  it('8 concurrent greedy requests each produce exactly their solo tokens', async () => {
    const steps0 = e.metrics.steps;
    const outs = await Promise.all(PROMPTS.map((p) => drain(e.generate({ prompt: p, max_tokens: 20 }))));
    outs.forEach((o, i) => expect(o.tokens, PROMPTS[i]).toEqual(solo.get(PROMPTS[i]!)));
    // Shared passes: far fewer steps than 8 sequential runs of 20 tokens.
    expect(e.metrics.steps - steps0).toBeLessThan(8 * 20 / 2);
    expect(e.stats().kvPagesUsed).toBe(0);
  });

  it('stays invariant while requests arrive mid-flight and others are aborted', async () => {
    const first = PROMPTS.slice(0, 4).map((p) => drain(e.generate({ prompt: p, max_tokens: 20 })));
    const aborters = [new AbortController(), new AbortController()];
    const doomed = aborters.map((ac, i) => drain(e.generate({ prompt: PROMPTS[7 - i]!, max_tokens: 20 }, { signal: ac.signal }), (n) => { if (n === 3 + i) ac.abort(); }));
    await new Promise((r) => setTimeout(r, 30));
    const late = PROMPTS.slice(4, 6).map((p) => drain(e.generate({ prompt: p, max_tokens: 20 })));
    const outs = await Promise.all([...first, ...late]);
    [...PROMPTS.slice(0, 4), ...PROMPTS.slice(4, 6)].forEach((p, i) => expect(outs[i]!.tokens, p).toEqual(solo.get(p)));
    for (const d of await Promise.all(doomed)) {
      expect(d.error?.code).toBe('ABORTED');
      expect(d.tokens.length).toBeLessThan(20);
    }
    expect(e.stats().kvPagesUsed).toBe(0);
  });

  it('reports usage, finish reasons and logprobs', async () => {
    const o = await drain(e.generate({ prompt: PROMPTS[0]!, max_tokens: 5, top_logprobs: 3 }));
    expect(o.final).toMatchObject({ finish_reason: 'length', served_by: 'local', usage: { completion_tokens: 5 } });
    expect(o.final!.usage.prompt_tokens).toBe(o.final!.prompt_tokens!.length);
    // The same events through the ReadableStream view, with logprobs for each token.
    const reader = e.generate({ prompt: PROMPTS[0]!, max_tokens: 3, logprobs: true, top_logprobs: 3 }).toReadableStream().getReader();
    const events: GenerateEvent[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) events.push(r.value);
    const toks = events.filter((ev) => !ev.done);
    expect(toks.map((ev) => (ev.done ? -1 : ev.token))).toEqual(solo.get(PROMPTS[0]!)!.slice(0, 3));
    for (const ev of toks) {
      if (ev.done) continue;
      expect(ev.logprob).toBeLessThanOrEqual(0);
      expect(ev.top_logprobs).toHaveLength(3);
      expect(ev.top_logprobs![0]!.token).toBe(ev.token); // greedy: the chosen token is the best one
    }
    expect(events.at(-1)!.done).toBe(true);
  });

  it('seeded sampling is reproducible whatever else is in the batch', async () => {
    const req: GenerateRequest = { prompt: PROMPTS[1]!, max_tokens: 12, temperature: 0.9, top_p: 0.95, top_k: 40, seed: 1234 };
    const alone = await drain(e.generate(req));
    const [crowded] = await Promise.all([drain(e.generate(req)), ...PROMPTS.slice(2, 6).map((p) => drain(e.generate({ prompt: p, max_tokens: 12, temperature: 1, seed: 7 })))]);
    expect(crowded!.tokens).toEqual(alone.tokens);
    const other = await drain(e.generate({ ...req, seed: 99 }));
    expect(other.tokens).not.toEqual(alone.tokens);
  });

  it('never emits a stop string, and finishes with reason stop', async () => {
    const full = (await drain(e.generate({ prompt: PROMPTS[0]!, max_tokens: 20 }))).text;
    const stop = full.slice(10, 14);
    const o = await drain(e.generate({ prompt: PROMPTS[0]!, max_tokens: 20, stop: [stop, 'zzzz'] }));
    expect(o.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(o.final?.finish_reason).toBe('stop');
  });

  it('reuses the KV of a shared prompt prefix', async () => {
    const system = golden.cases[5].prompt.repeat(6); // several full 16-token pages
    const a = await drain(e.generate({ prompt: system + ' Tom', max_tokens: 4 }));
    const b = await drain(e.generate({ prompt: system + ' Sue', max_tokens: 4 }));
    expect(a.final!.usage.cached_tokens ?? 0).toBe(0);
    expect(b.final!.usage.cached_tokens).toBeGreaterThanOrEqual(32);
    expect(e.stats().prefixCacheHitRate).toBeGreaterThan(0);
  });

  it('rejects bad requests with typed errors', async () => {
    const tooLong = (await drain(e.generate({ prompt: Array(300).fill(5), max_tokens: 1 }))).error;
    expect(tooLong?.code).toBe('CONTEXT_LENGTH_EXCEEDED');
    const bad = (await drain(e.generate({ prompt: [1, 99999], max_tokens: 1 }))).error;
    expect(bad?.code).toBe('INVALID_REQUEST');
    await expect(e.completions.create({ prompt: 'x', n: 2 as 1 })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('a consumer that stops reading does not stall the others', async () => {
    const slow = e.generate({ prompt: PROMPTS[2]!, max_tokens: 40 });
    const it = slow[Symbol.asyncIterator]();
    await it.next(); // read one event, then nothing for a while
    const fast = await drain(e.generate({ prompt: PROMPTS[3]!, max_tokens: 20 }));
    expect(fast.tokens).toEqual(solo.get(PROMPTS[3]!));
    let n = 1;
    while (!(await it.next()).done) n++;
    expect(n).toBe(41); // 40 tokens and the final event, none lost
  });

  it('OpenAI-shaped chat and completions, streaming and not', async () => {
    const c = await e.completions.create({ prompt: PROMPTS[0]!, max_tokens: 6, temperature: 0, return_token_ids: true });
    expect(c.choices[0]!.token_ids).toEqual(solo.get(PROMPTS[0]!)!.slice(0, 6));
    expect(c.served_by).toBe('local');
    const chunks = [];
    for await (const ch of await e.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0, stream: true, stream_options: { include_usage: true } })) chunks.push(ch);
    expect(chunks.at(-1)!.usage?.completion_tokens).toBeLessThanOrEqual(4);
    expect(chunks.some((ch) => ch.choices[0]?.finish_reason)).toBe(true);
  });
});

describe.skipIf(!have)('LocalEngine: no leaks under churn', () => {
  it('a graceful close does not wait on a paused stream whose consumer walked away', { timeout: 60_000 }, async () => {
    const e = await engineFor(STORIES, { maxSeqs: 2, contextLength: 64, maxBatchTokens: 32, pageSize: 8, streamBuffer: 2 });
    const it = e.generate({ prompt: [1, 400, 500], max_tokens: 40, temperature: 0 })[Symbol.asyncIterator]();
    await it.next();
    // Nothing is read now: the sequence pauses with the only work there is, so the loop sleeps.
    await until(() => e.schedulerStats.paused === 1, 30_000, 'the unread stream to pause');
    await it.return!(); // the consumer leaves: its sequence is aborted, and the engine has no work
    expect(e.schedulerStats.running + e.schedulerStats.waiting).toBe(0);
    // The drain window is far longer than the test's timeout: close() must see the loop end
    // rather than sit out the window, and leave no timer behind for it.
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const timers0 = timers();
    await e.close(600_000);
    expect(e.model.gpu.liveBuffers).toBe(0);
    expect(timers()).toBeLessThanOrEqual(timers0);
  });

  it('after 200 mixed requests (aborts, stops, EOS, lengths) pages and buffers are back to baseline', { timeout: 600_000 }, async () => {
    const e = await engineFor(STORIES, { maxSeqs: 16, contextLength: 64, maxBatchTokens: 64, pageSize: 8, numPages: 48, maxQueue: 512 });
    const buffers0 = e.model.gpu.liveBuffers;
    const r = rng(42);
    const jobs: Promise<Outcome>[] = [];
    for (let i = 0; i < 200; i++) {
      const len = 1 + Math.floor(r() * 12);
      const prompt = [1, ...Array.from({ length: len }, () => 3 + Math.floor(r() * 500))];
      const kind = r();
      const ac = new AbortController();
      const req: GenerateRequest = { prompt, max_tokens: 1 + Math.floor(r() * 6), temperature: kind < 0.3 ? 0.8 : 0, seed: i, ...(kind > 0.8 ? { stop: ['.', ' the'] } : {}) };
      const abortAt = kind > 0.5 && kind < 0.7 ? 1 + Math.floor(r() * 3) : -1;
      if (kind > 0.95) ac.abort(); // aborted before it starts
      jobs.push(drain(e.generate(req, { signal: ac.signal }), (n) => { if (n === abortAt) ac.abort(); }));
      if (i % 20 === 19) await new Promise((res) => setTimeout(res, 5));
    }
    const t0 = performance.now();
    const outs = await Promise.all(jobs);
    console.log(`churn: 200 requests in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${e.metrics.steps} steps`);
    for (const o of outs) expect(Boolean(o.final) !== Boolean(o.error), 'exactly one of final/error').toBe(true);
    expect(outs.filter((o) => o.error).every((o) => o.error!.code === 'ABORTED')).toBe(true);
    expect(outs.filter((o) => o.error).length).toBeGreaterThan(5);
    const s = e.schedulerStats;
    expect(s.pagesUsed).toBe(0);
    expect(s.running + s.waiting).toBe(0);
    expect(e.model.gpu.liveBuffers).toBe(buffers0);
    const gpu = e.model.gpu;
    await e.close();
    expect(gpu.liveBuffers).toBe(0);
  });
});
