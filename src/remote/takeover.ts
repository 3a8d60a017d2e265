// What a failing-over stream has delivered, and the text it owns after its first failover.
//
// After a failover the router owns the text: when the tokenizer and the ids are known it decodes
// the ids itself (replaying the first target's tokens, so text held back at the failover point — an
// incomplete UTF-8 character, a possible stop-string prefix — is neither lost nor repeated), and it
// applies the stop strings itself (continuations are sent without `stop`, so a stop string spanning
// the failover point is still found). Without a tokenizer the next target's text is used and held
// text at the failover point may be lost (documented limitation).
//
// Usage adds up: prompt_tokens of the original request, completion_tokens summed over targets.
import { FridayError } from '../api/errors.js';
import type { FinalEvent, FinishReason, Usage } from '../api/types.js';
import { StopMatcher, stopList } from '../stream/stop.js';
import type { StreamingDecoder, Tokenizer } from '../tokenizer/index.js';
import type { LegBatch, LegTokenEvent } from './chunks.js';
import type { FailoverTarget, LegRequest } from './failover.js';
import { accept, type Books } from './handoff.js';

/** A continuation's verdicts besides a request: the target can't continue, or nothing is left to generate. */
export const CANNOT_CONTINUE = 'cannot-continue';
export const NOTHING_LEFT = 'nothing-left';

/** A target's batch as the consumer gets it. `stopped`: a stop string ended it (the target must be stopped). */
export interface Taken { out: LegBatch; ended?: boolean; stopped?: boolean }

export class Delivered implements Books {
  readonly ids: number[];
  emitted: string;
  count: number;
  /** A target was sent a continuation: from then on this stream rewrites every batch. */
  continued = false;
  /** Tokens delivered when the continuation was sent (the next target's usage counts from there). */
  private failedTokens = 0;
  private matcher: StopMatcher | undefined;
  private decoder: StreamingDecoder | undefined;
  private readonly stops: readonly string[];
  private promptIdsMemo: number[] | null | undefined;

  constructor(private readonly req: LegRequest, private readonly tokenizer: Tokenizer | undefined, books: Books) {
    this.ids = books.ids;
    this.emitted = books.emitted;
    this.count = books.count;
    this.stops = stopList(req.kind === 'chat' ? req.chat!.stop : req.gen!.stop);
  }

  /**
   * What `target` is asked, to go on from here: the continuation request, CANNOT_CONTINUE, or
   * NOTHING_LEFT (every token was generated: only the end was lost). Throws, citing `lastErr`, when
   * no continuation can be built.
   */
  continuationFor(target: FailoverTarget, lastErr: FridayError | undefined): LegRequest | typeof CANNOT_CONTINUE | typeof NOTHING_LEFT {
    const { req } = this;
    if (!target.canContinue(req.kind)) return CANNOT_CONTINUE;
    this.takeOverText();
    const maxTokens = req.kind === 'chat' ? req.chat!.max_tokens : req.gen!.max_tokens;
    const remaining = maxTokens === undefined || maxTokens === null ? undefined : maxTokens - this.count;
    if (remaining !== undefined && remaining <= 0) return NOTHING_LEFT;
    const built = continuation(req, this.ids, this.idsKnown(), this.promptIds(), () => this.fullText(), this.tokenizer, remaining);
    if (built instanceof FridayError) throw new FridayError(lastErr?.code ?? built.code, `${lastErr ? lastErr.message + ' ' : ''}${built.message}`, { ...lastErr?.details, tokens: this.count, failover: 'impossible' });
    this.continued = true;
    this.failedTokens = this.count;
    return built;
  }

  /** The final event when NOTHING_LEFT: the held-back text, finish_reason "length". */
  lengthEnd(servedBy: string): FinalEvent {
    const tail = this.decoder ? this.matcher!.flush() + this.decoder.flush() : this.matcher!.flush();
    return this.finalEvent(tail, 'length', this.count, servedBy);
  }

  /** A target's batch: its tokens recorded, and (after a failover) renumbered, decoded and stop-checked. */
  take(batch: LegBatch, targetName: string): Taken {
    if (!this.matcher) {
      // Numbered as ours (a first target resumed after a handoff): the batch as it is, booked as handoff.ts books it.
      const verdict = accept(this, batch);
      if (verdict !== 'no') return { out: batch, ended: verdict === 'final' };
    }
    const out: LegBatch = [];
    for (const ev of batch) {
      if (ev.done) {
        out.push(this.continued ? this.finalAfterFailover(ev) : ev);
        return { out, ended: true };
      }
      if (!this.matcher) {
        this.ids.push(ev.token);
        this.emitted += ev.text;
        out.push(ev.index === this.count ? (this.count++, ev) : { ...ev, index: this.count++ });
        continue;
      }
      const r = this.matcher.push(this.pieceOf(ev));
      this.ids.push(ev.token);
      this.count++;
      if (r.stopped) {
        out.push(this.finalEvent(r.emit, 'stop', this.count, targetName)); // the target does not know our stop strings
        return { out, ended: true, stopped: true };
      }
      this.emitted += r.emit;
      out.push({ ...ev, text: r.emit, index: this.count - 1 });
    }
    return { out };
  }

  /** A token's text: decoded by us while its id is known, else the target's. */
  private pieceOf(ev: LegTokenEvent): string {
    if (this.decoder && ev.token >= 0) return this.decoder.push(ev.token);
    if (!this.decoder) return ev.text;
    const piece = this.decoder.flush() + ev.text; // ids stopped coming: use the target's text
    this.decoder = undefined;
    return piece;
  }

  private finalAfterFailover(ev: FinalEvent): FinalEvent {
    const r = this.matcher!.push(this.decoder ? this.decoder.flush() : ev.text);
    const completion = Math.max(this.count, this.failedTokens + ev.index);
    return r.stopped
      ? this.finalEvent(r.emit, 'stop', completion, ev.served_by, ev.usage)
      : this.finalEvent(r.emit + this.matcher!.flush(), ev.finish_reason, completion, ev.served_by, ev.usage);
  }

  private promptIds(): number[] | undefined {
    if (this.promptIdsMemo === undefined) {
      const p = this.req.kind === 'completion' ? this.req.gen!.prompt : undefined;
      this.promptIdsMemo = Array.isArray(p) ? p : typeof p === 'string' && this.tokenizer ? this.tokenizer.encode(p, { addSpecial: true }) : null;
    }
    return this.promptIdsMemo ?? undefined;
  }

  private idsKnown(): boolean {
    return this.ids.every((t) => t >= 0);
  }

  private newDecoder(): StreamingDecoder {
    const tk = this.tokenizer!;
    const p = this.req.kind === 'completion' ? this.promptIds() : undefined;
    const atStart = !!p && p.length === (tk.addBos ? 1 : 0) && p[0] === tk.bosId;
    return tk.createDecoder({ atStart, skipSpecial: true });
  }

  /** The delivered ids through a fresh decoder and stop matcher: the text they emit, and both. */
  private replay(): { text: string; decoder: StreamingDecoder; matcher: StopMatcher } {
    const decoder = this.newDecoder();
    const matcher = new StopMatcher(this.stops);
    let text = '';
    for (const id of this.ids) text += matcher.push(decoder.push(id)).emit;
    return { text, decoder, matcher };
  }

  /** Everything generated so far as text, held-back text included (for text continuations). */
  private fullText(): string {
    if (!this.tokenizer || !this.idsKnown()) return this.emitted;
    const r = this.replay();
    return r.text + r.matcher.flush() + r.decoder.flush();
  }

  /** From the first failover on, the router decodes (if it can) and applies stop strings. */
  private takeOverText(): void {
    if (this.matcher) return;
    const r = this.tokenizer && this.idsKnown() ? this.replay() : undefined;
    if (r && r.text === this.emitted) {
      this.matcher = r.matcher;
      this.decoder = r.decoder;
    } else {
      this.matcher = new StopMatcher(this.stops); // no tokenizer, or its text differs from the target's: trust the target's text
    }
  }

  private usageAfterFailover(legUsage: Usage | undefined, completion: number): Usage {
    const p = this.promptIds()?.length ?? Math.max(0, (legUsage?.prompt_tokens ?? this.failedTokens) - this.failedTokens);
    return { prompt_tokens: p, completion_tokens: completion, total_tokens: p + completion };
  }

  private finalEvent(text: string, finish: FinishReason, completion: number, servedBy: string, legUsage?: Usage): FinalEvent {
    const p = this.promptIds();
    return { done: true, text, index: completion, finish_reason: finish, usage: this.usageAfterFailover(legUsage, completion), served_by: servedBy, ...(p ? { prompt_tokens: p } : {}) };
  }
}

/** The request that continues the stream on another target: the prompt (or chat) extended by what was generated. */
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
