// Continuous batching in the style of vLLM v1. Every sequence is just "numTokens known, numComputed
// of them have KV in the cache"; a step hands each running sequence its missing tokens (a prefill
// chunk, or the 1 token sampled last step) until the token budget runs out, then admits waiting
// sequences into the remaining budget and free slots. Requests join and leave between any two steps.
//
// Pages are allocated as positions grow. When none is left, the least important running sequence
// (highest rank, newest arrival) is preempted: its pages go back, it keeps its tokens, and it is
// recomputed from scratch later (mostly from the prefix cache, since its full pages stay cached).
import { FridayError } from '../api/errors.js';
import { KvPagePool, ROOT_CURSOR, type ChainCursor } from './kv-pages.js';
import type {
  FinishReason,
  ScheduledSeq,
  SchedulerConfig,
  SchedulerEvent,
  SchedulerStats,
  SeqSnapshot,
  SeqSpec,
  StepPlan,
} from './types.js';

const DEFAULT_AGING_STEPS = 32;

interface Seq {
  spec: SeqSpec;
  /** add() order: the FCFS tie-break, and seniority when choosing whom to preempt. */
  arrival: number;
  /** Step count at add(); waiting time since then buys priority (aging). */
  arrivalStep: number;
  /** Prompt, then generated tokens. */
  tokens: number[];
  numPromptTokens: number;
  /** Leading tokens whose KV is in the cache. */
  numComputed: number;
  /** Physical pages covering positions [0, pages.length * pageSize). */
  pages: number[];
  chain: ChainCursor;
  state: 'waiting' | 'running' | 'done';
  /** Page-table row while running, -1 otherwise. */
  slot: number;
  /** Effective priority frozen at admission; larger = preempted sooner. */
  rank: number;
  cachedPromptTokens: number;
  everAdmitted: boolean;
  /** Its consumer is behind: keeps its pages, gets no tokens until resumed. */
  paused?: boolean;
}

function isPositiveInt(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

/** Running order: lower rank first, then seniority. */
function moreImportant(a: Seq, b: Seq): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.arrival < b.arrival);
}

function countPaused(seqs: readonly Seq[]): number {
  let n = 0;
  for (const seq of seqs) if (seq.paused) n++;
  return n;
}

export class Scheduler {
  private readonly cfg: Required<SchedulerConfig>;
  readonly pool: KvPagePool;
  /** Tokens a sequence may reach: the model's limit, or what the pool can hold plus the last sampled token. */
  private readonly contextLimit: number;
  private readonly byId = new Map<string, Seq>();
  private readonly waiting: Seq[] = [];
  /** Most important first: (rank, arrival) ascending. Victims come off the end. */
  private readonly running: Seq[] = [];
  private readonly slotOwners: (Seq | null)[];
  private stepCount = 0;
  private arrivals = 0;
  private inflight: { plan: StepPlan; seqs: Seq[] } | null = null;
  private prefixQueryTokens = 0;
  private prefixHitTokens = 0;
  private preemptionCount = 0;

  constructor(cfg: SchedulerConfig) {
    for (const key of ['numPages', 'pageSize', 'maxSeqs', 'maxBatchedTokens', 'maxModelLen'] as const) {
      if (!isPositiveInt(cfg[key])) throw new FridayError('INVALID_REQUEST', `scheduler: ${key} must be a positive integer`, { [key]: cfg[key] });
    }
    const agingSteps = cfg.agingSteps ?? DEFAULT_AGING_STEPS;
    if (!isPositiveInt(agingSteps)) throw new FridayError('INVALID_REQUEST', 'scheduler: agingSteps must be a positive integer');
    this.cfg = {
      ...cfg,
      maxQueue: cfg.maxQueue ?? Infinity,
      enablePrefixCaching: cfg.enablePrefixCaching ?? true,
      agingSteps,
    };
    this.pool = new KvPagePool(cfg.numPages, cfg.pageSize);
    this.contextLimit = Math.min(cfg.maxModelLen, cfg.numPages * cfg.pageSize + 1);
    this.slotOwners = new Array<Seq | null>(cfg.maxSeqs).fill(null);
  }

  add(spec: SeqSpec): void {
    const { id, promptTokens } = spec;
    if (typeof id !== 'string' || id === '') throw new FridayError('INVALID_REQUEST', 'sequence id must be a non-empty string');
    if (this.byId.has(id)) throw new FridayError('INVALID_REQUEST', `sequence ${id} already exists`, { seqId: id });
    if (promptTokens.length === 0) throw new FridayError('INVALID_REQUEST', 'prompt is empty', { seqId: id });
    if (!isPositiveInt(spec.maxTokens)) throw new FridayError('INVALID_REQUEST', 'maxTokens must be a positive integer', { seqId: id });
    if (promptTokens.length >= this.cfg.maxModelLen || promptTokens.length > this.cfg.numPages * this.cfg.pageSize) {
      throw new FridayError('CONTEXT_LENGTH_EXCEEDED', `prompt of ${promptTokens.length} tokens does not fit the context`, {
        seqId: id,
        promptTokens: promptTokens.length,
        maxModelLen: this.cfg.maxModelLen,
        poolTokens: this.cfg.numPages * this.cfg.pageSize,
      });
    }
    if (this.waiting.length >= this.cfg.maxQueue) throw new FridayError('QUEUE_FULL', 'too many waiting requests', { maxQueue: this.cfg.maxQueue });
    const seq: Seq = {
      spec,
      arrival: this.arrivals++,
      arrivalStep: this.stepCount,
      tokens: promptTokens.slice(),
      numPromptTokens: promptTokens.length,
      numComputed: 0,
      pages: [],
      chain: ROOT_CURSOR,
      state: 'waiting',
      slot: -1,
      rank: 0,
      cachedPromptTokens: 0,
      everAdmitted: false,
    };
    this.byId.set(id, seq);
    this.waiting.push(seq);
  }

  abort(seqId: string): SchedulerEvent[] {
    const seq = this.byId.get(seqId);
    return seq === undefined ? [] : [this.retire(seq, 'abort')];
  }

  /** The engine saw a stop string in the detokenized output. */
  finish(seqId: string, reason: 'stop'): SchedulerEvent[] {
    const seq = this.byId.get(seqId);
    return seq === undefined ? [] : [this.retire(seq, reason)];
  }

  schedule(): StepPlan {
    if (this.inflight !== null) throw new FridayError('INTERNAL', 'schedule() called again before update() of the previous plan');
    const step = ++this.stepCount;
    const seqs: Seq[] = [];
    const chunks: number[] = [];
    const preempted: string[] = [];
    let budget = this.scheduleRunning(seqs, chunks, preempted);
    // Admitting while preempting would only hand the freed pages to someone else and thrash.
    if (preempted.length === 0) budget = this.admitWaiting(seqs, chunks, budget);
    const plan: StepPlan = {
      step,
      seqs: seqs.map((seq, i) => this.describe(seq, chunks[i]!)),
      numTokens: this.cfg.maxBatchedTokens - budget,
      preempted,
    };
    if (seqs.length > 0 || preempted.length > 0) this.inflight = { plan, seqs };
    return plan;
  }

  update(plan: StepPlan, sampled: readonly (number | undefined)[]): SchedulerEvent[] {
    const events: SchedulerEvent[] = plan.preempted.map((seqId) => ({ type: 'preempted', seqId }));
    if (plan.seqs.length === 0 && plan.preempted.length === 0) return events;
    if (this.inflight === null || this.inflight.plan !== plan) throw new FridayError('INTERNAL', 'update() of a plan that is not the current one', { step: plan.step });
    const seqs = this.inflight.seqs;
    // Validate before mutating, so a bad call leaves the scheduler as it was.
    plan.seqs.forEach((s, i) => {
      if (s.sample && seqs[i]!.state === 'running' && !Number.isInteger(sampled[i])) {
        throw new FridayError('INTERNAL', `no sampled token for ${s.seqId}`, { step: plan.step, index: i });
      }
    });
    this.inflight = null;
    plan.seqs.forEach((s, i) => {
      const seq = seqs[i]!;
      if (seq.state !== 'running') return; // aborted or finished between schedule() and update()
      seq.numComputed += s.tokens.length;
      if (this.cfg.enablePrefixCaching) seq.chain = this.pool.commitFullPages(seq.chain, seq.pages, seq.tokens, seq.numComputed);
      if (s.sample) this.acceptToken(seq, sampled[i]!, events);
    });
    return events;
  }

  /** Pauses or resumes a sequence (a slow stream consumer); a paused one keeps its pages and slot. */
  setPaused(seqId: string, paused: boolean): void {
    const seq = this.byId.get(seqId);
    if (seq !== undefined && seq.state !== 'done') seq.paused = paused;
  }

  hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  stats(): SchedulerStats {
    return {
      waiting: this.waiting.length,
      running: this.running.length,
      paused: countPaused(this.running) + countPaused(this.waiting),
      pagesUsed: this.pool.numUsed,
      pagesFree: this.pool.numFree,
      pagesCached: this.pool.numCached,
      prefixQueries: this.prefixQueryTokens,
      prefixHits: this.prefixHitTokens,
      prefixHitRate: this.prefixQueryTokens === 0 ? 0 : this.prefixHitTokens / this.prefixQueryTokens,
      preemptions: this.preemptionCount,
    };
  }

  inspect(seqId: string): SeqSnapshot | undefined {
    const seq = this.byId.get(seqId);
    if (seq === undefined || seq.state === 'done') return undefined;
    return {
      seqId,
      state: seq.state,
      slot: seq.slot,
      numComputed: seq.numComputed,
      numTokens: seq.tokens.length,
      numPromptTokens: seq.numPromptTokens,
      generated: seq.tokens.slice(seq.numPromptTokens),
      pages: seq.pages.slice(),
    };
  }

  /** Gives running sequences their missing tokens; returns the budget left. */
  private scheduleRunning(seqs: Seq[], chunks: number[], preempted: string[]): number {
    let budget = this.cfg.maxBatchedTokens;
    // Victims are taken from the end, which is never a sequence already scheduled this step.
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i]!;
      if (seq.paused) continue;
      const numNew = Math.min(seq.tokens.length - seq.numComputed, budget);
      if (numNew <= 0) continue;
      if (!this.growPages(seq, seq.numComputed + numNew, preempted)) break;
      seqs.push(seq);
      chunks.push(numNew);
      budget -= numNew;
    }
    return budget;
  }

  /** Pages for positions [0, numPositions), preempting from the back; false if seq itself had to go. */
  private growPages(seq: Seq, numPositions: number, preempted: string[]): boolean {
    const numNeeded = Math.ceil(numPositions / this.cfg.pageSize) - seq.pages.length;
    while (this.pool.numAvailable < numNeeded) {
      const victim = this.running[this.running.length - 1]!;
      this.preempt(victim);
      preempted.push(victim.spec.id);
      if (victim === seq) return false;
    }
    for (let i = 0; i < numNeeded; i++) seq.pages.push(this.pool.allocate());
    return true;
  }

  private preempt(seq: Seq): void {
    this.pool.release(seq.pages);
    seq.pages = [];
    seq.numComputed = 0;
    seq.chain = ROOT_CURSOR;
    this.leaveRunning(seq);
    seq.state = 'waiting';
    // Front of the queue; waitingOrder() keeps it ahead of equal-priority newcomers by arrival anyway.
    this.waiting.unshift(seq);
    this.preemptionCount++;
  }

  /** Admits waiting sequences in priority order while budget, slots and pages last; returns the budget left. */
  private admitWaiting(seqs: Seq[], chunks: number[], budget: number): number {
    for (const seq of this.waitingOrder()) {
      if (budget <= 0 || this.running.length >= this.cfg.maxSeqs) break;
      if (seq.paused) continue;
      const numNew = this.admit(seq, budget);
      // Strict order: letting smaller requests overtake a blocked head would starve big prompts.
      if (numNew === 0) break;
      seqs.push(seq);
      chunks.push(numNew);
      budget -= numNew;
    }
    return budget;
  }

  private effectivePriority(seq: Seq): number {
    const waited = this.stepCount - seq.arrivalStep;
    return (seq.spec.priority ?? 0) - Math.floor(waited / this.cfg.agingSteps);
  }

  private waitingOrder(): Seq[] {
    const keyed = this.waiting.map((seq) => ({ seq, priority: this.effectivePriority(seq) }));
    keyed.sort((a, b) => a.priority - b.priority || a.seq.arrival - b.seq.arrival);
    return keyed.map((k) => k.seq);
  }

  /** Tries to start seq with at most `budget` tokens; returns the tokens scheduled, 0 if it does not fit. */
  private admit(seq: Seq, budget: number): number {
    const { pageSize } = this.cfg;
    const numTokens = seq.tokens.length;
    // Only pages strictly before the last token: that token must run to produce logits, and it
    // would otherwise be written into a shared page.
    const match = this.cfg.enablePrefixCaching
      ? this.pool.matchPrefix(seq.tokens, Math.floor((numTokens - 1) / pageSize))
      : { pages: [], cursor: ROOT_CURSOR };
    const numCached = match.pages.length * pageSize;
    const numNew = Math.min(numTokens - numCached, budget);
    const numNeeded = Math.ceil((numCached + numNew) / pageSize) - match.pages.length;
    if (this.pool.availableAfterAcquiring(match.pages) < numNeeded) return 0;

    for (const page of match.pages) this.pool.acquire(page);
    seq.pages = match.pages;
    for (let i = 0; i < numNeeded; i++) seq.pages.push(this.pool.allocate());
    seq.chain = match.cursor;
    seq.numComputed = numCached;
    if (this.cfg.enablePrefixCaching) {
      this.prefixQueryTokens += numTokens;
      this.prefixHitTokens += numCached;
    }
    if (!seq.everAdmitted) seq.cachedPromptTokens = numCached;
    seq.everAdmitted = true;
    this.enterRunning(seq);
    return numNew;
  }

  private enterRunning(seq: Seq): void {
    this.waiting.splice(this.waiting.indexOf(seq), 1);
    seq.state = 'running';
    seq.rank = this.effectivePriority(seq);
    seq.slot = this.slotOwners.indexOf(null);
    this.slotOwners[seq.slot] = seq;
    let at = this.running.length;
    while (at > 0 && moreImportant(seq, this.running[at - 1]!)) at--;
    this.running.splice(at, 0, seq);
  }

  private leaveRunning(seq: Seq): void {
    this.running.splice(this.running.indexOf(seq), 1);
    this.slotOwners[seq.slot] = null;
    seq.slot = -1;
  }

  private describe(seq: Seq, numNew: number): ScheduledSeq {
    const startPos = seq.numComputed;
    return {
      seqId: seq.spec.id,
      slot: seq.slot,
      tokens: seq.tokens.slice(startPos, startPos + numNew),
      startPos,
      pageTable: seq.pages.slice(),
      sample: startPos + numNew === seq.tokens.length,
    };
  }

  private acceptToken(seq: Seq, token: number, events: SchedulerEvent[]): void {
    const { spec } = seq;
    if (!spec.ignoreEos && spec.eosTokenIds.includes(token)) {
      events.push(this.retire(seq, 'stop'));
      return;
    }
    seq.tokens.push(token);
    const index = seq.tokens.length - seq.numPromptTokens - 1;
    events.push({ type: 'token', seqId: spec.id, token, index });
    if (index + 1 >= spec.maxTokens) events.push(this.retire(seq, 'length'));
    else if (seq.tokens.length >= this.contextLimit) events.push(this.retire(seq, 'context'));
  }

  /** Removes seq for good and frees its pages at once (full ones stay in the prefix cache). */
  private retire(seq: Seq, reason: FinishReason): SchedulerEvent {
    if (seq.state === 'running') this.leaveRunning(seq);
    else this.waiting.splice(this.waiting.indexOf(seq), 1);
    this.pool.release(seq.pages);
    seq.pages = [];
    seq.state = 'done';
    this.byId.delete(seq.spec.id);
    return {
      type: 'finished',
      seqId: seq.spec.id,
      reason,
      numPromptTokens: seq.numPromptTokens,
      numGenerated: seq.tokens.length - seq.numPromptTokens,
      cachedPromptTokens: seq.cachedPromptTokens,
    };
  }
}
