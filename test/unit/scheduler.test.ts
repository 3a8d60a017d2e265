// Scheduler behaviour, one rule per test, in the style of vLLM's test_scheduler.py: no model, the
// "engine" is a function that returns fake sampled tokens.
import { describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { Scheduler, type SchedulerConfig, type SchedulerEvent, type SeqSpec, type StepPlan } from '../../src/scheduler/index.js';

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

function config(over: Partial<SchedulerConfig> = {}): SchedulerConfig {
  return { numPages: 64, pageSize: 4, maxSeqs: 8, maxBatchedTokens: 64, maxModelLen: 256, ...over };
}

function spec(id: string, promptTokens: number[], over: Partial<SeqSpec> = {}): SeqSpec {
  return { id, promptTokens, maxTokens: 16, eosTokenIds: [0], ...over };
}

/** One engine step; `next` picks the sampled token for each sequence that samples. */
function step(s: Scheduler, next: (seqId: string) => number = () => 7): { plan: StepPlan; events: SchedulerEvent[] } {
  const plan = s.schedule();
  const sampled = plan.seqs.map((x) => (x.sample ? next(x.seqId) : undefined));
  return { plan, events: s.update(plan, sampled) };
}

const tokensOf = (events: SchedulerEvent[], seqId: string): number[] =>
  events.flatMap((e) => (e.type === 'token' && e.seqId === seqId ? [e.token] : []));
const finishOf = (events: SchedulerEvent[], seqId: string) => events.find((e) => e.type === 'finished' && e.seqId === seqId);

function expectCode(fn: () => void, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(FridayError.is(e) && e.code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('Scheduler: prefill and decode', () => {
  it('runs a single sequence: whole prompt, then one token per step, pages on demand', () => {
    const s = new Scheduler(config());
    s.add(spec('a', range(1, 10), { maxTokens: 4 }));
    let counter = 100;
    const next = () => counter++;

    const first = step(s, next);
    expect(first.plan.seqs).toEqual([{ seqId: 'a', slot: 0, tokens: range(1, 10), startPos: 0, pageTable: first.plan.seqs[0]!.pageTable, sample: true }]);
    expect(first.plan.seqs[0]!.pageTable).toHaveLength(3);
    expect(first.plan.numTokens).toBe(10);
    expect(first.events).toEqual([{ type: 'token', seqId: 'a', token: 100, index: 0 }]);

    const shapes = [];
    const events = [];
    while (s.hasWork()) {
      const { plan, events: ev } = step(s, next);
      shapes.push([plan.seqs[0]!.tokens, plan.seqs[0]!.startPos, plan.seqs[0]!.pageTable.length]);
      events.push(...ev);
    }
    expect(shapes).toEqual([[[100], 10, 3], [[101], 11, 3], [[102], 12, 4]]);
    expect(tokensOf(events, 'a')).toEqual([101, 102, 103]);
    expect(finishOf(events, 'a')).toEqual({ type: 'finished', seqId: 'a', reason: 'length', numPromptTokens: 10, numGenerated: 4, cachedPromptTokens: 0 });
    // 13 computed tokens: the first 3 pages are full and stay cached, nothing is in use.
    expect(s.stats()).toMatchObject({ running: 0, waiting: 0, pagesUsed: 0, pagesCached: 3, pagesFree: 61 });
  });

  it('chunks a long prompt across steps within the token budget', () => {
    const s = new Scheduler(config({ maxBatchedTokens: 8 }));
    s.add(spec('a', range(1, 20), { maxTokens: 2 }));
    const plans = [step(s).plan, step(s).plan, step(s).plan, step(s).plan];
    expect(plans.map((p) => p.seqs[0]!.startPos)).toEqual([0, 8, 16, 20]);
    expect(plans.map((p) => p.seqs[0]!.tokens.length)).toEqual([8, 8, 4, 1]);
    expect(plans.map((p) => p.seqs[0]!.sample)).toEqual([false, false, true, true]);
    expect(plans.map((p) => p.seqs[0]!.pageTable.length)).toEqual([2, 4, 5, 6]);
    expect(plans[1]!.seqs[0]!.tokens).toEqual(range(9, 8));
    expect(s.hasWork()).toBe(false);
  });

  it('mixes decode tokens and prefill chunks of several sequences in one plan, running ones first', () => {
    const s = new Scheduler(config({ maxBatchedTokens: 16 }));
    s.add(spec('a', range(1, 6)));
    step(s);
    s.add(spec('b', range(11, 8)));
    s.add(spec('c', range(21, 10)));
    const { plan } = step(s);
    expect(plan.seqs.map((x) => [x.seqId, x.slot, x.startPos, x.tokens.length, x.sample])).toEqual([
      ['a', 0, 6, 1, true],
      ['b', 1, 0, 8, true],
      ['c', 2, 0, 7, false],
    ]);
    expect(plan.numTokens).toBe(16);
    const again = step(s).plan;
    expect(again.seqs.map((x) => [x.seqId, x.slot, x.startPos, x.tokens.length, x.sample])).toEqual([
      ['a', 0, 7, 1, true],
      ['b', 1, 8, 1, true],
      ['c', 2, 7, 3, true],
    ]);
  });

  it('keeps slots stable while running and reuses freed ones', () => {
    const s = new Scheduler(config());
    for (const id of ['a', 'b', 'c']) s.add(spec(id, [1, 2, 3]));
    step(s);
    s.finish('b', 'stop');
    s.add(spec('d', [4, 5]));
    const { plan } = step(s);
    expect(Object.fromEntries(plan.seqs.map((x) => [x.seqId, x.slot]))).toEqual({ a: 0, c: 2, d: 1 });
  });

  it('returns an empty plan when idle', () => {
    const s = new Scheduler(config());
    const plan = s.schedule();
    expect(plan).toMatchObject({ seqs: [], numTokens: 0, preempted: [] });
    expect(s.update(plan, [])).toEqual([]);
    expect(s.hasWork()).toBe(false);
  });

  it('insists on one update() per non-empty plan, with a token for every sampling sequence', () => {
    const s = new Scheduler(config());
    s.add(spec('a', [1, 2]));
    const plan = s.schedule();
    expectCode(() => s.schedule(), 'INTERNAL');
    expectCode(() => s.update(plan, [undefined]), 'INTERNAL');
    expect(s.inspect('a')?.numComputed).toBe(0); // the bad call changed nothing
    expect(s.update(plan, [5])).toEqual([{ type: 'token', seqId: 'a', token: 5, index: 0 }]);
    expectCode(() => s.update(plan, [5]), 'INTERNAL');
  });
  it('skips a paused sequence, which keeps its slot and pages, and resumes it where it stopped', () => {
    const s = new Scheduler(config());
    s.add(spec('a', [1, 2, 3]));
    s.add(spec('b', [4, 5]));
    step(s);
    const pagesOfA = s.inspect('a')!.pages;
    s.setPaused('a', true);
    s.add(spec('c', [6], { maxTokens: 2 }));
    s.setPaused('c', true); // paused while waiting: not admitted either
    expect(s.stats()).toMatchObject({ paused: 2, running: 2, waiting: 1 });
    for (let i = 0; i < 3; i++) expect(step(s).plan.seqs.map((x) => x.seqId)).toEqual(['b']);
    expect(s.inspect('a')).toMatchObject({ slot: 0, numComputed: 3, pages: pagesOfA });
    s.setPaused('a', false);
    s.setPaused('c', false);
    expect(s.stats().paused).toBe(0);
    const { plan, events } = step(s);
    expect(plan.seqs.map((x) => [x.seqId, x.tokens.length])).toEqual([['a', 1], ['b', 1], ['c', 1]]);
    expect(events.find((e) => e.type === 'token' && e.seqId === 'a')).toMatchObject({ index: 1 });
  });
});

describe('Scheduler: finishing', () => {
  it("stops on EOS without emitting it, unless ignoreEos", () => {
    const s = new Scheduler(config());
    s.add(spec('a', [1, 2], { eosTokenIds: [99] }));
    s.add(spec('b', [1, 2], { eosTokenIds: [99], ignoreEos: true, maxTokens: 3 }));
    const script = [5, 99, 99];
    const events = [];
    for (let i = 0; s.hasWork(); i++) events.push(...step(s, () => script[i]!).events);
    expect(tokensOf(events, 'a')).toEqual([5]);
    expect(finishOf(events, 'a')).toMatchObject({ reason: 'stop', numGenerated: 1 });
    expect(tokensOf(events, 'b')).toEqual([5, 99, 99]);
    expect(finishOf(events, 'b')).toMatchObject({ reason: 'length', numGenerated: 3 });
    expect(s.stats().pagesUsed).toBe(0);
  });

  it('finishes with context when prompt + generated reaches maxModelLen', () => {
    const s = new Scheduler(config({ maxModelLen: 8 }));
    s.add(spec('a', range(1, 6), { maxTokens: 100 }));
    const events = [];
    while (s.hasWork()) events.push(...step(s).events);
    expect(tokensOf(events, 'a')).toHaveLength(2);
    expect(finishOf(events, 'a')).toMatchObject({ reason: 'context', numPromptTokens: 6, numGenerated: 2 });
  });

  it('finish(stop) from the engine frees pages at once', () => {
    const s = new Scheduler(config());
    s.add(spec('a', range(1, 6)));
    step(s);
    expect(s.stats().pagesUsed).toBe(2);
    expect(s.finish('a', 'stop')).toEqual([{ type: 'finished', seqId: 'a', reason: 'stop', numPromptTokens: 6, numGenerated: 1, cachedPromptTokens: 0 }]);
    expect(s.stats()).toMatchObject({ pagesUsed: 0, running: 0 });
    expect(s.finish('a', 'stop')).toEqual([]);
  });

  it('aborts waiting and running sequences, freeing pages immediately', () => {
    const s = new Scheduler(config({ maxSeqs: 1 }));
    s.add(spec('a', range(1, 6)));
    s.add(spec('b', range(1, 6)));
    const plan = s.schedule();
    expect(plan.seqs.map((x) => x.seqId)).toEqual(['a']);
    expect(s.abort('b')).toMatchObject([{ type: 'finished', seqId: 'b', reason: 'abort', numGenerated: 0 }]);
    // Abort between schedule() and update(): the step's result for it is dropped.
    expect(s.abort('a')).toMatchObject([{ type: 'finished', seqId: 'a', reason: 'abort' }]);
    expect(s.stats()).toMatchObject({ pagesUsed: 0, running: 0, waiting: 0 });
    expect(s.update(plan, [5])).toEqual([]);
    expect(s.abort('nope')).toEqual([]);
    expect(s.hasWork()).toBe(false);
  });
});

describe('Scheduler: admission limits', () => {
  it('throws QUEUE_FULL past maxQueue waiting requests', () => {
    const s = new Scheduler(config({ maxQueue: 2, maxSeqs: 1 }));
    s.add(spec('a', [1]));
    s.add(spec('b', [1]));
    expectCode(() => s.add(spec('c', [1])), 'QUEUE_FULL');
    step(s); // a starts, one waiting slot frees
    s.add(spec('c', [1]));
    expect(s.stats()).toMatchObject({ waiting: 2, running: 1 });
  });

  it('validates requests', () => {
    const s = new Scheduler(config({ maxModelLen: 10, numPages: 2, pageSize: 4 }));
    expectCode(() => s.add(spec('a', [])), 'INVALID_REQUEST');
    expectCode(() => s.add(spec('a', [1], { maxTokens: 0 })), 'INVALID_REQUEST');
    expectCode(() => s.add(spec('a', range(1, 10))), 'CONTEXT_LENGTH_EXCEEDED');
    expectCode(() => s.add(spec('a', range(1, 9))), 'CONTEXT_LENGTH_EXCEEDED'); // 9 tokens > 2 pages of 4
    s.add(spec('a', range(1, 8)));
    expectCode(() => s.add(spec('a', [1])), 'INVALID_REQUEST');
    expectCode(() => new Scheduler(config({ pageSize: 0 })), 'INVALID_REQUEST');
  });

  it('caps a sequence at what the pool can hold', () => {
    const s = new Scheduler(config({ numPages: 2, pageSize: 4, maxModelLen: 100 }));
    s.add(spec('a', range(1, 8), { maxTokens: 50 }));
    const events = [];
    while (s.hasWork()) events.push(...step(s).events);
    expect(finishOf(events, 'a')).toMatchObject({ reason: 'context', numGenerated: 1 });
  });

  it('orders waiting requests by priority, then arrival', () => {
    const s = new Scheduler(config({ maxSeqs: 1 }));
    s.add(spec('low', [1], { priority: 2, maxTokens: 1 }));
    s.add(spec('first', [1], { maxTokens: 1 }));
    s.add(spec('urgent', [1], { priority: -1, maxTokens: 1 }));
    s.add(spec('second', [1], { maxTokens: 1 }));
    const order = [];
    while (s.hasWork()) order.push(...step(s).plan.seqs.map((x) => x.seqId));
    expect(order).toEqual(['urgent', 'first', 'second', 'low']);
  });

  it('never starves a low-priority request under a stream of urgent ones (aging)', () => {
    const runLowAt = (agingSteps: number): number => {
      const s = new Scheduler(config({ maxSeqs: 1, agingSteps }));
      s.add(spec('low', [1, 2], { priority: 3, maxTokens: 1 }));
      for (let i = 0; i < 200; i++) {
        s.add(spec(`hi${i}`, [1, 2], { maxTokens: 1 }));
        if (step(s).plan.seqs.some((x) => x.seqId === 'low')) return i;
      }
      return -1;
    };
    const at = runLowAt(4);
    expect(at).toBeGreaterThan(3); // priority still counts at first,
    expect(at).toBeLessThan(20); // but waiting buys it a turn.
    expect(runLowAt(1_000_000)).toBe(-1);
  });
});

describe('Scheduler: preemption', () => {
  it('preempts the newest sequence when pages run out and resumes it where it left off', () => {
    const s = new Scheduler(config({ numPages: 4, pageSize: 2, maxSeqs: 2 }));
    s.add(spec('a', [1, 2, 3], { maxTokens: 4 }));
    s.add(spec('b', [4, 5, 6], { maxTokens: 4 }));
    let counter = 100;
    const plans: StepPlan[] = [];
    const events: SchedulerEvent[] = [];
    while (s.hasWork()) {
      const r = step(s, () => counter++);
      plans.push(r.plan);
      events.push(...r.events);
    }
    const preemptedAt = plans.findIndex((p) => p.preempted.length > 0);
    expect(plans[preemptedAt]!.preempted).toEqual(['b']);
    expect(plans[preemptedAt]!.seqs.map((x) => x.seqId)).toEqual(['a']);
    expect(events.filter((e) => e.type === 'preempted')).toEqual([{ type: 'preempted', seqId: 'b' }]);
    expect(s.stats().preemptions).toBe(1);

    // b comes back recomputing prompt + its 2 generated tokens, minus what is still cached.
    const resumed = plans.slice(preemptedAt + 1).find((p) => p.seqs.some((x) => x.seqId === 'b'))!.seqs.find((x) => x.seqId === 'b')!;
    const bTokens = tokensOf(events, 'b');
    expect([...resumed.tokens.slice(-2)]).toEqual(bTokens.slice(0, 2));
    expect(resumed.startPos + resumed.tokens.length).toBe(5);
    expect(resumed.sample).toBe(true);
    expect(events.filter((e) => e.type === 'token' && e.seqId === 'b').map((e) => e.type === 'token' && e.index)).toEqual([0, 1, 2, 3]);
    expect(finishOf(events, 'b')).toMatchObject({ reason: 'length', numGenerated: 4 });
    expect(s.stats().pagesUsed).toBe(0);
  });

  it('preempts the lowest priority first, even if it is older', () => {
    const s = new Scheduler(config({ numPages: 4, pageSize: 2, maxSeqs: 2 }));
    s.add(spec('old-low', [1, 2, 3], { priority: 5 }));
    s.add(spec('new-high', [4, 5, 6]));
    const preempted = [];
    for (let i = 0; i < 4; i++) preempted.push(...step(s).plan.preempted);
    expect(preempted).toEqual(['old-low']);
  });
});

describe('Scheduler: prefix caching', () => {
  const system = range(1000, 16);

  it('reuses the pages of a shared system prompt', () => {
    const s = new Scheduler(config());
    s.add(spec('a', [...system, 1, 2, 3], { maxTokens: 1 }));
    const aPages = step(s).plan.seqs[0]!.pageTable;
    s.add(spec('b', [...system, 4, 5], { maxTokens: 2 }));
    const { plan } = step(s);
    expect(plan.seqs[0]).toMatchObject({ seqId: 'b', startPos: 16, tokens: [4, 5], sample: true });
    expect(plan.seqs[0]!.pageTable.slice(0, 4)).toEqual(aPages.slice(0, 4));

    // A concurrent request shares them with b by reference.
    s.add(spec('c', [...system, 6], { maxTokens: 1 }));
    const both = s.schedule();
    const cTable = both.seqs.find((x) => x.seqId === 'c')!.pageTable;
    expect(cTable.slice(0, 4)).toEqual(aPages.slice(0, 4));
    for (const page of aPages.slice(0, 4)) expect(s.pool.refCount(page)).toBe(2);
    s.update(both, [7, 7]);

    const events = [];
    while (s.hasWork()) events.push(...step(s).events);
    expect(s.stats()).toMatchObject({ prefixQueries: 19 + 18 + 17, prefixHits: 32, pagesUsed: 0 });
    expect(s.stats().prefixHitRate).toBeCloseTo(32 / 54);
  });

  it('recomputes the last token of a fully cached prompt without writing a shared page', () => {
    const s = new Scheduler(config());
    s.add(spec('a', system, { maxTokens: 1 }));
    const aPages = step(s).plan.seqs[0]!.pageTable;
    s.add(spec('b', system, { maxTokens: 1 }));
    const { plan, events } = step(s);
    expect(plan.seqs[0]).toMatchObject({ startPos: 12, tokens: system.slice(12), sample: true });
    expect(plan.seqs[0]!.pageTable.slice(0, 3)).toEqual(aPages.slice(0, 3));
    expect(plan.seqs[0]!.pageTable[3]).not.toBe(aPages[3]);
    expect(finishOf(events, 'b')).toMatchObject({ cachedPromptTokens: 12 });
  });

  it('evicts cached pages in LRU order, tails first', () => {
    const s = new Scheduler(config({ numPages: 8, pageSize: 4 }));
    const promptA = range(1, 17);
    s.add(spec('a', promptA, { maxTokens: 1 }));
    step(s);
    expect(s.stats()).toMatchObject({ pagesUsed: 0, pagesCached: 4, pagesFree: 4 });
    s.add(spec('b', range(100, 17), { maxTokens: 1 }));
    step(s); // needs 5 pages: 4 free + a's last full page
    expect(s.stats()).toMatchObject({ pagesUsed: 0, pagesCached: 7, pagesFree: 1 });
    s.add(spec('c', promptA, { maxTokens: 1 }));
    expect(finishOf(step(s).events, 'c')).toMatchObject({ cachedPromptTokens: 12 });
  });

  it('can be disabled', () => {
    const s = new Scheduler(config({ enablePrefixCaching: false }));
    for (const id of ['a', 'b']) {
      s.add(spec(id, system, { maxTokens: 1 }));
      expect(step(s).plan.seqs[0]!.startPos).toBe(0);
    }
    expect(s.stats()).toMatchObject({ pagesCached: 0, pagesFree: 64, prefixQueries: 0, prefixHitRate: 0 });
  });
});
