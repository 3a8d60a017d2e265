// The messages between a WorkerEngine (main thread) and the engine host (inside a dedicated
// Worker). Everything here must survive structured clone: plain data only, errors as
// FridayErrorJSON so their `code` is kept.
//
// One port per engine, with request ids (not one MessageChannel per request): the Worker object
// already is a port, a single listener is the one place that sees a crash and can fail every
// pending request, messages of different requests keep their relative order (an `abort` or
// `stats` sent after a request is handled after it), and there are no ports to transfer or leak.
//
// Streams are credit-based: a stream request carries an initial `credit` (events the host may
// send ahead of the consumer); the main thread returns credit as its consumer reads. With no
// credit the host stops pulling from the engine's stream, whose bounded buffer then pauses the
// sequence in the scheduler, so a slow consumer never makes either side buffer without bound.
import type { FridayErrorJSON } from '../api/errors.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionParams, Completion, CompletionChunk, CompletionParams,
  EngineInfo, EngineStats, GenerateEvent, GenerateRequest,
} from '../api/types.js';
import type { CreateEngineOptions } from '../index.js';

export const PROTOCOL_VERSION = 1;

/** The cloneable forms of a model: an http(s) URL (or, in Node, a path), a Blob/File, or bytes. */
export type WorkerModelInput = string | Blob | ArrayBuffer | Uint8Array;

/** createEngine options that survive structured clone: no GPU device handle, signal or callback. */
export type WorkerEngineOptions = Omit<CreateEngineOptions, 'model' | 'device' | 'signal' | 'onProgress'>;

/** Load progress as the engine reports it (GPU upload of the weights). */
/** Full load progress (header, download, upload, compile, warmup, ready), forwarded as-is. */
export type { LoadProgress } from '../engine/load-progress.js';
import type { LoadProgress } from '../engine/load-progress.js';

/** The resolved value of a streaming chat/completion create(): its chunks follow, then `end`. */
export interface StreamAccepted {
  stream: true;
}

// ---- main thread -> worker ----

export interface InitMsg {
  type: 'init';
  id: number;
  version: number;
  model: WorkerModelInput;
  options: WorkerEngineOptions;
  /** Send `progress` messages while loading. */
  progress: boolean;
}
export interface GenerateMsg { type: 'generate'; id: number; request: GenerateRequest; credit: number }
export interface ChatMsg { type: 'chat'; id: number; params: ChatCompletionParams; credit: number }
export interface CompletionMsg { type: 'completion'; id: number; params: CompletionParams; credit: number }
/** The consumer read `n` more items of stream `id`: the host may send `n` more. */
export interface CreditMsg { type: 'credit'; id: number; n: number }
/** Abort request `id`; the host sends nothing more for it (the main thread already failed it). */
export interface AbortMsg { type: 'abort'; id: number }
export interface StatsMsg { type: 'stats'; id: number }
/** Liveness probe: any message from the host counts as an answer, `pong` is the explicit one. */
export interface PingMsg { type: 'ping' }
export interface CloseMsg { type: 'close'; id: number }

export type WorkerRequest = InitMsg | GenerateMsg | ChatMsg | CompletionMsg | CreditMsg | AbortMsg | StatsMsg | PingMsg | CloseMsg;

// ---- worker -> main thread ----

export interface ReadyMsg { type: 'ready'; id: number; info: EngineInfo; stats: EngineStats }
export interface ProgressMsg { type: 'progress'; id: number; progress: LoadProgress }
/** One generate() event; the `done` one is the last message of its stream. */
export interface EventMsg { type: 'event'; id: number; event: GenerateEvent; stats?: EngineStats }
export interface ChunkMsg { type: 'chunk'; id: number; chunk: ChatCompletionChunk | CompletionChunk }
/** A chunk stream ended normally. */
export interface EndMsg { type: 'end'; id: number; stats: EngineStats }
/** A request's promise resolved: stats, a non-streaming completion, or StreamAccepted. */
export interface ResultMsg { type: 'result'; id: number; value: EngineStats | ChatCompletion | Completion | StreamAccepted; stats: EngineStats }
/** Request `id` failed; without an id the host itself failed (fatal for the engine). */
export interface ErrorMsg { type: 'error'; id?: number; error: FridayErrorJSON; stats?: EngineStats }
export interface PongMsg { type: 'pong' }
export interface ClosedMsg { type: 'closed'; id: number }

export type WorkerResponse = ReadyMsg | ProgressMsg | EventMsg | ChunkMsg | EndMsg | ResultMsg | ErrorMsg | PongMsg | ClosedMsg;

/**
 * The part of a Worker, a worker's global scope or a MessagePort (browser or node:worker_threads)
 * that the protocol needs. Events are read as `ev.data` (message) and `ev.message` (error).
 */
export interface Endpoint {
  postMessage(message: unknown): void;
  addEventListener(type: string, listener: (ev: Event) => void): void;
  removeEventListener(type: string, listener: (ev: Event) => void): void;
  /** MessagePorts queue messages until started. */
  start?(): void;
}

const REQUEST_TYPES = new Set<string>(['init', 'generate', 'chat', 'completion', 'credit', 'abort', 'stats', 'ping', 'close']);
const RESPONSE_TYPES = new Set<string>(['ready', 'progress', 'event', 'chunk', 'end', 'result', 'error', 'pong', 'closed']);

function hasType(x: unknown, types: Set<string>): boolean {
  return typeof x === 'object' && x !== null && types.has((x as { type?: unknown }).type as string);
}

/** Messages not of this protocol (e.g. a page's own traffic on a shared worker) are ignored. */
export const isWorkerRequest = (x: unknown): x is WorkerRequest => hasType(x, REQUEST_TYPES);
export const isWorkerResponse = (x: unknown): x is WorkerResponse => hasType(x, RESPONSE_TYPES);
