// The scheduler's contract with the engine. One step of the engine is: plan = schedule(), run the
// model on plan.seqs (all of them in one batch, prefill chunks and decode tokens alike), sample one
// token for every seq with sample=true, then events = update(plan, sampled). There are no separate
// prefill and decode phases: a sequence simply has tokens whose KV is not yet in the cache.

export interface SchedulerConfig {
  /** Pages in the GPU KV pool. */
  numPages: number;
  /** Tokens per page. */
  pageSize: number;
  /** Max running sequences; also the number of page-table rows ("slots") on the GPU. */
  maxSeqs: number;
  /** Token budget per step, summed over all scheduled sequences. */
  maxBatchedTokens: number;
  /** Context limit per sequence, prompt + generated tokens. */
  maxModelLen: number;
  /** Max waiting requests; add() past it throws QUEUE_FULL. Unbounded when absent. */
  maxQueue?: number;
  /** Reuse KV of identical full prompt pages across requests. Default true. */
  enablePrefixCaching?: boolean;
  /** Steps spent in the system per one level of priority boost, so nothing waits forever. Default 32. */
  agingSteps?: number;
}

export interface SeqSpec {
  id: string;
  promptTokens: number[];
  /** Max generated tokens, >= 1. */
  maxTokens: number;
  eosTokenIds: number[];
  /** Lower is more urgent. Default 0. */
  priority?: number;
  /** Keep generating through EOS tokens (they are emitted like any other token). */
  ignoreEos?: boolean;
}

export interface ScheduledSeq {
  seqId: string;
  /** Row of this sequence in the GPU page table, 0..maxSeqs-1; stable while it runs. */
  slot: number;
  /** Token ids to run this step: a prefill chunk, or 1 decode token. */
  tokens: number[];
  /** Absolute position of tokens[0], i.e. tokens whose KV was already cached before this step. */
  startPos: number;
  /** Physical page ids covering positions [0, startPos + tokens.length). */
  pageTable: number[];
  /** After this step every known token is computed, so the engine samples one token from the last logits. */
  sample: boolean;
}

export interface StepPlan {
  step: number;
  seqs: ScheduledSeq[];
  /** Sum of tokens.length over seqs; <= maxBatchedTokens. */
  numTokens: number;
  /** Sequences whose pages were taken back this step; they will be recomputed later. */
  preempted: string[];
}

export type FinishReason = 'stop' | 'length' | 'context' | 'abort';

export type SchedulerEvent =
  /** index is the 0-based index among generated tokens; it keeps counting across preemptions. */
  | { type: 'token'; seqId: string; token: number; index: number }
  | {
      type: 'finished';
      seqId: string;
      reason: FinishReason;
      numPromptTokens: number;
      numGenerated: number;
      /** Prompt tokens served from the prefix cache at first admission. */
      cachedPromptTokens: number;
    }
  | { type: 'preempted'; seqId: string };

export interface SchedulerStats {
  waiting: number;
  running: number;
  /** Of waiting and running, those paused for a slow consumer (skipped by schedule(), pages kept). */
  paused: number;
  /** Pages referenced by at least one sequence. */
  pagesUsed: number;
  /** Unreferenced pages holding nothing reusable. */
  pagesFree: number;
  /** Unreferenced pages holding a cached prefix; evicted (LRU) when a free page is needed. */
  pagesCached: number;
  /** Tokens looked up in the prefix cache at admission. */
  prefixQueries: number;
  /** Of those, tokens whose KV was reused. */
  prefixHits: number;
  /** prefixHits / prefixQueries, 0 before any query. */
  prefixHitRate: number;
  preemptions: number;
}

/** A read-only view of one sequence, for tests and debugging. */
export interface SeqSnapshot {
  seqId: string;
  state: 'waiting' | 'running';
  /** -1 while waiting. */
  slot: number;
  numComputed: number;
  numTokens: number;
  numPromptTokens: number;
  generated: number[];
  pages: number[];
}
