// The public API. UIs, the worker host, the HTTP server and Electron import only this (and errors).
import type { FridayErrorJSON } from './errors.js';

export type FinishReason = 'stop' | 'length' | 'context' | 'abort';

export interface SamplingOptions {
  /** 0 = greedy. Default 1 for the OpenAI-shaped APIs, 0 for `generate`. */
  temperature?: number;
  top_p?: number;
  /** 0 = no limit. */
  top_k?: number;
  min_p?: number;
  repeat_penalty?: number;
  seed?: number;
}

export interface GenerateRequest extends SamplingOptions {
  /** Text (tokenized with BOS per the model) or token ids (used as given). */
  prompt: string | number[];
  max_tokens?: number;
  /** Stop strings: never emitted; generation ends where one starts. */
  stop?: string | string[];
  /** Return this many top alternatives (0-5) with each token's logprob. */
  top_logprobs?: number;
  logprobs?: boolean;
  /** Lower runs first (FCFS within a level). Default 0. */
  priority?: number;
}

export interface TopLogprob {
  token: number;
  text: string;
  logprob: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens whose KV came from the prefix cache. */
  cached_tokens?: number;
}

/** One sampled token, with its newly completed text (may be '' while a UTF-8 char or stop-prefix is held). */
export interface TokenEvent {
  done: false;
  token: number;
  text: string;
  /** 0-based index among generated tokens. */
  index: number;
  logprob?: number;
  top_logprobs?: TopLogprob[];
}

/** The last event of every stream. */
export interface FinalEvent {
  done: true;
  /** Text released at the end (held-back bytes), usually ''. */
  text: string;
  /** Number of generated tokens. */
  index: number;
  finish_reason: FinishReason;
  usage: Usage;
  /** "local", or the name of the remote endpoint that served the request. */
  served_by: string;
  /** The prompt as token ids (BOS included), when the server knows them. */
  prompt_tokens?: number[];
}

export type GenerateEvent = TokenEvent | FinalEvent;

export interface GenerationStream extends AsyncIterable<GenerateEvent> {
  /** The same events as a WHATWG ReadableStream. */
  toReadableStream(): ReadableStream<GenerateEvent>;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

interface OpenAIParamsBase extends SamplingOptions {
  model?: string;
  max_tokens?: number;
  stop?: string | string[];
  n?: 1;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  logprobs?: boolean;
  top_logprobs?: number;
  /** vLLM extension: include token ids in the response. */
  return_token_ids?: boolean;
}

export interface ChatCompletionParams extends OpenAIParamsBase {
  messages: ChatMessage[];
  /** vLLM extension: the last message is a partial assistant reply; the answer continues it. */
  continue_final_message?: boolean;
  /** vLLM extension: open an assistant turn after the messages (default true; false with continue_final_message). */
  add_generation_prompt?: boolean;
}

export interface CompletionParams extends OpenAIParamsBase {
  prompt: string | number[];
  logprobs?: boolean;
}

export interface ChoiceLogprobs {
  content: { token: string; logprob: number; bytes: number[]; top_logprobs: { token: string; logprob: number; bytes: number[] }[] }[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: { role: 'assistant'; content: string }; finish_reason: 'stop' | 'length'; logprobs: ChoiceLogprobs | null; token_ids?: number[] }[];
  usage: Usage;
  served_by: string;
  prompt_token_ids?: number[];
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: 'stop' | 'length' | null; logprobs?: ChoiceLogprobs | null; token_ids?: number[] }[];
  usage?: Usage | null;
  served_by?: string;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: { index: 0; text: string; finish_reason: 'stop' | 'length'; logprobs: ChoiceLogprobs | null; token_ids?: number[] }[];
  usage: Usage;
  served_by: string;
  prompt_token_ids?: number[];
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: { index: 0; text: string; finish_reason: 'stop' | 'length' | null; logprobs?: ChoiceLogprobs | null; token_ids?: number[] }[];
  usage?: Usage | null;
  served_by?: string;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface EngineStats {
  running: number;
  waiting: number;
  kvPagesUsed: number;
  kvPagesTotal: number;
  prefixCacheHitRate: number;
  tokensGenerated: number;
  steps: number;
}

export interface EngineInfo {
  kind: 'local' | 'worker' | 'remote' | 'router';
  model: string;
  contextLength: number;
  adapter?: { vendor: string; architecture: string; is_software: boolean };
}

export interface Engine {
  readonly info: EngineInfo;
  generate(request: GenerateRequest, options?: RequestOptions): GenerationStream;
  readonly chat: {
    completions: {
      create(params: ChatCompletionParams & { stream: true }, options?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
      create(params: ChatCompletionParams & { stream?: false }, options?: RequestOptions): Promise<ChatCompletion>;
    };
  };
  readonly completions: {
    create(params: CompletionParams & { stream: true }, options?: RequestOptions): Promise<AsyncIterable<CompletionChunk>>;
    create(params: CompletionParams & { stream?: false }, options?: RequestOptions): Promise<Completion>;
  };
  stats(): EngineStats;
  close(): Promise<void>;
}

/** What crosses a worker/IPC/HTTP boundary when a stream fails. */
export type StreamErrorJSON = FridayErrorJSON;
