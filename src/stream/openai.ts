// OpenAI-shaped `chat.completions.create` and `completions.create` over any engine's generate():
// the local, worker and router engines share this; only the prompt rendering differs.
import { FridayError } from '../api/errors.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionParams, ChoiceLogprobs, Completion, CompletionChunk,
  CompletionParams, FinalEvent, GenerateEvent, GenerateRequest, GenerationStream, RequestOptions, TokenEvent,
} from '../api/types.js';

type Generate = (req: GenerateRequest, opts?: RequestOptions) => GenerationStream;
type ChatPrompt = (messages: ChatCompletionParams['messages'], opts?: ChatPromptOptions) => string | number[];
export interface ChatPromptOptions { addGenerationPrompt?: boolean; continueFinal?: boolean }

const enc = new TextEncoder();

/** Checks OpenAI parameters and maps them to a GenerateRequest. Throws INVALID_REQUEST naming the field. */
export function toGenerateRequest(p: Omit<CompletionParams, 'prompt'>, prompt: string | number[]): GenerateRequest {
  const bad = (field: string, why: string) => new FridayError('INVALID_REQUEST', `\`${field}\` ${why}.`, { param: field });
  const num = (field: string, v: unknown, lo: number, hi: number, int = false) => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) throw bad(field, `must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}]`);
    return v;
  };
  if (p.n !== undefined && p.n !== 1) throw bad('n', 'must be 1 (only one choice per request is supported)');
  const stop = p.stop === undefined || p.stop === null ? undefined : typeof p.stop === 'string' ? [p.stop] : p.stop;
  if (stop && (!Array.isArray(stop) || stop.length > 4 || stop.some((s) => typeof s !== 'string'))) throw bad('stop', 'must be a string or an array of at most 4 strings');
  const topLogprobs = num('top_logprobs', p.top_logprobs, 0, 5, true);
  return {
    prompt,
    max_tokens: num('max_tokens', p.max_tokens, 1, 1 << 20, true),
    temperature: num('temperature', p.temperature, 0, 2) ?? 1,
    top_p: num('top_p', p.top_p, 0, 1),
    top_k: num('top_k', p.top_k, 0, 1 << 20, true),
    min_p: num('min_p', p.min_p, 0, 1),
    repeat_penalty: num('repeat_penalty', p.repeat_penalty, 0, 10),
    seed: num('seed', p.seed, -(2 ** 53), 2 ** 53, true),
    stop,
    logprobs: p.logprobs === true || topLogprobs !== undefined,
    top_logprobs: topLogprobs,
  };
}

function logprobsOf(ev: TokenEvent, decode: (id: number) => string): ChoiceLogprobs['content'][number] | undefined {
  if (ev.logprob === undefined) return undefined;
  const text = decode(ev.token);
  return {
    token: text, logprob: ev.logprob, bytes: [...enc.encode(text)],
    top_logprobs: (ev.top_logprobs ?? []).map((t) => ({ token: t.text, logprob: t.logprob, bytes: [...enc.encode(t.text)] })),
  };
}

const finishOf = (f: FinalEvent) => (f.finish_reason === 'length' || f.finish_reason === 'context' ? 'length' : 'stop') as 'stop' | 'length';

/** Drains a stream into text, ids, logprobs and the final event. */
async function collect(stream: AsyncIterable<GenerateEvent>, decode: (id: number) => string) {
  let text = '';
  const ids: number[] = [];
  const lps: ChoiceLogprobs['content'] = [];
  for await (const ev of stream) {
    text += ev.text;
    if (ev.done) return { text, ids, logprobs: lps.length ? { content: lps } : null, final: ev };
    ids.push(ev.token);
    const lp = logprobsOf(ev, decode);
    if (lp) lps.push(lp);
  }
  throw new FridayError('INTERNAL', 'generation stream ended without a final event');
}

export interface FacadeDeps {
  generate: Generate;
  chatPrompt: ChatPrompt;
  modelName: () => string;
  decodeToken: (id: number) => string;
}

export function openaiFacade(d: FacadeDeps) {
  const meta = () => ({ id: `cmpl-${Math.random().toString(36).slice(2, 14)}`, created: Math.floor(Date.now() / 1000), model: d.modelName() });

  async function chatCreate(p: ChatCompletionParams & { stream: true }, o?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
  async function chatCreate(p: ChatCompletionParams & { stream?: false }, o?: RequestOptions): Promise<ChatCompletion>;
  async function chatCreate(p: ChatCompletionParams, o?: RequestOptions): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const req = toGenerateRequest(p, d.chatPrompt(p.messages, { addGenerationPrompt: p.add_generation_prompt, continueFinal: p.continue_final_message }));
    const stream = d.generate(req, o);
    const m = meta();
    if (p.stream) return chatChunks(stream, m, p, d.decodeToken);
    const r = await collect(stream, d.decodeToken);
    return {
      ...m, object: 'chat.completion', served_by: r.final.served_by, usage: r.final.usage,
      choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: finishOf(r.final), logprobs: r.logprobs, ...(p.return_token_ids ? { token_ids: r.ids } : {}) }],
      ...(p.return_token_ids ? { prompt_token_ids: r.final.prompt_tokens ?? [] } : {}),
    };
  }

  async function completionCreate(p: CompletionParams & { stream: true }, o?: RequestOptions): Promise<AsyncIterable<CompletionChunk>>;
  async function completionCreate(p: CompletionParams & { stream?: false }, o?: RequestOptions): Promise<Completion>;
  async function completionCreate(p: CompletionParams, o?: RequestOptions): Promise<Completion | AsyncIterable<CompletionChunk>> {
    if (typeof p.prompt !== 'string' && !(Array.isArray(p.prompt) && p.prompt.every((x) => Number.isInteger(x)))) {
      throw new FridayError('INVALID_REQUEST', '`prompt` must be a string or an array of token ids.', { param: 'prompt' });
    }
    const stream = d.generate(toGenerateRequest(p, p.prompt), o);
    const m = meta();
    if (p.stream) return completionChunks(stream, m, p, d.decodeToken);
    const r = await collect(stream, d.decodeToken);
    return {
      ...m, object: 'text_completion', served_by: r.final.served_by, usage: r.final.usage,
      choices: [{ index: 0, text: r.text, finish_reason: finishOf(r.final), logprobs: r.logprobs, ...(p.return_token_ids ? { token_ids: r.ids } : {}) }],
      ...(p.return_token_ids ? { prompt_token_ids: r.final.prompt_tokens ?? [] } : {}),
    };
  }

  return { chat: { completions: { create: chatCreate } }, completions: { create: completionCreate } };
}

type Meta = { id: string; created: number; model: string };

async function* chatChunks(stream: GenerationStream, m: Meta, p: ChatCompletionParams, decode: (id: number) => string): AsyncGenerator<ChatCompletionChunk> {
  yield { ...m, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] };
  for await (const ev of stream) {
    if (ev.done) {
      yield { ...m, object: 'chat.completion.chunk', served_by: ev.served_by, choices: [{ index: 0, delta: ev.text ? { content: ev.text } : {}, finish_reason: finishOf(ev) }] };
      if (p.stream_options?.include_usage) yield { ...m, object: 'chat.completion.chunk', choices: [], usage: ev.usage, served_by: ev.served_by };
      return;
    }
    const lp = logprobsOf(ev, decode);
    yield {
      ...m, object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { content: ev.text }, finish_reason: null, ...(lp ? { logprobs: { content: [lp] } } : {}), ...(p.return_token_ids ? { token_ids: [ev.token] } : {}) }],
    };
  }
}

async function* completionChunks(stream: GenerationStream, m: Meta, p: CompletionParams, decode: (id: number) => string): AsyncGenerator<CompletionChunk> {
  for await (const ev of stream) {
    if (ev.done) {
      yield { ...m, object: 'text_completion', served_by: ev.served_by, choices: [{ index: 0, text: ev.text, finish_reason: finishOf(ev) }] };
      if (p.stream_options?.include_usage) yield { ...m, object: 'text_completion', choices: [], usage: ev.usage, served_by: ev.served_by };
      return;
    }
    const lp = logprobsOf(ev, decode);
    yield {
      ...m, object: 'text_completion',
      choices: [{ index: 0, text: ev.text, finish_reason: null, ...(lp ? { logprobs: { content: [lp] } } : {}), ...(p.return_token_ids ? { token_ids: [ev.token] } : {}) }],
    };
  }
}
