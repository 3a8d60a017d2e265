// Typed errors that survive a worker, IPC or HTTP boundary: plain `code`, `message`, `details`.
export type FridayErrorCode =
  | 'GGUF_INVALID'
  | 'UNSUPPORTED_ARCHITECTURE'
  | 'UNSUPPORTED_TENSOR_TYPE'
  | 'MODEL_TOO_LARGE'
  | 'IO_ERROR'
  | 'NO_WEBGPU'
  | 'DEVICE_LOST'
  | 'GPU_VALIDATION'
  | 'GPU_OUT_OF_MEMORY'
  | 'TOKENIZER_INVALID'
  | 'INVALID_REQUEST'
  | 'CONTEXT_LENGTH_EXCEEDED'
  | 'QUEUE_FULL'
  | 'ABORTED'
  | 'ENGINE_CLOSED'
  | 'REMOTE_HTTP_4XX'
  | 'REMOTE_HTTP_5XX'
  | 'REMOTE_UNAVAILABLE'
  | 'REMOTE_PROTOCOL'
  | 'INTERNAL';

export interface FridayErrorJSON {
  name: 'FridayError';
  code: FridayErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export class FridayError extends Error {
  override readonly name = 'FridayError';
  readonly code: FridayErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: FridayErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  toJSON(): FridayErrorJSON {
    const json: FridayErrorJSON = { name: 'FridayError', code: this.code, message: this.message };
    if (this.details !== undefined) json.details = this.details;
    return json;
  }

  static fromJSON(json: FridayErrorJSON): FridayError {
    return new FridayError(json.code, json.message, json.details);
  }

  static is(e: unknown, code?: FridayErrorCode): e is FridayError {
    return e instanceof FridayError && (code === undefined || e.code === code);
  }
}

/** Wraps anything thrown into a FridayError, keeping FridayErrors as they are. */
export function toFridayError(e: unknown, fallback: FridayErrorCode = 'INTERNAL'): FridayError {
  if (e instanceof FridayError) return e;
  if (e instanceof Error && e.name === 'AbortError') return new FridayError('ABORTED', 'The operation was aborted.', undefined, { cause: e });
  const message = e instanceof Error ? e.message : String(e);
  return new FridayError(fallback, message, undefined, { cause: e });
}

/** The ABORTED error for a caller's signal that fired: "The request was aborted by the caller." */
export function abortedError(what: 'request' | 'load' | 'operation' = 'request', cause?: unknown): FridayError {
  return new FridayError('ABORTED', `The ${what} was aborted by the caller.`, undefined, cause === undefined ? undefined : { cause });
}

/** Throws ABORTED if the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: 'request' | 'load' | 'operation' = 'operation'): void {
  if (signal?.aborted) throw abortedError(what);
}

/** Waits for `p` to settle, or `ms` at most (a graceful shutdown's deadline); leaves no timer behind. */
export async function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([p.then(() => undefined, () => undefined), new Promise<void>((r) => { deadline = setTimeout(r, ms); })]);
  } finally {
    clearTimeout(deadline);
  }
}

/** Waits `ms` (a retry's back-off); rejects with ABORTED at once if `signal` has fired or fires meanwhile. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined, what: 'request' | 'load' = 'request'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(what));
    const onAbort = () => { clearTimeout(t); reject(abortedError(what)); };
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
