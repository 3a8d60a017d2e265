// Mid-stream failover over in-memory targets: the handoff of the first target, continuations,
// renumbering, stop strings and usage after a failover, and targets read as queues (as
// RemoteEngine's are). No network: the same loop against real servers is in test/e2e.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import type { GenerateEvent } from '../../src/api/types.js';
import type { LegEvent } from '../../src/remote/chunks.js';
import { failoverEvents, runWithFailover, type FailoverTarget, type LegRequest } from '../../src/remote/failover.js';
import { Channel } from '../../src/stream/channel.js';
import { readGGUF } from '../../src/model/gguf/reader.js';
import { FileSource } from '../../src/model/source/file.js';
import { StopMatcher, stopList } from '../../src/stream/stop.js';
import { createTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';
import { until } from '../helpers/until.js';

/** A target that emits `tokens` (text = char) after the prompt, failing after `failAfter` tokens. */
function fake(name: string, o: { failAfter?: number; code?: FridayError['code']; canContinueChat?: boolean; ids?: boolean; log?: LegRequest[]; closed?: string[] } = {}): FailoverTarget {
  return {
    name,
    canContinue: (kind) => kind === 'completion' || !!o.canContinueChat,
    async *open(req) {
      try {
        yield* fakeEvents(name, req, o);
      } finally {
        o.closed?.push(name);
      }
    },
  };
}

async function* fakeEvents(name: string, req: LegRequest, o: Parameters<typeof fake>[1] & object): AsyncGenerator<LegEvent> {
  o.log?.push(req);
  const prompt = req.kind === 'completion' ? req.gen!.prompt : req.chat!.messages.at(-1)!.content;
  const last = typeof prompt === 'string' ? prompt.charCodeAt(prompt.length - 1) : prompt.at(-1)!;
  const n = (req.kind === 'completion' ? req.gen!.max_tokens : req.chat!.max_tokens) ?? 8;
  for (let i = 0; i < n; i++) {
    if (i === o.failAfter) throw new FridayError(o.code ?? 'REMOTE_UNAVAILABLE', `${name} died`, { kind: 'dropped', endpoint: name });
    const t = last + 1 + i;
    yield { done: false, token: o.ids === false ? -1 : t, text: String.fromCharCode(t), index: i };
  }
  const p = typeof prompt === 'string' ? prompt.length : prompt.length;
  yield { done: true, text: '', index: n, finish_reason: 'length', served_by: name, usage: { prompt_tokens: p, completion_tokens: n, total_tokens: p + n } };
}

/** Drains events or batches of events (runWithFailover yields batches; a batch is never empty). */
async function drain(it: AsyncIterable<LegEvent | GenerateEvent | LegEvent[]>) {
  const out = { tokens: [] as number[], indexes: [] as number[], text: '', final: undefined as Extract<GenerateEvent, { done: true }> | undefined, error: undefined as FridayError | undefined };
  try {
    for await (const item of it) for (const ev of Array.isArray(item) ? item : [item]) {
      out.text += ev.text;
      if (ev.done) out.final = ev;
      else { out.tokens.push(ev.token); out.indexes.push(ev.index); }
    }
  } catch (e) {
    out.error = e as FridayError;
  }
  return out;
}

const list = (...ts: FailoverTarget[]) => { let i = 0; return () => ts[i++]; };

/** A target "cut" whose stream ends, without a final event, at the first event `where` picks. */
const cutWhere = (where: (ev: LegEvent) => boolean): FailoverTarget => ({
  name: 'cut', canContinue: () => true,
  async *open(req) { for await (const ev of fakeEvents('cut', req, {})) { if (where(ev)) return; yield ev; } },
});

describe('runWithFailover', () => {
  // The first target is handed off (src/remote/handoff.ts): these cover the ways back into the loop.
  const counted = () => { const c = { start: 0, end: 0 }; return { c, opts: { onStart: () => { c.start++; }, onEnd: () => { c.end++; } } }; };

  it('passes the first target through, and reports the stream started and ended once', async () => {
    const { c, opts } = counted();
    const closed: string[] = [];
    const r = await drain(runWithFailover({ kind: 'completion', gen: { prompt: [97], max_tokens: 4 } }, list(fake('a', { closed })), opts));
    expect(r.tokens).toEqual([98, 99, 100, 101]);
    expect(r.final).toMatchObject({ served_by: 'a', index: 4 });
    expect(closed).toEqual(['a']);
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('renumbers a first target whose events are not numbered from 0 (the loop takes over mid-stream)', async () => {
    const { c, opts } = counted();
    const shifted: FailoverTarget = {
      name: 's', canContinue: () => true,
      async *open(req) { for await (const ev of fakeEvents('s', req, {})) yield ev.done ? ev : { ...ev, index: ev.index + 10 }; },
    };
    const r = await drain(runWithFailover({ kind: 'completion', gen: { prompt: [97], max_tokens: 3 } }, list(shifted), opts));
    expect(r.indexes).toEqual([0, 1, 2]);
    expect(r.final).toMatchObject({ served_by: 's', finish_reason: 'length' });
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('continues elsewhere when the first target ends without a final event', async () => {
    const log: LegRequest[] = [];
    const { c, opts } = counted();
    const r = await drain(runWithFailover({ kind: 'completion', gen: { prompt: [97], max_tokens: 5 } }, list(cutWhere((ev) => ev.done || ev.index === 2), fake('b', { log })), opts));
    expect(r.error).toBeUndefined();
    expect(r.tokens).toEqual([98, 99, 100, 101, 102]);
    expect(log[0]!.gen!.prompt).toEqual([97, 98, 99]);
    expect(r.final).toMatchObject({ served_by: 'b', index: 5 });
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('ends the stream itself when a target dies after its last token: nothing is left to ask the next one', async () => {
    const log: LegRequest[] = [];
    const { c, opts } = counted();
    const r = await drain(runWithFailover({ kind: 'completion', gen: { prompt: [97], max_tokens: 3 } }, list(cutWhere((ev) => ev.done), fake('b', { log })), opts));
    expect(r.error).toBeUndefined();
    expect(r.tokens).toEqual([98, 99, 100]);
    expect(log).toEqual([]);
    expect(r.final).toMatchObject({ served_by: 'cut', index: 3, finish_reason: 'length', usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 } });
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('ends the handed-off target and the stream when the consumer leaves', async () => {
    const { c, opts } = counted();
    const closed: string[] = [];
    for await (const batch of runWithFailover({ kind: 'completion', gen: { prompt: [97], max_tokens: 8 } }, list(fake('a', { closed })), opts)) {
      if (batch[0]!.index === 2) break;
    }
    expect(closed).toEqual(['a']);
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('continues a completion on the next target with prompt + generated ids and fewer max_tokens', async () => {
    const log: LegRequest[] = [];
    const r = await drain(runWithFailover({ kind: 'completion', gen: { prompt: [97], max_tokens: 6 } }, list(fake('local', { failAfter: 2, code: 'DEVICE_LOST' }), fake('remote', { log }))));
    expect(r.error).toBeUndefined();
    expect(r.tokens).toEqual([98, 99, 100, 101, 102, 103]);
    expect(r.indexes).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.text).toBe('bcdefg');
    expect(log[0]!.gen).toMatchObject({ prompt: [97, 98, 99], max_tokens: 4 });
    expect(r.final).toMatchObject({ served_by: 'remote', index: 6, usage: { prompt_tokens: 1, completion_tokens: 6, total_tokens: 7 }, prompt_tokens: [97] });
  });

  it('continues a text prompt as text when no tokenizer is known', async () => {
    const log: LegRequest[] = [];
    const r = await drain(runWithFailover({ kind: 'completion', gen: { prompt: 'a', max_tokens: 5, stop: 'zz' } }, list(fake('a', { failAfter: 3 }), fake('b', { log }))));
    expect(r.text).toBe('bcdef');
    expect(log[0]!.gen).toMatchObject({ prompt: 'abcd', max_tokens: 2, stop: undefined });
    expect(r.final?.usage).toEqual({ prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 });
  });

  it('re-sends the original request when the first target fails before any token', async () => {
    const log: LegRequest[] = [];
    const req: LegRequest = { kind: 'completion', gen: { prompt: [97], max_tokens: 3 } };
    const r = await drain(runWithFailover(req, list(fake('a', { failAfter: 0, code: 'QUEUE_FULL' }), fake('b', { log }))));
    expect(r.tokens).toEqual([98, 99, 100]);
    expect(log[0]).toBe(req);
    expect(r.final).toMatchObject({ served_by: 'b', usage: { prompt_tokens: 1, completion_tokens: 3 } });
  });

  it('applies stop strings itself after a failover (continuations are sent without them)', async () => {
    const log: LegRequest[] = [];
    const closed: string[] = [];
    // a → b c | d e f …: the stop "ef" comes from the second target, which is not told about it.
    const it = runWithFailover({ kind: 'completion', gen: { prompt: [97], max_tokens: 8, stop: ['ef'] } }, list(fake('a', { failAfter: 2, closed }), fake('b', { log, closed })));
    // The second target is stopped before the final event reaches the consumer.
    const seen = (async function* () { for await (const b of it) { if (b.at(-1)!.done) expect(closed).toEqual(['a', 'b']); yield b; } })();
    const r = await drain(seen);
    expect(r.error).toBeUndefined();
    expect(log[0]!.gen!.stop).toBeUndefined();
    expect(r.text).toBe('bcd');
    expect(r.final).toMatchObject({ finish_reason: 'stop', index: 5, served_by: 'b', usage: { prompt_tokens: 1, completion_tokens: 5 } });
  });

  it('fails with a clear error when nothing can continue (chat without continueAssistant)', async () => {
    const r = await drain(runWithFailover({ kind: 'chat', chat: { messages: [{ role: 'user', content: 'a' }], max_tokens: 6 } }, list(fake('local', { failAfter: 2, code: 'DEVICE_LOST' }), fake('remote'))));
    expect(r.tokens).toHaveLength(2);
    expect(r.error).toMatchObject({ code: 'DEVICE_LOST', details: { tokens: 2, failover: 'unsupported' } });
    expect(r.error!.message).toMatch(/continueAssistant/);
  });

  it('continues a chat reply on a target that can continue an assistant message', async () => {
    const log: LegRequest[] = [];
    const r = await drain(runWithFailover({ kind: 'chat', chat: { messages: [{ role: 'user', content: 'a' }], max_tokens: 5 } }, list(fake('x', { failAfter: 2 }), fake('y', { canContinueChat: true, log }))));
    expect(r.text).toBe('bcdef');
    expect(log[0]).toMatchObject({ continueFinal: true, chat: { max_tokens: 3, messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'bc' }] } });
  });

  it('does not fail over on caller errors, and reports ABORTED when the caller aborts', async () => {
    const bad: FailoverTarget = { name: 'a', canContinue: () => true, async *open() { throw new FridayError('INVALID_REQUEST', 'nope'); } };
    expect((await drain(runWithFailover({ kind: 'completion', gen: { prompt: 'x' } }, list(bad, fake('b'))))).error?.code).toBe('INVALID_REQUEST');
    const ac = new AbortController();
    const slow: FailoverTarget = { name: 's', canContinue: () => true, async *open(_r, signal) { yield { done: false, token: 1, text: 'a', index: 0 }; await new Promise((_, j) => signal!.addEventListener('abort', () => j(new FridayError('ABORTED', 'x')))); } };
    const p = drain(runWithFailover({ kind: 'completion', gen: { prompt: 'x' } }, list(slow, fake('b')), { signal: ac.signal }));
    setTimeout(() => ac.abort(), 10);
    expect((await p).error?.code).toBe('ABORTED');
  });

  it('gives up with the last error, saying how many tokens were delivered', async () => {
    const r = await drain(runWithFailover({ kind: 'completion', gen: { prompt: [97], max_tokens: 9 } }, list(fake('a', { failAfter: 2 }), fake('b', { failAfter: 1 }))));
    expect(r.tokens).toEqual([98, 99, 100]);
    expect(r.error).toMatchObject({ code: 'REMOTE_UNAVAILABLE', details: { tokens: 3, failover: 'exhausted' } });
  });
});

describe('runWithFailover over queue targets (read by pull, no promise per batch)', () => {
  // RemoteEngine's targets are Channels: handoff.ts reads them through PULL. Each wrapped target
  // pushes its events into a Channel from a pump that alternately waits (the consumer's pull
  // waits, and push hands the batch to it) and does not (the next pull finds it queued).
  function queued(t: FailoverTarget): FailoverTarget {
    return {
      name: t.name,
      canContinue: (k) => t.canContinue(k),
      open(req, signal) {
        const src = t.open(req, signal)[Symbol.asyncIterator]();
        let stop = false;
        const ch = new Channel<LegEvent | LegEvent[]>(64, { onCancel: () => { stop = true; } });
        void (async () => {
          try {
            for (let k = 0; ; k++) {
              if (stop) return void (await src.return?.());
              const r = await src.next();
              if (r.done) return ch.close();
              ch.push(k % 3 === 0 ? [r.value as LegEvent] : r.value);
              if (k % 2 === 0) await new Promise((res) => setTimeout(res, 1));
            }
          } catch (e) {
            ch.fail(e);
          }
        })();
        return ch;
      },
    };
  }
  const counted = () => { const c = { start: 0, end: 0 }; return { c, opts: { onStart: () => { c.start++; }, onEnd: () => { c.end++; } } }; };
  const gen = (max_tokens: number, prompt: number[] = [97]): LegRequest => ({ kind: 'completion', gen: { prompt, max_tokens } });

  it('passes the first target through, start and end reported once', async () => {
    const { c, opts } = counted();
    const closed: string[] = [];
    const r = await drain(runWithFailover(gen(6), list(queued(fake('a', { closed }))), opts));
    await until(() => closed.length > 0, 5_000, 'the pump to end its source after the final event went out');
    expect(r.error).toBeUndefined();
    expect(r.tokens).toEqual([98, 99, 100, 101, 102, 103]);
    expect(r.indexes).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.final).toMatchObject({ served_by: 'a', index: 6 });
    expect(closed).toEqual(['a']);
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('takes a target that fails mid-stream back into the loop, which continues on the next one', async () => {
    const { c, opts } = counted();
    const log: LegRequest[] = [];
    const r = await drain(runWithFailover(gen(7), list(queued(fake('a', { failAfter: 3 })), queued(fake('b', { log }))), opts));
    expect(r.error).toBeUndefined();
    expect(r.tokens).toEqual([98, 99, 100, 101, 102, 103, 104]);
    expect(r.indexes).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(log[0]!.gen).toMatchObject({ prompt: [97, 98, 99, 100], max_tokens: 4 });
    expect(r.final).toMatchObject({ served_by: 'b', index: 7, usage: { prompt_tokens: 1, completion_tokens: 7 } });
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('continues elsewhere when the queue ends without a final event, and renumbers a target not numbered from 0', async () => {
    const cut: FailoverTarget = {
      name: 'cut', canContinue: () => true,
      async *open(req) { for await (const ev of fakeEvents('cut', req, {})) { if (ev.done || ev.index === 2) return; yield ev; } },
    };
    const shifted: FailoverTarget = {
      name: 's', canContinue: () => true,
      async *open(req) { for await (const ev of fakeEvents('s', req, {})) yield ev.done ? ev : { ...ev, index: ev.index + 10 }; },
    };
    const a = await drain(runWithFailover(gen(5), list(queued(cut), queued(fake('b')))));
    expect(a.error).toBeUndefined();
    expect(a.tokens).toEqual([98, 99, 100, 101, 102]);
    expect(a.final).toMatchObject({ served_by: 'b', index: 5 });
    const b = await drain(runWithFailover(gen(3), list(queued(shifted))));
    expect(b.indexes).toEqual([0, 1, 2]);
    expect(b.final).toMatchObject({ served_by: 's' });
  });

  it('ends the queue (its producer told) and the stream once when the consumer leaves', async () => {
    const { c, opts } = counted();
    const closed: string[] = [];
    for await (const batch of runWithFailover(gen(8), list(queued(fake('a', { closed }))), opts)) if (batch[0]!.index === 2) break;
    await until(() => closed.length > 0, 5_000, 'the pump to see the cancel at its next step');
    expect(closed).toEqual(['a']);
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('a consumer that leaves while the first target is being opened ends it, and the stream once', async () => {
    const { c, opts } = counted();
    let opened = 0;
    const slow: FailoverTarget = { ...queued(fake('a')), open(req, signal) { opened++; return queued(fake('a')).open(req, signal); } };
    const it = runWithFailover(gen(4), () => new Promise((res) => setTimeout(() => res(slow), 10)), opts)[Symbol.asyncIterator]();
    const pending = it.next();
    await it.return!();
    expect(await pending).toMatchObject({ done: true });
    expect(opened).toBe(1);
    expect(c).toEqual({ start: 1, end: 1 });
  });

  it('failoverEvents gives the same stream one event at a time, without the internal lp field', async () => {
    const lp = { token: 'x', logprob: -1, bytes: [120], top_logprobs: [] };
    const withLp: FailoverTarget = {
      name: 'l', canContinue: () => true,
      async *open(req) { for await (const ev of fakeEvents('l', req, {})) yield ev.done ? ev : [{ ...ev, lp }]; },
    };
    const events: GenerateEvent[] = [];
    for await (const ev of failoverEvents(gen(4), list(queued(withLp)))) events.push(ev);
    expect(events.map((e) => e.index)).toEqual([0, 1, 2, 3, 4]);
    expect(events.some((e) => 'lp' in e)).toBe(false);
    expect(events.at(-1)).toMatchObject({ done: true, served_by: 'l' });
    const failed = await drain(failoverEvents(gen(6), list(queued(fake('a', { failAfter: 2 })), queued(fake('b')))));
    expect(failed.tokens).toEqual([98, 99, 100, 101, 102, 103]);
    expect(failed.final).toMatchObject({ served_by: 'b', index: 6 });
  });
});

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const TOKMODEL = resolve(FIXTURES, 'models/stories260K.gguf'); // has byte-fallback tokens

describe.skipIf(!existsSync(TOKMODEL))('runWithFailover with a real tokenizer', () => {
  const prompt = 'Once';
  const stops = ['the end'];
  let tok: Tokenizer, promptIds: number[], gen: number[];
  beforeAll(async () => {
    const src = await FileSource.open(TOKMODEL);
    tok = createTokenizer((await readGGUF(src)).metadata);
    await src.close();
    promptIds = tok.encode(prompt, { addSpecial: true });
    gen = tok.encode(' upon a time, héllo — 日本 the end. More', { addSpecial: false });
  });
  // Targets that behave like engines: their own decoder and stop matcher from wherever they start.
  // `shout`: a server whose text is not what the tokenizer makes of its ids.
  const engineLike = (name: string, failAfter?: number, shout = false): FailoverTarget => ({
    name,
    canContinue: () => true,
    async *open(req) {
      const p = typeof req.gen!.prompt === 'string' ? tok.encode(req.gen!.prompt, { addSpecial: true }) : req.gen!.prompt;
      const start = p.length - promptIds.length;
      const d = tok.createDecoder({ atStart: p.length === 1, skipSpecial: true });
      const m = new StopMatcher(stopList(req.gen!.stop));
      const say = (s: string) => (shout ? s.toUpperCase() : s);
      let i = 0;
      for (const id of gen.slice(start)) {
        if (i === failAfter) throw new FridayError('DEVICE_LOST', 'lost');
        const r = m.push(d.push(id));
        if (r.stopped) { yield { done: true, text: say(r.emit), index: i + 1, finish_reason: 'stop', served_by: name, usage: { prompt_tokens: p.length, completion_tokens: i + 1, total_tokens: 0 } }; return; }
        yield { done: false, token: id, text: say(r.emit), index: i++ };
      }
      yield { done: true, text: say(m.flush() + d.flush()), index: i, finish_reason: 'length', served_by: name, usage: { prompt_tokens: p.length, completion_tokens: i, total_tokens: 0 } };
    },
  });

  it('loses no held-back text (partial UTF-8, stop prefixes) at the failover point', async () => {
    // What an uninterrupted engine emits (RequestState: decoder → stop matcher).
    const oneRun = () => {
      const d = tok.createDecoder({ atStart: promptIds.length === 1, skipSpecial: true });
      const m = new StopMatcher(stops);
      let text = '';
      for (const id of gen) {
        const r = m.push(d.push(id));
        text += r.emit;
        if (r.stopped) return text;
      }
      return text + m.flush() + d.flush();
    };
    const expected = oneRun();
    expect(expected).toMatch(/upon a time, héllo — 日本 $/); // the stop string and what follows are cut
    expect(gen.length).toBeGreaterThan(15); // multi-byte characters are split over byte tokens
    // Fail at every possible point: the text is always the uninterrupted text.
    for (let k = 1; k < gen.length; k++) {
      const r = await drain(runWithFailover({ kind: 'completion', gen: { prompt, stop: stops } }, list(engineLike('local', k), engineLike('remote')), { tokenizer: tok }));
      expect(r.error, `failover after ${k}`).toBeUndefined();
      expect(r.text, `failover after ${k}`).toBe(expected);
      expect(r.final!.finish_reason).toBe('stop');
      expect(r.final!.usage.prompt_tokens).toBe(promptIds.length);
    }
  });

  it('keeps to the targets\' text when it is not what the tokenizer decodes', async () => {
    const req: LegRequest = { kind: 'completion', gen: { prompt } };
    const whole = (await drain(runWithFailover(req, list(engineLike('solo', undefined, true)), { tokenizer: tok }))).text;
    expect(whole).toMatch(/UPON A TIME, HÉLLO/);
    for (const k of [2, 3, 5]) {
      const r = await drain(runWithFailover(req, list(engineLike('local', k, true), engineLike('remote', undefined, true)), { tokenizer: tok }));
      expect(r.error, `failover after ${k}`).toBeUndefined();
      expect(r.text, `failover after ${k}`).toBe(whole);
    }
  });
});
