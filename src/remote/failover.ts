// Mid-stream failover: one uninterrupted stream for the consumer across several targets.
//
// A target (the local engine, a remote endpoint, a whole RemoteEngine) fails; if it had produced
// nothing, the next target gets the original request. If tokens were already delivered, the next
// target gets a continuation: for completions the original prompt plus the generated tokens — as
// token ids when the prompt was ids or the tokenizer is known (and the ids are), else as text — with
// max_tokens reduced by what was generated; for chat, the messages plus the partial assistant reply,
// sent with `continue_final_message` to a target that supports it (only endpoints flagged
// `continueAssistant`; otherwise the stream ends with a FridayError saying so).
//
// After a failover the router owns the text and the usage (takeover.ts).
import { abortedError, FridayError, throwIfAborted, toFridayError } from '../api/errors.js';
import type { ChatCompletionParams, GenerateEvent, GenerateRequest } from '../api/types.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { ChunkKind, LegBatch, LegEvent } from './chunks.js';
import { HandOffIterator, type Anomaly, type Books, type Handoff, type LoopSource, type Resume } from './handoff.js';
import { CANNOT_CONTINUE, Delivered, NOTHING_LEFT } from './takeover.js';

/** What a target is asked to run: a completion (GenerateRequest) or a chat request. */
export interface LegRequest {
  kind: ChunkKind;
  gen?: GenerateRequest;
  chat?: ChatCompletionParams;
  /** Chat: the last message is a partial assistant reply to continue (vLLM `continue_final_message`). */
  continueFinal?: boolean;
  /** Completion: the caller's OpenAI parameters, forwarded to remote servers (extra fields included). */
  raw?: Record<string, unknown>;
}

export interface FailoverTarget {
  readonly name: string;
  /** Can this target take over a stream of this kind that already produced tokens? */
  canContinue(kind: ChunkKind): boolean;
  /** Events, one at a time or in batches (see LegBatch). Stopped by the signal, or by its iterator's return(). */
  open(req: LegRequest, signal: AbortSignal | undefined): AsyncIterable<LegEvent | LegBatch>;
}

export interface FailoverContext {
  kind: ChunkKind;
  /** Tokens already delivered to the consumer. */
  tokens: number;
  /** Why the previous target failed (undefined on the first call). */
  error: FridayError | undefined;
  failed: FailoverTarget | undefined;
}

export type NextTarget = (ctx: FailoverContext) => Promise<FailoverTarget | undefined> | FailoverTarget | undefined;

export interface FailoverOptions {
  signal?: AbortSignal;
  /** The model's tokenizer, when known (same model on every target). */
  tokenizer?: Tokenizer;
  onFailover?: (info: { from: string; tokens: number; error: FridayError }) => void;
  /** The stream started (its first read) and ended (any way: done, failed, or left by the consumer). */
  onStart?: () => void;
  onEnd?: () => void;
}

/** Errors that move a request to the next target (before or after its first token). */
export function shouldFailOver(e: FridayError): boolean {
  switch (e.code) {
    case 'DEVICE_LOST':
    case 'GPU_OUT_OF_MEMORY':
    case 'GPU_VALIDATION':
    case 'NO_WEBGPU':
    case 'MODEL_TOO_LARGE':
    case 'QUEUE_FULL':
    case 'REMOTE_UNAVAILABLE':
    case 'REMOTE_HTTP_5XX':
    case 'REMOTE_PROTOCOL':
      return true;
    case 'REMOTE_HTTP_4XX':
      return e.details?.kind === 'backpressure';
    default:
      return false;
  }
}

/** One stream for the consumer over targets tried in turn (see the top of this file, and handoff.ts). */
export function runWithFailover(req: LegRequest, next: NextTarget, opts: FailoverOptions = {}): AsyncIterable<LegBatch> {
  return new FailoverStream<LegBatch>(req, next, opts, false);
}

/** The same stream as public events (generate()): one by one, without the internal `lp` field. */
export function failoverEvents(req: LegRequest, next: NextTarget, opts: FailoverOptions = {}): AsyncIterable<GenerateEvent> {
  return new FailoverStream<GenerateEvent>(req, next, opts, true);
}

// A class rather than closures: it lives as long as its stream, hundreds at a time.
class FailoverStream<T extends LegBatch | GenerateEvent> implements AsyncIterable<T>, LoopSource {
  constructor(
    private readonly req: LegRequest, private readonly next: NextTarget, private readonly opts: FailoverOptions,
    private readonly events: boolean,
  ) {}

  get onEnd(): (() => void) | undefined {
    return this.opts.onEnd;
  }

  /**
   * The first target, asked for and opened outside the loop: no generator, none of its state, and
   * no promise when the target is there at once (a remote engine's endpoints are).
   */
  first(): Handoff | Promise<Handoff> {
    const { req, opts } = this;
    opts.onStart?.();
    try {
      throwIfAborted(opts.signal, 'request');
      const target = this.next({ kind: req.kind, tokens: 0, error: undefined, failed: undefined });
      if (!(target instanceof Promise)) return this.opened(target);
      return target.then((t) => this.opened(t)).catch((e: unknown) => this.failedFirst(e));
    } catch (e) {
      return this.failedFirst(e);
    }
  }

  private failedFirst(e: unknown): never {
    this.opts.onEnd?.();
    throw e;
  }

  private opened(target: FailoverTarget | undefined): Handoff {
    const { req, opts } = this;
    if (!target) throw exhausted(req.kind, undefined, 0, []);
    return new FirstHandoff(target, target.open(req, opts.signal)[Symbol.asyncIterator]());
  }

  loop(resume: Resume): AsyncGenerator<LegBatch, Handoff | undefined> {
    return failoverLoop(this.req, this.next, this.opts, resume);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return new HandOffIterator<T>(this, this.events);
  }
}

// The first target's handoff and books live as long as the stream: class instances, not literals
// (V8 pretenures a literal's allocation site once its objects mostly outlive a young-generation
// GC, as a burst of hundreds of streams makes them do), and the ids array made by a builtin
// (slice()) rather than by a literal.
const NO_IDS: readonly number[] = Object.freeze([]);

class FirstBooks implements Books {
  ids = NO_IDS.slice();
  emitted = '';
  count = 0;
}

class FirstHandoff implements Handoff {
  readonly books: Books = new FirstBooks();
  constructor(readonly target: FailoverTarget, readonly it: AsyncIterator<LegEvent | LegBatch>) {}
}

/** A target being read: its iterator, and what it already did if it was handed back. */
interface Leg {
  target: FailoverTarget;
  it: AsyncIterator<LegEvent | LegBatch>;
  anomaly?: Anomaly;
}

/** What the loop has tried: the last error, the target that failed, those that cannot continue. */
interface Tried {
  lastErr: FridayError | undefined;
  failed: FailoverTarget | undefined;
  cannotContinue: string[];
}

/**
 * The failover loop, started from a handoff that went wrong (`from`: the target, its iterator,
 * the books, what happened). It returns a Handoff (and ends) when it opens a target that serves
 * the request as it was asked; handoff.ts then runs that target and resumes the loop only if it
 * must.
 */
async function* failoverLoop(req: LegRequest, next: NextTarget, opts: FailoverOptions, from: Resume): AsyncGenerator<LegBatch, Handoff | undefined> {
  const { signal } = opts;
  const d = new Delivered(req, opts.tokenizer, from.books);
  const tried: Tried = { lastErr: undefined, failed: undefined, cannotContinue: [] };
  let handedOff = false;
  let leg: Leg | undefined = from; // go on as if this loop had been reading it all along
  try {
    for (;;) {
      // 1. The target to read: the one handed back, else the next one, sent the request or its continuation.
      if (!leg) {
        const opened = await openNext(req, next, signal, d, tried);
        if (opened === undefined) continue; // that one cannot continue this stream: the next
        if ('end' in opened) {
          yield [opened.end];
          return undefined;
        }
        if ('handoff' in opened) {
          handedOff = true;
          return opened.handoff;
        }
        leg = opened;
      }
      // 2. Its batches, as the consumer gets them, to the stream's end.
      try {
        yield* readLeg(d, leg);
        return undefined;
      } catch (e) {
        // 3. It failed: on to the next target if the error is one that moves.
        const err = toFridayError(e);
        if (signal?.aborted) throw err.code === 'ABORTED' ? err : abortedError('request', err);
        if (!shouldFailOver(err)) throw err;
        tried.lastErr = err;
        tried.failed = leg.target;
        opts.onFailover?.({ from: leg.target.name, tokens: d.count, error: err });
        leg = undefined;
      }
    }
  } finally {
    if (!handedOff) opts.onEnd?.(); // after a handoff, the stream's end is handoff.ts's to report
  }
}

/**
 * The next target, opened with the request (a Handoff: asked as the caller asked it, handoff.ts
 * runs it) or its continuation (a Leg); the length-limit end when nothing is left to generate;
 * undefined when this target cannot continue the stream.
 */
async function openNext(req: LegRequest, next: NextTarget, signal: AbortSignal | undefined, d: Delivered, tried: Tried): Promise<Leg | { handoff: Handoff } | { end: LegEvent } | undefined> {
  throwIfAborted(signal, 'request');
  const target = await next({ kind: req.kind, tokens: d.count, error: tried.lastErr, failed: tried.failed });
  if (!target) throw exhausted(req.kind, tried.lastErr, d.count, tried.cannotContinue);
  const legReq = d.count === 0 ? req : d.continuationFor(target, tried.lastErr);
  if (legReq === CANNOT_CONTINUE) {
    tried.cannotContinue.push(target.name);
    tried.failed = target;
    return undefined;
  }
  if (legReq === NOTHING_LEFT) return { end: d.lengthEnd(tried.failed?.name ?? target.name) };
  // The target gets the caller's signal; leaving the loop early (a stop string, the consumer
  // gone) ends it through its iterator's return(), as for-await does.
  const it = target.open(legReq, signal)[Symbol.asyncIterator]();
  if (!d.continued) return { handoff: { target, it, books: { ids: d.ids, emitted: d.emitted, count: d.count } } };
  return { target, it };
}

/** A leg's batches through the books, to its final event; throws if it fails or ends without one. */
async function* readLeg(d: Delivered, { target, it, anomaly }: Leg): AsyncGenerator<LegBatch, void> {
  if (anomaly && 'error' in anomaly) throw anomaly.error;
  const pending = anomaly && 'batch' in anomaly ? anomaly.batch : undefined;
  for await (const item of prepend(pending, it)) { // { ended } leaves `it` done: straight to the error below
    const taken = d.take(Array.isArray(item) ? item : [item], target.name);
    if (taken.stopped) await it.return?.();
    if (taken.out.length > 0) yield taken.out;
    if (taken.ended) return;
  }
  throw new FridayError('REMOTE_PROTOCOL', `"${target.name}" ended the stream without a final event.`, { kind: 'protocol', endpoint: target.name });
}

/** `it`, with `first` (if any) before its own items; return() reaches `it`. */
function prepend(first: LegBatch | undefined, it: AsyncIterator<LegEvent | LegBatch>): AsyncIterable<LegEvent | LegBatch> {
  let held = first;
  const iterator: AsyncIterator<LegEvent | LegBatch> = {
    next: () => {
      if (held === undefined) return it.next();
      const value = held;
      held = undefined;
      return Promise.resolve({ value, done: false });
    },
    return: async () => (await it.return?.()) ?? { value: undefined, done: true },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

function exhausted(kind: ChunkKind, lastErr: FridayError | undefined, tokens: number, cannotContinue: string[]): FridayError {
  if (!lastErr) return new FridayError('REMOTE_UNAVAILABLE', 'No target is available for this request.', { kind: 'no_endpoint' });
  if (tokens === 0) return lastErr;
  if (cannotContinue.length > 0) {
    const why = kind === 'chat'
      ? `a chat reply can only move to a target that continues an assistant message (an endpoint with continueAssistant: true), and ${cannotContinue.join(', ')} cannot`
      : `${cannotContinue.join(', ')} cannot continue it`;
    return new FridayError(lastErr.code, `${lastErr.message} The stream stopped after ${tokens} tokens: ${why}.`, { ...lastErr.details, tokens, failover: 'unsupported' }, { cause: lastErr });
  }
  return new FridayError(lastErr.code, `${lastErr.message} The stream stopped after ${tokens} tokens and no other target could continue it.`, { ...lastErr.details, tokens, failover: 'exhausted' }, { cause: lastErr });
}
