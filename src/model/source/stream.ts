// Sequential reading over any ByteSource: its own stream() when it has one, otherwise read() calls
// kept a few deep so the next chunk is in flight while the caller uses this one.
import { abortedError, FridayError, throwIfAborted } from '../../api/errors.js';
import type { ByteSource, StreamOptions } from './types.js';

export const DEFAULT_CHUNK_BYTES = 4 << 20;
const READ_AHEAD = 2;

/** Streams bytes [start, end) of `src`; throws IO_ERROR if the source comes up short. */
export async function* streamBytes(src: ByteSource, start: number, end: number, opts: StreamOptions = {}): AsyncGenerator<Uint8Array> {
  if (end <= start) return;
  if (src.stream) {
    let pos = start;
    for await (const chunk of src.stream(start, end, opts)) {
      pos += chunk.byteLength;
      yield chunk;
    }
    if (pos !== end) throw short(src, pos, end);
    return;
  }
  yield* readAhead(src, start, end, opts);
}

async function* readAhead(src: ByteSource, start: number, end: number, opts: StreamOptions): AsyncGenerator<Uint8Array> {
  const chunk = Math.max(4096, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const inflight: { at: number; n: number; p: Promise<Uint8Array> }[] = [];
  let next = start;
  const issue = () => {
    const n = Math.min(chunk, end - next);
    const p = src.read(next, n, opts.signal);
    p.catch(() => {}); // surfaced when awaited below; a dropped tail (early return) must not go unhandled
    inflight.push({ at: next, n, p });
    next += n;
  };
  while (inflight.length < READ_AHEAD && next < end) issue();
  while (inflight.length > 0) {
    throwIfAborted(opts.signal);
    const r = inflight.shift()!;
    const bytes = await r.p;
    if (bytes.byteLength !== r.n) throw short(src, r.at + bytes.byteLength, end);
    if (next < end) issue();
    yield bytes;
  }
}

function short(src: ByteSource, at: number, end: number): FridayError {
  return new FridayError('IO_ERROR', `${src.name} ended at byte ${at}, before the expected ${end}: the file is truncated or changed while loading. Re-download it.`, { source: src.name, at, end });
}

/** Calls the chunks of `src` [start, end) in order; a plain loop for tests and hashing. */
export async function forEachChunk(src: ByteSource, start: number, end: number, fn: (chunk: Uint8Array) => void | Promise<void>, opts: StreamOptions = {}): Promise<void> {
  for await (const c of streamBytes(src, start, end, opts)) await fn(c);
}

/** Turns a DOM/undici abort into our ABORTED error, keeping FridayErrors as they are. */
export function abortAware(e: unknown, signal: AbortSignal | undefined, wrap: () => FridayError): FridayError {
  if (e instanceof FridayError) return e;
  if (signal?.aborted || (e as Error)?.name === 'AbortError') return abortedError('load', e);
  const w = wrap();
  return new FridayError(w.code, w.message, w.details, { cause: e });
}
