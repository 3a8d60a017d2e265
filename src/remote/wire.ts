// What goes on the wire to an OpenAI-compatible endpoint: request bodies, and the checks on what
// callers and servers hand us.
import { FridayError } from '../api/errors.js';
import type { ChatCompletionParams, CompletionParams, GenerateRequest } from '../api/types.js';
import { toGenerateRequest } from '../stream/openai.js';
import type { Endpoint } from './endpoint.js';
import { remoteError } from './errors.js';
import type { LegRequest } from './failover.js';

/** The request body. Undefined fields are left in: JSON.stringify omits them. */
export function requestBody(ep: Endpoint, leg: LegRequest, stream: boolean, defaultModel: string | undefined): Record<string, unknown> {
  const wantIds = stream ? ep.returnTokenIds : ep.returnTokenIds && leg.raw?.return_token_ids === true;
  if (leg.kind === 'chat') {
    const streamFields = stream ? { stream: true, stream_options: STREAM_OPTIONS } : { stream: false };
    const { stream: _s, stream_options: _o, return_token_ids: rti, ...rest } = leg.chat!;
    return {
      ...rest, model: ep.model ?? rest.model ?? defaultModel, ...streamFields,
      return_token_ids: stream ? (wantIds ? true : undefined) : ep.returnTokenIds && rti ? true : undefined,
      ...(leg.continueFinal ? { continue_final_message: true, add_generation_prompt: false } : {}),
    } as Record<string, unknown>;
  }
  // One literal of fixed shape (no spreads: this runs for every request), then the caller's extra
  // OpenAI fields; ours win, and the stream fields are always ours.
  const g = leg.gen!, raw = leg.raw;
  const body: Record<string, unknown> = {
    model: ep.model ?? (raw?.model as string | undefined) ?? defaultModel, prompt: g.prompt, max_tokens: g.max_tokens,
    temperature: g.temperature ?? 0, top_p: g.top_p, top_k: g.top_k, min_p: g.min_p, repeat_penalty: g.repeat_penalty, seed: g.seed,
    stop: g.stop, logprobs: g.logprobs || g.top_logprobs ? true : undefined, top_logprobs: g.top_logprobs,
    stream, stream_options: stream ? STREAM_OPTIONS : undefined, return_token_ids: wantIds ? true : undefined,
  };
  if (raw) for (const k of Object.keys(raw)) if (!(k in body)) body[k] = raw[k];
  return body;
}

const STREAM_OPTIONS = Object.freeze({ include_usage: true });

export function tryJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

export function parseJson(s: string, endpoint: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    throw remoteError('REMOTE_PROTOCOL', 'protocol', `Remote endpoint "${endpoint}" sent data that is not JSON: ${JSON.stringify(s.slice(0, 80))}.`, { endpoint });
  }
}

export function validateCompletion(p: CompletionParams): GenerateRequest {
  if (typeof p.prompt !== 'string' && !(Array.isArray(p.prompt) && p.prompt.every((x) => Number.isInteger(x)))) {
    throw new FridayError('INVALID_REQUEST', '`prompt` must be a string or an array of token ids.', { param: 'prompt' });
  }
  return toGenerateRequest(p, p.prompt);
}

export function validateChat(p: ChatCompletionParams): GenerateRequest {
  if (!Array.isArray(p.messages) || p.messages.some((m) => typeof m !== 'object' || m === null || typeof m.role !== 'string' || typeof m.content !== 'string')) {
    throw new FridayError('INVALID_REQUEST', '`messages` must be an array of {role, content} with string content.', { param: 'messages' });
  }
  return toGenerateRequest(p, '');
}
