// The typed contract between the Electron main process, the preload bridge and the renderer (the
// web demo). Types and constants only: no 'electron' import, so the renderer, the preload, main
// and the tests all share it.
//
// What crosses: model files as opaque handles (the renderer never sees or sends a path; main
// opens only what the native dialog returned) read in bounded chunks; remote generations as
// streams of events keyed by a renderer-chosen id. API keys never cross: main keeps them.
import type { FridayErrorJSON } from '../../src/api/errors.js';
import type { ChatCompletionChunk, ChatCompletionParams, GenerateEvent, GenerateRequest } from '../../src/api/types.js';

export const BRIDGE_VERSION = 1;

/** The global the preload exposes: `window.friday`. */
export const BRIDGE_GLOBAL = 'friday';

export const Channels = {
  /** invoke: () → ModelFileInfo | null (the user cancelled). */
  modelOpenDialog: 'friday:model:open-dialog',
  /** invoke: () → ModelFileInfo | null (no bundled default model). */
  modelOpenBundled: 'friday:model:open-bundled',
  /** invoke: (handle, offset, length) → Uint8Array. */
  modelRead: 'friday:model:read',
  /** invoke: (handle) → void. */
  modelClose: 'friday:model:close',
  /** invoke: () → RemoteStatus. */
  remoteStatus: 'friday:remote:status',
  /** invoke: (endpoints: string[]) → RemoteStatus. */
  remoteConfigure: 'friday:remote:configure',
  /** send: RemoteStartMessage (renderer → main). */
  remoteStart: 'friday:remote:start',
  /** send: stream id (renderer → main). */
  remoteAbort: 'friday:remote:abort',
  /** main → renderer: RemoteStreamMessage. */
  remoteEvent: 'friday:remote:event',
} as const;

export type Channel = (typeof Channels)[keyof typeof Channels];

/** Every invoke answers with a result: Electron keeps only the message of a thrown error, we keep the code. */
export type BridgeResult<T> = { ok: true; value: T } | { ok: false; error: FridayErrorJSON };

export interface ModelFileInfo {
  /** Opaque, unguessable, valid only for the window that opened it. */
  handle: string;
  /** The file's base name (for display). */
  name: string;
  size: number;
}

export interface RemoteEndpointStatus {
  name: string;
  /** Origin and path prefix only (no credentials, no query). */
  url: string;
  healthy: boolean | undefined;
  circuit: 'closed' | 'open' | 'half-open';
  /** An API key is attached by main (the key itself never leaves main). */
  authenticated: boolean;
}

export interface RemoteStatus {
  configured: boolean;
  endpoints: RemoteEndpointStatus[];
}

export type RemoteStartMessage =
  | { id: string; kind: 'generate'; request: GenerateRequest }
  | { id: string; kind: 'chat'; params: ChatCompletionParams };

export type RemoteStreamMessage =
  | { id: string; type: 'event'; event: GenerateEvent }
  | { id: string; type: 'chunk'; chunk: ChatCompletionChunk }
  /** A chat stream ended normally (a generate stream ends with its `done` event). */
  | { id: string; type: 'end' }
  | { id: string; type: 'error'; error: FridayErrorJSON };

/** Limits main enforces on renderer input (the renderer splits bigger reads). */
export const LIMITS = {
  /** Bytes per modelRead. */
  maxReadBytes: 16 << 20,
  /** Model files open at once per window. */
  maxOpenFiles: 8,
  /** Remote streams at once per window. */
  maxStreams: 64,
  maxEndpoints: 8,
  maxPromptChars: 1 << 20,
  maxMessages: 512,
} as const;

/** `window.friday`: what the preload exposes, and what a fake bridge implements in tests. */
export interface FridayBridge {
  readonly version: number;
  /** 'electron' from the preload; tests use their own. */
  readonly platform: string;
  openModelDialog(): Promise<BridgeResult<ModelFileInfo | null>>;
  openBundledModel(): Promise<BridgeResult<ModelFileInfo | null>>;
  readModel(handle: string, offset: number, length: number): Promise<BridgeResult<Uint8Array>>;
  closeModel(handle: string): Promise<BridgeResult<null>>;
  remoteStatus(): Promise<BridgeResult<RemoteStatus>>;
  /** Sets the endpoints main talks to; keys configured in main attach by origin. */
  configureRemote(endpoints: string[]): Promise<BridgeResult<RemoteStatus>>;
  /**
   * Starts a remote stream; `onMessage` gets its messages until the final one (a `done` event, an
   * `end` or an `error`). Returns the stream's id for remoteAbort.
   */
  remoteStart(start: { kind: 'generate'; request: GenerateRequest } | { kind: 'chat'; params: ChatCompletionParams }, onMessage: (m: RemoteStreamMessage) => void): string;
  remoteAbort(id: string): void;
}

/** Whether a stream message is the last of its stream. */
export const isFinalMessage = (m: RemoteStreamMessage): boolean =>
  m.type === 'end' || m.type === 'error' || (m.type === 'event' && m.event.done);
