// End-to-end checks against a fake model that really reads and writes a paged KV cache: each step
// writes the scheduled tokens into the pages the plan names, and samples from a hash of the context
// it reads back through the page table. A wrong page table, a shared page written twice or a bad
// resume after preemption changes the context, hence the token, hence fails the reference check.
import { describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { Scheduler, type SchedulerConfig, type SchedulerEvent, type SeqSpec, type StepPlan } from '../../src/scheduler/index.js';
import { rng as mulberry32 } from '../reference/rng.js';

const VOCAB = 64;
const EOS = 0;

/** The "model": the next token is a pure function of the whole context. */
function nextToken(context: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const t of context) h = Math.imul(h ^ t, 0x01000193) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  return ((h ^ (h >>> 13)) >>> 0) % VOCAB;
}

interface Tracked {
  spec: SeqSpec;
  generated: number[];
  finished: boolean;
  stoppedByEngine: boolean;
}

class Harness {
  readonly s: Scheduler;
  readonly kv: Int32Array;
  readonly seqs = new Map<string, Tracked>();
  readonly reasons = new Map<string, number>();
  preemptedEvents = 0;
  queueFull = 0;

  constructor(readonly cfg: SchedulerConfig) {
    this.s = new Scheduler(cfg);
    this.kv = new Int32Array(cfg.numPages * cfg.pageSize).fill(-1);
  }

  /** Submits like a client: QUEUE_FULL means try again later, a prompt over the limit is refused for good. */
  add(spec: SeqSpec): 'added' | 'full' | 'refused' {
    try {
      this.s.add(spec);
    } catch (e) {
      if (FridayError.is(e, 'QUEUE_FULL')) return 'full';
      const n = spec.promptTokens.length;
      if (FridayError.is(e, 'CONTEXT_LENGTH_EXCEEDED') && (n >= this.cfg.maxModelLen || n > this.cfg.numPages * this.cfg.pageSize)) return 'refused';
      throw e;
    }
    this.seqs.set(spec.id, { spec, generated: [], finished: false, stoppedByEngine: false });
    return 'added';
  }

  live(): string[] {
    return [...this.seqs.values()].filter((t) => !t.finished).map((t) => t.spec.id);
  }

  step(): StepPlan {
    const plan = this.s.schedule();
    this.checkInvariants(plan);
    const sampled = plan.seqs.map((x) => this.runModel(x));
    this.consume(this.s.update(plan, sampled));
    this.checkPages();
    return plan;
  }

  consume(events: SchedulerEvent[]): void {
    for (const e of events) {
      const t = this.seqs.get(e.seqId)!;
      expect(t.finished).toBe(false);
      if (e.type === 'preempted') {
        this.preemptedEvents++;
        expect(this.s.inspect(e.seqId)?.state).toBe('waiting');
      } else if (e.type === 'token') {
        expect(e.index).toBe(t.generated.length);
        expect(e.token).toBe(nextToken([...t.spec.promptTokens, ...t.generated]));
        t.generated.push(e.token);
      } else {
        t.finished = true;
        this.reasons.set(e.reason, (this.reasons.get(e.reason) ?? 0) + 1);
        expect(e.numGenerated).toBe(t.generated.length);
        expect(e.numPromptTokens).toBe(t.spec.promptTokens.length);
        const numTokens = t.spec.promptTokens.length + t.generated.length;
        if (e.reason === 'length') expect(t.generated.length).toBe(t.spec.maxTokens);
        if (e.reason === 'context') expect(numTokens).toBe(Math.min(this.cfg.maxModelLen, this.cfg.numPages * this.cfg.pageSize + 1));
        if (e.reason === 'stop' && !t.stoppedByEngine) expect(nextToken([...t.spec.promptTokens, ...t.generated])).toBe(EOS);
        expect(this.s.inspect(e.seqId)).toBeUndefined();
      }
    }
  }

  /** Writes the step's tokens into the KV pages, then samples from the context read back from them. */
  private runModel(x: StepPlan['seqs'][number]): number | undefined {
    const { pageSize } = this.cfg;
    const t = this.seqs.get(x.seqId)!;
    const known = [...t.spec.promptTokens, ...t.generated];
    expect(x.tokens).toEqual(known.slice(x.startPos, x.startPos + x.tokens.length));
    x.tokens.forEach((token, j) => {
      const pos = x.startPos + j;
      const page = x.pageTable[Math.floor(pos / pageSize)]!;
      expect(this.s.pool.refCount(page)).toBe(1); // a page being written belongs to this sequence alone
      expect(this.s.pool.isCached(page)).toBe(false);
      this.kv[page * pageSize + (pos % pageSize)] = token;
    });
    if (!x.sample) return undefined;
    const end = x.startPos + x.tokens.length;
    const context = Array.from({ length: end }, (_, pos) => this.kv[x.pageTable[Math.floor(pos / pageSize)]! * pageSize + (pos % pageSize)]!);
    expect(context).toEqual(known);
    return nextToken(context);
  }

  private checkInvariants(plan: StepPlan): void {
    const { maxBatchedTokens, maxSeqs, pageSize } = this.cfg;
    expect(plan.numTokens).toBe(plan.seqs.reduce((n, x) => n + x.tokens.length, 0));
    expect(plan.numTokens).toBeLessThanOrEqual(maxBatchedTokens);
    expect(plan.seqs.length).toBeLessThanOrEqual(maxSeqs);
    expect(new Set(plan.seqs.map((x) => x.seqId)).size).toBe(plan.seqs.length);
    for (const x of plan.seqs) {
      const snap = this.s.inspect(x.seqId)!;
      expect(snap.state).toBe('running');
      expect(x.startPos).toBe(snap.numComputed);
      expect(x.tokens.length).toBeGreaterThan(0);
      expect(x.pageTable).toEqual(snap.pages);
      expect(x.pageTable).toHaveLength(Math.ceil((x.startPos + x.tokens.length) / pageSize));
      expect(x.sample).toBe(x.startPos + x.tokens.length === snap.numTokens);
    }
  }

  /** Page ownership matches refcounts, shared pages are cached, slots are unique, the pool adds up. */
  private checkPages(): void {
    const owners = new Map<number, number>();
    const slots = new Set<number>();
    let running = 0;
    for (const id of this.live()) {
      const snap = this.s.inspect(id)!;
      if (snap.state === 'waiting') {
        expect([snap.slot, snap.numComputed, snap.pages.length]).toEqual([-1, 0, 0]);
        continue;
      }
      running++;
      expect(snap.slot).toBeGreaterThanOrEqual(0);
      expect(snap.slot).toBeLessThan(this.cfg.maxSeqs);
      expect(slots.has(snap.slot)).toBe(false);
      slots.add(snap.slot);
      for (const page of snap.pages) owners.set(page, (owners.get(page) ?? 0) + 1);
    }
    for (const [page, count] of owners) {
      expect(this.s.pool.refCount(page)).toBe(count);
      if (count > 1) expect(this.s.pool.isCached(page)).toBe(true);
    }
    const stats = this.s.stats();
    expect(stats.running).toBe(running);
    expect(stats.running + stats.waiting).toBe(this.live().length);
    expect(stats.pagesUsed).toBe(owners.size);
    expect(stats.pagesUsed + stats.pagesFree + stats.pagesCached).toBe(this.cfg.numPages);
  }
}

function randomPrompt(rng: () => number, systems: number[][]): number[] {
  const suffix = Array.from({ length: 1 + Math.floor(rng() * 30) }, () => 1 + Math.floor(rng() * (VOCAB - 1)));
  return rng() < 0.6 ? [...systems[Math.floor(rng() * systems.length)]!, ...suffix] : suffix;
}

function soak(seed: number, over: Partial<SchedulerConfig> = {}, numRequests = 200): Harness {
  const rng = mulberry32(seed);
  const h = new Harness({ numPages: 40, pageSize: 4, maxSeqs: 8, maxBatchedTokens: 32, maxModelLen: 80, maxQueue: 16, ...over });
  const systems = [8, 13, 24].map((n) => Array.from({ length: n }, () => 1 + Math.floor(rng() * (VOCAB - 1))));
  const backlog: SeqSpec[] = Array.from({ length: numRequests }, (_, i) => ({
    id: `r${i}`,
    promptTokens: randomPrompt(rng, systems),
    maxTokens: 1 + Math.floor(rng() * 40),
    eosTokenIds: [EOS],
    priority: Math.floor(rng() * 3),
    ignoreEos: rng() < 0.1,
  }));
  for (let steps = 0; backlog.length > 0 || h.s.hasWork(); steps++) {
    expect(steps).toBeLessThan(20_000);
    for (let n = Math.floor(rng() * 4); n > 0 && backlog.length > 0; n--) {
      const outcome = h.add(backlog[0]!);
      if (outcome === 'full') {
        h.queueFull++;
        break;
      }
      backlog.shift();
    }
    const live = h.live();
    if (live.length > 0 && rng() < 0.03) h.consume(h.s.abort(live[Math.floor(rng() * live.length)]!));
    if (live.length > 0 && rng() < 0.02) {
      const id = live[Math.floor(rng() * live.length)]!;
      h.seqs.get(id)!.stoppedByEngine = true;
      h.consume(h.s.finish(id, 'stop'));
    }
    h.step();
  }
  const stats = h.s.stats();
  expect(h.live()).toEqual([]);
  expect(stats).toMatchObject({ waiting: 0, running: 0, pagesUsed: 0 });
  expect(stats.pagesFree + stats.pagesCached).toBe(h.cfg.numPages);
  expect(h.preemptedEvents).toBe(stats.preemptions);
  return h;
}

describe('Scheduler soak (fake paged-KV model)', () => {
  it('resumes preempted sequences exactly where they left off', () => {
    const h = new Harness({ numPages: 12, pageSize: 4, maxSeqs: 4, maxBatchedTokens: 16, maxModelLen: 64 });
    for (let i = 0; i < 4; i++) h.add({ id: `s${i}`, promptTokens: [i + 1, 2, 3, 4, 5], maxTokens: 24, eosTokenIds: [], ignoreEos: true });
    while (h.s.hasWork()) h.step();
    expect(h.s.stats().preemptions).toBeGreaterThan(0);
    for (const t of h.seqs.values()) expect(t.generated).toHaveLength(24);
    expect(h.s.stats().pagesUsed).toBe(0);
  });

  for (const seed of [1, 2, 3]) {
    it(`keeps every invariant over 200 random requests (seed ${seed})`, () => {
      const h = soak(seed);
      const stats = h.s.stats();
      expect(stats.preemptions).toBeGreaterThan(0);
      expect(stats.prefixHits).toBeGreaterThan(0);
      expect(stats.prefixHitRate).toBeGreaterThan(0);
      expect(h.reasons.get('stop') ?? 0).toBeGreaterThan(0);
      expect(h.reasons.get('length') ?? 0).toBeGreaterThan(0);
      expect(h.reasons.get('abort') ?? 0).toBeGreaterThan(0);
      expect(h.queueFull).toBeGreaterThan(0);
      expect(h.seqs.size).toBe(200);
    });
  }

  it('keeps every invariant without prefix caching', () => {
    const stats = soak(7, { enablePrefixCaching: false }).s.stats();
    expect(stats).toMatchObject({ prefixHits: 0, pagesCached: 0 });
  });

  it('keeps every invariant with a tiny pool, a small budget and context finishes', () => {
    const h = soak(11, { numPages: 14, pageSize: 2, maxSeqs: 3, maxBatchedTokens: 5, maxModelLen: 28 }, 120);
    expect(h.reasons.get('context') ?? 0).toBeGreaterThan(0);
  });
});
