// Argument validation for everything the renderer sends to main. The renderer is treated as
// untrusted: every value is type- and range-checked, and requests are rebuilt from known fields
// only (unknown fields are dropped, never forwarded).
import { FridayError } from '../../src/api/errors.js';
import type { ChatCompletionParams, ChatMessage, GenerateRequest } from '../../src/api/types.js';
import { LIMITS, type RemoteStartMessage } from './bridge-types.js';

const bad = (message: string, param?: string) => new FridayError('INVALID_REQUEST', message, param ? { param } : undefined);

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function handleArg(x: unknown): string {
  if (typeof x !== 'string' || !/^[a-f0-9]{32}$/.test(x)) throw bad('A model handle must be the string returned by openModelDialog.', 'handle');
  return x;
}

export function streamIdArg(x: unknown): string {
  if (typeof x !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(x)) throw bad('A stream id must be 1-64 characters of [A-Za-z0-9_-].', 'id');
  return x;
}

export function readArgs(handle: unknown, offset: unknown, length: unknown): { handle: string; offset: number; length: number } {
  const h = handleArg(handle);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw bad('offset must be a non-negative integer.', 'offset');
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 1 || length > LIMITS.maxReadBytes) {
    throw bad(`length must be an integer from 1 to ${LIMITS.maxReadBytes}.`, 'length');
  }
  return { handle: h, offset, length };
}

/** http(s) URLs only, without credentials (keys are main's business), at most LIMITS.maxEndpoints. */
export function endpointsArg(x: unknown): string[] {
  if (!Array.isArray(x) || x.length > LIMITS.maxEndpoints) throw bad(`endpoints must be an array of at most ${LIMITS.maxEndpoints} URLs.`, 'endpoints');
  return x.map((u) => {
    if (typeof u !== 'string' || u.length > 2048) throw bad('Each endpoint must be a URL string.', 'endpoints');
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw bad(`"${u.slice(0, 100)}" is not a URL.`, 'endpoints');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('Endpoints must be http: or https: URLs.', 'endpoints');
    if (url.username || url.password) throw bad('Endpoint URLs must not carry credentials; configure API keys in the main process.', 'endpoints');
    return url.origin + url.pathname.replace(/\/+$/, '');
  });
}

function num(o: Record<string, unknown>, k: string, min: number, max: number, int = false): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
    throw bad(`${k} must be ${int ? 'an integer' : 'a number'} from ${min} to ${max}.`, k);
  }
  return v;
}

function stopArg(v: unknown): string | string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' && v.length <= 256) return v;
  if (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string' && s.length <= 256)) return v as string[];
  throw bad('stop must be a string or up to 4 strings (256 characters each).', 'stop');
}

/** The sampling and length fields shared by generate and chat, checked and copied. */
function samplingFields(o: Record<string, unknown>) {
  const out = {
    max_tokens: num(o, 'max_tokens', 1, 1 << 20, true),
    temperature: num(o, 'temperature', 0, 100),
    top_p: num(o, 'top_p', 0, 1),
    top_k: num(o, 'top_k', 0, 1 << 20, true),
    min_p: num(o, 'min_p', 0, 1),
    repeat_penalty: num(o, 'repeat_penalty', 0, 100),
    seed: num(o, 'seed', 0, Number.MAX_SAFE_INTEGER, true),
    stop: stopArg(o.stop),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Partial<typeof out>;
}

export function generateRequestArg(x: unknown): GenerateRequest {
  if (!isObject(x)) throw bad('request must be an object.', 'request');
  const p = x.prompt;
  let prompt: string | number[];
  if (typeof p === 'string' && p.length <= LIMITS.maxPromptChars) prompt = p;
  else if (Array.isArray(p) && p.length <= LIMITS.maxPromptChars && p.every((t) => Number.isInteger(t) && t >= 0 && t < 2 ** 31)) prompt = p as number[];
  else throw bad(`prompt must be a string or token ids (at most ${LIMITS.maxPromptChars}).`, 'prompt');
  return { prompt, ...samplingFields(x) };
}

const ROLES = new Set<ChatMessage['role']>(['system', 'user', 'assistant', 'tool']);

export function chatParamsArg(x: unknown): ChatCompletionParams {
  if (!isObject(x)) throw bad('params must be an object.', 'params');
  const m = x.messages;
  if (!Array.isArray(m) || m.length === 0 || m.length > LIMITS.maxMessages) throw bad(`messages must be 1 to ${LIMITS.maxMessages} messages.`, 'messages');
  let chars = 0;
  const messages = m.map((msg): ChatMessage => {
    if (!isObject(msg) || !ROLES.has(msg.role as ChatMessage['role']) || typeof msg.content !== 'string') {
      throw bad('Each message needs a role (system, user, assistant, tool) and string content.', 'messages');
    }
    chars += msg.content.length;
    return { role: msg.role as ChatMessage['role'], content: msg.content };
  });
  if (chars > LIMITS.maxPromptChars) throw bad(`messages are longer than ${LIMITS.maxPromptChars} characters in total.`, 'messages');
  const model = x.model;
  if (model !== undefined && (typeof model !== 'string' || model.length > 256)) throw bad('model must be a string.', 'model');
  return { messages, ...samplingFields(x), ...(model !== undefined ? { model } : {}), stream: true };
}

export function remoteStartArg(x: unknown): RemoteStartMessage {
  if (!isObject(x)) throw bad('A remote start message must be an object.');
  const id = streamIdArg(x.id);
  if (x.kind === 'generate') return { id, kind: 'generate', request: generateRequestArg(x.request) };
  if (x.kind === 'chat') return { id, kind: 'chat', params: chatParamsArg(x.params) };
  throw bad('kind must be "generate" or "chat".', 'kind');
}
