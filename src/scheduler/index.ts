// Continuous-batching scheduler with a paged KV allocator and prefix caching. Pure CPU logic: it
// decides what the engine runs each step and which KV pages each sequence uses, nothing more.
export { Scheduler } from './scheduler.js';
export { KvPagePool, ROOT_CURSOR, fnv1a64, hashPage, type ChainCursor, type PageHashFn, type PrefixMatch } from './kv-pages.js';
export type {
  FinishReason,
  ScheduledSeq,
  SchedulerConfig,
  SchedulerEvent,
  SchedulerStats,
  SeqSnapshot,
  SeqSpec,
  StepPlan,
} from './types.js';
