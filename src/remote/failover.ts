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
// After a failover the router owns the text: when the tokenizer and the ids are known it decodes
// the ids itself (replaying the first target's tokens, so text held back at the failover point — an
// incomplete UTF-8 character, a possible stop-string prefix — is neither lost nor repeated), and it
// applies the stop strings itself (continuations are sent without `stop`, so a stop string spanning
// the failover point is still found). Without a tokenizer the next target's text is used and held
// text at the failover point may be lost (documented limitation).
//
// Usage adds up: prompt_tokens of the original request, completion_tokens summed over targets.
import { abortedError, FridayError, throwIfAborted, toFridayError } from '../api/errors.js';
import type { ChatCompletionParams, FinalEvent, FinishReason, GenerateEvent, GenerateRequest, Usage } from '../api/types.js';
import { StopMatcher } from '../stream/stop.js';
import type { StreamingDecoder, Tokenizer } from '../tokenizer/index.js';
import type { ChunkKind, LegBatch, LegEvent, LegTokenEvent } from './chunks.js';
import { HandOffIterator, leadingTokens, type Anomaly, type Handoff, type LoopSource, type Resume } from './handoff.js';

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

const stopsOf = (s: string | string[] | undefined): string[] => (s === undefined || s === null ? [] : typeof s === 'string' ? [s] : s);

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

  /** The first target, asked for and opened outside the loop: no generator, none of its state. */
  first(): Promise<Handoff> {
    const { opts } = this;
    opts.onStart?.();
    return this.firstTarget().catch((e: unknown) => {
      opts.onEnd?.();
      throw e;
    });
  }

  private async firstTarget(): Promise<Handoff> {
    const { req, opts } = this;
    throwIfAborted(opts.signal);
    const target = await this.next({ kind: req.kind, tokens: 0, error: undefined, failed: undefined });
    if (!target) throw exhausted(req.kind, undefined, 0, []);
    return { target, it: target.open(req, opts.signal)[Symbol.asyncIterator](), books: { ids: [], emitted: '', count: 0 } };
  }

  loop(resume: Resume): AsyncGenerator<LegBatch, Handoff | undefined> {
    return failoverLoop(this.req, this.next, this.opts, resume);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return new HandOffIterator<T>(this, this.events);
  }
}

/**
 * The failover loop, started from a handoff that went wrong (`from`: the target, its iterator,
 * the books, what happened). It returns a Handoff (and ends) when it opens a target that serves
 * the request as it was asked; handoff.ts then runs that target and resumes the loop only if it
 * must.
 */
async function* failoverLoop(req: LegRequest, next: NextTarget, opts: FailoverOptions, from: Resume): AsyncGenerator<LegBatch, Handoff | undefined> {
  const { signal, tokenizer } = opts;
  const kind = req.kind;
  const stops = stopsOf(kind === 'chat' ? req.chat!.stop : req.gen!.stop);
  const maxTokens = kind === 'chat' ? req.chat!.max_tokens : req.gen!.max_tokens;
  // What was delivered so far (the handoff kept these books while it ran).
  const ids = from.books.ids;
  let emitted = from.books.emitted;
  let count = from.books.count;
  let continued = false;
  let matcher: StopMatcher | undefined;
  let decoder: StreamingDecoder | undefined;
  let failedTokens = 0;
  let lastErr: FridayError | undefined;
  let failed: FailoverTarget | undefined;
  const cannotContinue: string[] = [];

  let promptIdsMemo: number[] | null | undefined;
  const promptIds = (): number[] | undefined => {
    if (promptIdsMemo === undefined) {
      const p = kind === 'completion' ? req.gen!.prompt : undefined;
      promptIdsMemo = Array.isArray(p) ? p : typeof p === 'string' && tokenizer ? tokenizer.encode(p, { addSpecial: true }) : null;
    }
    return promptIdsMemo ?? undefined;
  };
  const idsKnown = () => ids.every((t) => t >= 0);
  const newDecoder = (): StreamingDecoder => {
    const p = kind === 'completion' ? promptIds() : undefined;
    const atStart = !!p && p.length === (tokenizer!.addBos ? 1 : 0) && p[0] === tokenizer!.bosId;
    return tokenizer!.createDecoder({ atStart, skipSpecial: true });
  };
  /** Everything generated so far as text, held-back text included (for text continuations). */
  const fullText = (): string => {
    if (!tokenizer || !idsKnown()) return emitted;
    const d = newDecoder();
    const m = new StopMatcher(stops);
    let s = '';
    for (const id of ids) s += m.push(d.push(id)).emit;
    return s + m.flush() + d.flush();
  };
  /** From the first failover on, the router decodes (if it can) and applies stop strings. */
  const takeOverText = () => {
    if (matcher) return;
    matcher = new StopMatcher(stops);
    if (tokenizer && idsKnown()) {
      const d = newDecoder();
      let replay = '';
      for (const id of ids) replay += matcher.push(d.push(id)).emit;
      if (replay === emitted) decoder = d;
      else matcher = new StopMatcher(stops); // the target's text differs from our decoding: trust its text
    }
  };
  const usageAfterFailover = (legUsage: Usage | undefined, completion: number): Usage => {
    const p = promptIds()?.length ?? Math.max(0, (legUsage?.prompt_tokens ?? failedTokens) - failedTokens);
    return { prompt_tokens: p, completion_tokens: completion, total_tokens: p + completion };
  };
  const finalEvent = (text: string, finish: FinishReason, completion: number, servedBy: string, legUsage?: Usage): FinalEvent => {
    const p = promptIds();
    return { done: true, text, index: completion, finish_reason: finish, usage: usageAfterFailover(legUsage, completion), served_by: servedBy, ...(p ? { prompt_tokens: p } : {}) };
  };

  let handedOff = false;
  let resume: Resume | undefined = from;
  try {
    for (;;) {
      let target: FailoverTarget | undefined;
      let it: AsyncIterator<LegEvent | LegBatch>;
      let anomaly: Anomaly | undefined;
      if (resume) {
        // Back from a handoff: go on as if this loop had been reading that target all along.
        ({ target, it, anomaly } = resume);
        resume = undefined;
      } else {
        if (signal?.aborted) throw abortedError();
        target = await next({ kind, tokens: count, error: lastErr, failed });
        if (!target) throw exhausted(kind, lastErr, count, cannotContinue);
        let legReq: LegRequest = req;
        if (count > 0) {
          if (!target.canContinue(kind)) {
            cannotContinue.push(target.name);
            failed = target;
            continue;
          }
          takeOverText();
          const remaining = maxTokens === undefined || maxTokens === null ? undefined : maxTokens - count;
          if (remaining !== undefined && remaining <= 0) {
            // Everything was generated; only the end of the stream was lost.
            const tail = decoder ? matcher!.flush() + decoder.flush() : matcher!.flush();
            yield [finalEvent(tail, 'length', count, failed?.name ?? target.name)];
            return;
          }
          const built = continuation(req, ids, idsKnown(), promptIds(), fullText, tokenizer, remaining);
          if (built instanceof FridayError) throw new FridayError(lastErr?.code ?? built.code, `${lastErr ? lastErr.message + ' ' : ''}${built.message}`, { ...lastErr?.details, tokens: count, failover: 'impossible' });
          legReq = built;
          continued = true;
          failedTokens = count;
        }

        // The target gets the caller's signal; leaving the loop early (a stop string, the consumer
        // gone) ends it through its iterator's return(), as for-await does.
        it = target.open(legReq, signal)[Symbol.asyncIterator]();
        if (!continued) {
          // Asked as the caller asked it: the target is handed off (handoff.ts) and this loop ends.
          handedOff = true;
          return { target, it, books: { ids, emitted, count } };
        }
      }
      try {
        if (anomaly && 'error' in anomaly) throw anomaly.error;
        const pending = anomaly && 'batch' in anomaly ? anomaly.batch : undefined;
        for await (const item of prepend(pending, it)) { // { ended } leaves `it` done: straight to the error below
          const batch = Array.isArray(item) ? item : [item];
          if (!matcher && leadingTokens(batch, count) === batch.length) {
            // Tokens only, numbered as ours (a first target resumed after a handoff): the batch as it is.
            for (const ev of batch) { ids.push((ev as LegTokenEvent).token); emitted += ev.text; }
            count += batch.length;
            yield batch;
            continue;
          }
          const out: LegBatch = [];
          for (const ev of batch) {
            if (!ev.done) {
              if (!matcher) {
                ids.push(ev.token);
                emitted += ev.text;
                out.push(ev.index === count ? (count++, ev) : { ...ev, index: count++ });
                continue;
              }
              let piece: string;
              if (decoder && ev.token >= 0) piece = decoder.push(ev.token);
              else {
                if (decoder) { piece = decoder.flush() + ev.text; decoder = undefined; } // ids stopped coming: use the target's text
                else piece = ev.text;
              }
              const r = matcher.push(piece);
              ids.push(ev.token);
              count++;
              if (r.stopped) {
                await it.return?.(); // the target does not know our stop strings: stop it now
                out.push(finalEvent(r.emit, 'stop', count, target.name));
                yield out;
                return;
              }
              emitted += r.emit;
              out.push({ ...ev, text: r.emit, index: count - 1 });
              continue;
            }
            if (!continued) {
              out.push(ev);
              yield out;
              return;
            }
            const extra = decoder ? decoder.flush() : ev.text;
            const r = matcher!.push(extra);
            const completion = Math.max(count, failedTokens + ev.index);
            out.push(r.stopped
              ? finalEvent(r.emit, 'stop', completion, ev.served_by, ev.usage)
              : finalEvent(r.emit + matcher!.flush(), ev.finish_reason, completion, ev.served_by, ev.usage));
            yield out;
            return;
          }
          if (out.length > 0) yield out;
        }
        throw new FridayError('REMOTE_PROTOCOL', `"${target.name}" ended the stream without a final event.`, { kind: 'protocol', endpoint: target.name });
      } catch (e) {
        const err = toFridayError(e);
        if (signal?.aborted) throw err.code === 'ABORTED' ? err : abortedError('request', err);
        if (!shouldFailOver(err)) throw err;
        lastErr = err;
        failed = target;
        opts.onFailover?.({ from: target.name, tokens: count, error: err });
      }
    }
  } finally {
    if (!handedOff) opts.onEnd?.(); // after a handoff, the stream's end is handoff.ts's to report
  }
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

function continuation(
  req: LegRequest, ids: number[], idsKnown: boolean, promptIds: number[] | undefined, fullText: () => string,
  tokenizer: Tokenizer | undefined, remaining: number | undefined,
): LegRequest | FridayError {
  if (req.kind === 'chat') {
    const chat = req.chat!;
    const text = fullText();
    const msgs = chat.messages.slice();
    const last = msgs[msgs.length - 1];
    if (req.continueFinal && last?.role === 'assistant') msgs[msgs.length - 1] = { ...last, content: last.content + text };
    else msgs.push({ role: 'assistant', content: text });
    return { ...req, chat: { ...chat, messages: msgs, max_tokens: remaining, stop: undefined }, continueFinal: true };
  }
  const gen = req.gen!;
  let prompt: string | number[];
  if (promptIds && idsKnown) prompt = [...promptIds, ...ids];
  else if (typeof gen.prompt === 'string') prompt = gen.prompt + fullText();
  else if (tokenizer) prompt = [...gen.prompt, ...tokenizer.encode(fullText(), { addSpecial: false })];
  else return new FridayError('REMOTE_PROTOCOL', 'Cannot continue the stream elsewhere: the prompt is token ids but the generated tokens\' ids are unknown (the server returned no token ids) and no tokenizer is known.');
  return { ...req, gen: { ...gen, prompt, max_tokens: remaining, stop: undefined } };
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
