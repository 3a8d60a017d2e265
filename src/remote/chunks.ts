// OpenAI-shaped chunks <-> Friday events. Incoming: completion or chat chunks (from SSE, or from a
// local engine's chunk stream) become TokenEvents and one FinalEvent. Outgoing: events become
// CompletionChunk / ChatCompletionChunk streams or whole Completion / ChatCompletion objects.
//
// Token ids come from vLLM's `return_token_ids` (`choices[0].token_ids`), which Friday's server
// also implements. A server that does not return ids yields one TokenEvent per non-empty chunk with
// `token: -1`; the final event's `index`/usage then come from the server's `usage`.
import { FridayError } from '../api/errors.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionParams, ChoiceLogprobs, Completion, CompletionChunk,
  CompletionParams, FinalEvent, FinishReason, GenerateEvent, GenerationStream, TokenEvent, Usage,
} from '../api/types.js';
import { iteratorToReadableStream } from '../stream/readable.js';
import { errorFromStreamEvent, remoteError } from './errors.js';

export type LogprobEntry = ChoiceLogprobs['content'][number];
/** A TokenEvent that may carry the server's logprob entry verbatim (token text included). */
export type LegTokenEvent = TokenEvent & { lp?: LogprobEntry };
export type LegEvent = LegTokenEvent | FinalEvent;
/**
 * Events travel between the remote layers in batches: all the events one network read (or one
 * local step) produced, in order, never empty, a final event only last: one await per batch per
 * layer instead of one per event. It pays when a read carries several events (a server that
 * writes in bursts, a consumer slower than the server); with one event per read it is the same.
 */
export type LegBatch = LegEvent[];
export type ChunkKind = 'completion' | 'chat';

const enc = new TextEncoder();
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
function isIds(x: unknown): x is number[] {
  if (!Array.isArray(x)) return false;
  for (const v of x) if (!Number.isInteger(v)) return false;
  return true;
}

function protocol(endpoint: string, what: string): FridayError {
  return remoteError('REMOTE_PROTOCOL', 'protocol', `Remote endpoint "${endpoint}" sent a malformed response: ${what}.`, { endpoint });
}

function usageOf(u: unknown): Usage | undefined {
  if (!isObj(u)) return undefined;
  const p = Number(u.prompt_tokens ?? 0), c = Number(u.completion_tokens ?? 0);
  if (!Number.isFinite(p) || !Number.isFinite(c)) return undefined;
  const cached = isObj(u.prompt_tokens_details) ? Number(u.prompt_tokens_details.cached_tokens) : Number(u.cached_tokens);
  return { prompt_tokens: p, completion_tokens: c, total_tokens: Number(u.total_tokens ?? p + c), ...(Number.isFinite(cached) ? { cached_tokens: cached } : {}) };
}

export function mapFinish(f: unknown): FinishReason {
  return f === 'length' ? 'length' : f === 'abort' ? 'abort' : f === 'context' ? 'context' : 'stop';
}

/** Chat-style (`{content: [...]}`) or legacy completions-style (`{tokens, token_logprobs, top_logprobs}`) logprobs. */
const NO_LOGPROBS: readonly LogprobEntry[] = [];

function logprobsOf(lp: unknown): readonly LogprobEntry[] {
  if (!isObj(lp)) return NO_LOGPROBS;
  if (Array.isArray(lp.content)) {
    return lp.content.filter(isObj).map((e) => ({
      token: String(e.token ?? ''), logprob: Number(e.logprob), bytes: Array.isArray(e.bytes) ? (e.bytes as number[]) : [...enc.encode(String(e.token ?? ''))],
      top_logprobs: (Array.isArray(e.top_logprobs) ? e.top_logprobs : []).filter(isObj).map((t) => ({
        token: String(t.token ?? ''), logprob: Number(t.logprob), bytes: Array.isArray(t.bytes) ? (t.bytes as number[]) : [...enc.encode(String(t.token ?? ''))],
      })),
    }));
  }
  if (Array.isArray(lp.tokens)) {
    const lps = Array.isArray(lp.token_logprobs) ? lp.token_logprobs : [];
    const tops = Array.isArray(lp.top_logprobs) ? lp.top_logprobs : [];
    return (lp.tokens as unknown[]).map((t, i) => ({
      token: String(t), logprob: Number(lps[i]), bytes: [...enc.encode(String(t))],
      top_logprobs: isObj(tops[i]) ? Object.entries(tops[i] as Record<string, number>).map(([k, v]) => ({ token: k, logprob: Number(v), bytes: [...enc.encode(k)] })) : [],
    }));
  }
  return [];
}

function tokenEvent(token: number, text: string, index: number, lp: LogprobEntry | undefined): LegTokenEvent {
  const ev: LegTokenEvent = { done: false, token, text, index };
  if (lp && Number.isFinite(lp.logprob)) {
    ev.logprob = lp.logprob;
    ev.top_logprobs = lp.top_logprobs.map((t) => ({ token: -1, text: t.token, logprob: t.logprob }));
    ev.lp = lp;
  }
  return ev;
}

/** Shared and never written: push() returns it when a chunk carries no token. */
const NO_EVENTS: LegTokenEvent[] = [];

/**
 * What one network read produced so far: nothing, one event (most reads: no array for it), or a
 * batch of several.
 */
export type ReadEvents = LegEvent | LegEvent[] | undefined;

/** Appends to a read's events; an array is made for the second one, as a literal (`[]` and push() would reserve 17 slots). */
function add(got: ReadEvents, ev: LegEvent): LegEvent | LegEvent[] {
  if (!got) return ev;
  if (!Array.isArray(got)) return [got, ev];
  got.push(ev);
  return got;
}

const asBatch = (got: ReadEvents): LegEvent[] => (!got ? [] : Array.isArray(got) ? got : [got]);

/** Turns one response's chunks into events. One decoder per HTTP response / chunk stream. */
export class ChunkDecoder {
  private count = 0;
  private finish: unknown;
  private usage: Usage | undefined;
  private promptIds: number[] | undefined;
  private pending = '';
  private tail = '';
  /** `model` of the first chunk that named one. */
  model: string | undefined;

  constructor(readonly kind: ChunkKind, readonly servedBy: string, private readonly legPromptIds?: number[]) {}

  get tokens(): number {
    return this.count;
  }

  get finished(): boolean {
    return this.finish !== undefined && this.finish !== null;
  }

  /** One parsed chunk's token events. Throws on an error object or a malformed chunk. */
  push(obj: unknown): LegTokenEvent[] {
    const got = this.pushInto(obj, undefined);
    return got ? (asBatch(got) as LegTokenEvent[]) : NO_EVENTS;
  }

  /**
   * One parsed chunk: its token events added to `batch`, the events of the network read so far
   * (see ReadEvents). Returns them.
   */
  pushInto(obj: unknown, batch: ReadEvents): ReadEvents {
    if (!isObj(obj)) throw protocol(this.servedBy, 'a chunk is not a JSON object');
    if (obj.error !== undefined && obj.error !== null) throw errorFromStreamEvent(obj, this.servedBy);
    if (typeof obj.model === 'string') this.model ??= obj.model;
    const u = usageOf(obj.usage);
    if (u) this.usage = u;
    if (isIds(obj.prompt_token_ids)) this.promptIds = obj.prompt_token_ids;
    if (!Array.isArray(obj.choices)) {
      if (u) return batch;
      throw protocol(this.servedBy, 'a chunk has no `choices`');
    }
    let choice: Record<string, unknown> | undefined;
    for (const c of obj.choices as unknown[]) if (isObj(c) && (c.index ?? 0) === 0) { choice = c; break; }
    if (!choice) return batch;
    if (isIds(choice.prompt_token_ids)) this.promptIds = choice.prompt_token_ids;
    let text: unknown;
    if (this.kind === 'chat') {
      const delta = choice.delta ?? choice.message;
      if (delta !== undefined && !isObj(delta)) throw protocol(this.servedBy, '`delta` is not an object');
      text = delta?.content ?? '';
    } else {
      text = choice.text ?? '';
    }
    if (typeof text !== 'string') throw protocol(this.servedBy, 'chunk text is not a string');
    const ids = isIds(choice.token_ids) ? choice.token_ids : undefined;
    if (choice.token_ids !== undefined && choice.token_ids !== null && !ids) throw protocol(this.servedBy, '`token_ids` is not an array of integers');
    const lps = logprobsOf(choice.logprobs);
    const finish = choice.finish_reason;
    if (ids && ids.length > 0) {
      const last = ids.length - 1;
      for (let k = 0; k <= last; k++) batch = add(batch, tokenEvent(ids[k]!, k === last ? this.pending + text : '', this.count++, lps[k]));
      this.pending = '';
    } else if (ids) {
      this.pending += text; // text with no token (yet): released with the next token or at the end
    } else if (finish !== undefined && finish !== null) {
      this.tail += this.pending + text;
      this.pending = '';
    } else if (text !== '') {
      batch = add(batch, tokenEvent(-1, this.pending + text, this.count++, lps[0]));
      this.pending = '';
    }
    if (finish !== undefined && finish !== null) this.finish = finish;
    return batch;
  }

  /** The final event, at [DONE] or end of body. Throws if the stream never finished. */
  final(sawDone: boolean): FinalEvent {
    if (!this.finished) {
      if (!sawDone) throw remoteError('REMOTE_UNAVAILABLE', 'dropped', `Remote endpoint "${this.servedBy}": the stream ended before a finish_reason.`, { endpoint: this.servedBy });
      this.finish = 'stop';
    }
    const promptIds = this.promptIds ?? this.legPromptIds;
    const usage = this.usage ?? { prompt_tokens: promptIds?.length ?? 0, completion_tokens: this.count, total_tokens: (promptIds?.length ?? 0) + this.count };
    return {
      done: true, text: this.tail + this.pending, index: this.usage ? Math.max(this.usage.completion_tokens, this.count) : this.count,
      finish_reason: mapFinish(this.finish), usage, served_by: this.servedBy, ...(promptIds ? { prompt_tokens: promptIds } : {}),
    };
  }

  /** A whole (non-streamed) response body: its events, final included. */
  fromResponse(obj: unknown): LegEvent[] {
    if (!isObj(obj) || !Array.isArray(obj.choices)) throw protocol(this.servedBy, 'the response has no `choices`');
    const choice = (obj.choices as unknown[]).find(isObj);
    if (!choice) throw protocol(this.servedBy, 'the response has no choice');
    const msg = choice.message;
    const text = this.kind === 'chat' ? (isObj(msg) ? msg.content ?? '' : '') : choice.text ?? '';
    const chunk = {
      ...obj,
      choices: [{ index: 0, ...(this.kind === 'chat' ? { delta: { content: text } } : { text }), token_ids: choice.token_ids, logprobs: choice.logprobs, finish_reason: null }],
    };
    const events = asBatch(this.pushInto(chunk, undefined));
    this.finish = choice.finish_reason ?? 'stop';
    events.push(this.final(true));
    return events;
  }
}

/** Event batches from a chunk stream (e.g. a local engine's `chat.completions.create({stream: true})`). */
export async function* eventsFromChunks(chunks: AsyncIterable<unknown>, kind: ChunkKind, servedBy: string): AsyncGenerator<LegBatch> {
  const d = new ChunkDecoder(kind, servedBy);
  let served = servedBy;
  for await (const c of chunks) {
    if (isObj(c) && typeof c.served_by === 'string') served = c.served_by;
    const evs = d.push(c);
    if (evs.length > 0) yield evs;
  }
  yield [{ ...d.final(true), served_by: served }];
}

/** Single events as one-event batches (a GenerationStream into the chunk builders below). */
export async function* batched(events: AsyncIterable<GenerateEvent>): AsyncGenerator<LegBatch> {
  for await (const ev of events) yield [ev];
}

// ---------------------------------------------------------------- outgoing

export interface ChunkMeta { id: string; created: number; model: string }

export function newMeta(kind: ChunkKind, model: string): ChunkMeta {
  return { id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${Math.random().toString(36).slice(2, 14)}`, created: Math.floor(Date.now() / 1000), model };
}

const apiFinish = (f: FinalEvent) => (f.finish_reason === 'length' || f.finish_reason === 'context' ? 'length' : 'stop') as 'stop' | 'length';

function entryOf(ev: LegTokenEvent, decode?: (id: number) => string): LogprobEntry | undefined {
  if (ev.lp) return ev.lp;
  if (ev.logprob === undefined) return undefined;
  const text = ev.token >= 0 && decode ? decode(ev.token) : ev.text;
  return {
    token: text, logprob: ev.logprob, bytes: [...enc.encode(text)],
    top_logprobs: (ev.top_logprobs ?? []).map((t) => ({ token: t.text, logprob: t.logprob, bytes: [...enc.encode(t.text)] })),
  };
}

export async function* completionChunks(batches: AsyncIterable<LegBatch>, m: ChunkMeta, p: CompletionParams, decode?: (id: number) => string): AsyncGenerator<CompletionChunk> {
  for await (const batch of batches) for (const ev of batch) {
    if (ev.done) {
      yield { ...m, object: 'text_completion', served_by: ev.served_by, choices: [{ index: 0, text: ev.text, finish_reason: apiFinish(ev) }] };
      if (p.stream_options?.include_usage) yield { ...m, object: 'text_completion', choices: [], usage: ev.usage, served_by: ev.served_by };
      return;
    }
    const lp = entryOf(ev, decode);
    yield {
      ...m, object: 'text_completion',
      choices: [{ index: 0, text: ev.text, finish_reason: null, ...(lp ? { logprobs: { content: [lp] } } : {}), ...(p.return_token_ids && ev.token >= 0 ? { token_ids: [ev.token] } : {}) }],
    };
  }
  throw new FridayError('INTERNAL', 'generation stream ended without a final event');
}

export async function* chatChunks(batches: AsyncIterable<LegBatch>, m: ChunkMeta, p: ChatCompletionParams, decode?: (id: number) => string): AsyncGenerator<ChatCompletionChunk> {
  let first = true;
  for await (const batch of batches) for (const ev of batch) {
    if (first) {
      first = false;
      yield { ...m, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] };
    }
    if (ev.done) {
      yield { ...m, object: 'chat.completion.chunk', served_by: ev.served_by, choices: [{ index: 0, delta: ev.text ? { content: ev.text } : {}, finish_reason: apiFinish(ev) }] };
      if (p.stream_options?.include_usage) yield { ...m, object: 'chat.completion.chunk', choices: [], usage: ev.usage, served_by: ev.served_by };
      return;
    }
    const lp = entryOf(ev, decode);
    yield {
      ...m, object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { content: ev.text }, finish_reason: null, ...(lp ? { logprobs: { content: [lp] } } : {}), ...(p.return_token_ids && ev.token >= 0 ? { token_ids: [ev.token] } : {}) }],
    };
  }
  throw new FridayError('INTERNAL', 'generation stream ended without a final event');
}

async function drain(batches: AsyncIterable<LegBatch>, decode?: (id: number) => string) {
  let text = '';
  const ids: number[] = [];
  const lps: LogprobEntry[] = [];
  for await (const batch of batches) for (const ev of batch) {
    text += ev.text;
    if (ev.done) return { text, ids, logprobs: lps.length ? { content: lps } : null, final: ev };
    if (ev.token >= 0) ids.push(ev.token);
    const lp = entryOf(ev, decode);
    if (lp) lps.push(lp);
  }
  throw new FridayError('INTERNAL', 'generation stream ended without a final event');
}

export async function collectCompletion(batches: AsyncIterable<LegBatch>, m: ChunkMeta, p: CompletionParams, decode?: (id: number) => string): Promise<Completion> {
  const r = await drain(batches, decode);
  return {
    ...m, object: 'text_completion', served_by: r.final.served_by, usage: r.final.usage,
    choices: [{ index: 0, text: r.text, finish_reason: apiFinish(r.final), logprobs: r.logprobs, ...(p.return_token_ids ? { token_ids: r.ids } : {}) }],
    ...(p.return_token_ids ? { prompt_token_ids: r.final.prompt_tokens ?? [] } : {}),
  };
}

export async function collectChat(batches: AsyncIterable<LegBatch>, m: ChunkMeta, p: ChatCompletionParams, decode?: (id: number) => string): Promise<ChatCompletion> {
  const r = await drain(batches, decode);
  return {
    ...m, object: 'chat.completion', served_by: r.final.served_by, usage: r.final.usage,
    choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: apiFinish(r.final), logprobs: r.logprobs, ...(p.return_token_ids ? { token_ids: r.ids } : {}) }],
    ...(p.return_token_ids ? { prompt_token_ids: r.final.prompt_tokens ?? [] } : {}),
  };
}

/** A GenerationStream over an async iterable: consumable once, as for-await or a ReadableStream. */
export function generationStream(events: AsyncIterable<GenerateEvent>): GenerationStream {
  return new OnceStream(events);
}

// A class, not closures: a stream lives as long as its request, and at hundreds of streams in
// flight every object each one keeps is copied by every young-generation GC.
class OnceStream implements GenerationStream {
  private used = false;
  constructor(private readonly events: AsyncIterable<GenerateEvent>) {}

  [Symbol.asyncIterator](): AsyncIterator<GenerateEvent> {
    if (this.used) throw new FridayError('INVALID_REQUEST', 'This stream can only be consumed once.');
    this.used = true;
    return this.events[Symbol.asyncIterator]();
  }

  toReadableStream(): ReadableStream<GenerateEvent> {
    return iteratorToReadableStream(this[Symbol.asyncIterator]());
  }
}
