// An http(s) model. open() asks for the first MiB with a Range request, which gives the size (from
// Content-Range) and usually the whole GGUF header, so inspecting a model costs one request.
// Weights are then streamed (stream()) with one Range request for the whole span, resumed with a
// new Range request from the last byte received when the connection drops. A server that ignores
// Range (answers 200) still works: we keep reading that one response forward, skipping what we
// don't need, so memory stays bounded; a resume then re-reads from the start, discarding.
// Given `size` or `sha256`, a mismatch is an IO_ERROR; the sha256 is computed as bytes stream.
import { FridayError, sleepUnlessAborted, throwIfAborted } from '../../api/errors.js';
import { createSha256 } from './sha256.js';
import { abortAware } from './stream.js';
import type { ByteSource, StreamOptions } from './types.js';

export interface UrlSourceOptions {
  /** Expected size in bytes: a different size is an error (and a size when the server gives none). */
  size?: number;
  /** Expected SHA-256 of the whole file (hex). stream() then reads the whole file and checks it. */
  sha256?: string;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Consecutive failed attempts (drops, 5xx) tolerated per request. Default 5. */
  retries?: number;
  /** The same for the first request, which finds the size (default: `retries`): few when a cached copy can stand in. */
  probeRetries?: number;
  /** First back-off delay, doubled per failed attempt. Default 250 ms. */
  retryDelayMs?: number;
  /** A request that sends nothing for this long is dropped and resumed (a stalled connection). Default 30 s. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

const PROBE_BYTES = 1 << 20;

/** A network failure worth retrying (a drop, a 5xx), as opposed to a FridayError, which is final. */
class Transient extends Error {}

/** Waits for `p`, but gives up (aborting the request) if nothing comes for `ms`. */
async function notIdle<T>(p: Promise<T>, ac: AbortController, ms: number): Promise<T> {
  let idle = false;
  const t = setTimeout(() => { idle = true; ac.abort(); }, ms);
  try {
    return await p;
  } catch (e) {
    throw idle ? new Transient(`nothing arrived for ${ms} ms`) : e;
  } finally {
    clearTimeout(t);
  }
}

/** One response body read forward, with whatever was left of the last chunk. */
class Body {
  private rest: Uint8Array | undefined;
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>, public pos: number, private readonly req: Req) {}

  /** The next bytes, at most `max`; undefined when the response ends. */
  async next(max: number): Promise<Uint8Array | undefined> {
    let c = this.rest;
    this.rest = undefined;
    if (!c) {
      const r = await notIdle(this.reader.read(), this.req.ac, this.req.idleMs);
      if (r.done) return undefined;
      c = r.value;
    }
    if (c.byteLength > max) {
      this.rest = c.subarray(max);
      c = c.subarray(0, max);
    }
    this.pos += c.byteLength;
    return c;
  }

  async skip(n: number): Promise<void> {
    const to = this.pos + n;
    while (this.pos < to) if (!(await this.next(to - this.pos))) throw new Transient(`response ended at byte ${this.pos} while skipping to ${to}`);
  }

  cancel(): void {
    this.reader.cancel().catch(() => {});
  }
}

export class UrlSource implements ByteSource {
  readonly remote = true;
  private live: Body | undefined;
  private last: { at: number; bytes: Uint8Array } | undefined;

  private constructor(
    readonly name: string,
    readonly size: number,
    /** ETag of the file, when the server sends one (cache key, change detection). */
    readonly etag: string | undefined,
    /** The server honours Range requests. */
    readonly rangeOk: boolean,
    private readonly head: Uint8Array,
    live: Body | undefined,
    private readonly opts: UrlSourceOptions,
  ) {
    this.live = live;
  }

  /** Expected SHA-256 when the caller gave one. */
  get sha256(): string | undefined {
    return this.opts.sha256?.toLowerCase();
  }

  get version(): string | undefined {
    return this.etag;
  }

  static async open(url: string, opts: UrlSourceOptions = {}): Promise<UrlSource> {
    // The probe: a Range request for the first MiB, retried whole if it fails or drops.
    const { res, body, head, size } = await withRetries(url, { ...opts, retries: opts.probeRetries ?? opts.retries }, opts.signal, async () => {
      const req = await request(url, opts, { range: `bytes=0-${PROBE_BYTES - 1}` }, opts.signal);
      const res = req.res;
      if (res.status === 416) throw new FridayError('IO_ERROR', `${url} is empty (HTTP 416 for its first byte); it is not a model.`, { url });
      if (res.status !== 206 && res.status !== 200) throw httpError(url, res);
      const size = res.status === 206 ? (contentRangeTotal(res) ?? opts.size) : (contentLength(res) ?? opts.size);
      const body = new Body(res.body!.getReader(), 0, req);
      try {
        if (size === undefined) throw new FridayError('IO_ERROR', `${url} did not say how large it is (no Content-Range or Content-Length, or CORS hides them); pass its size.`, { url });
        if (opts.size !== undefined && size !== opts.size) throw new FridayError('IO_ERROR', `${url} is ${size} bytes but ${opts.size} were expected: wrong file or a different version. Check the URL and the expected size.`, { url, size, expected: opts.size });
        const head = await collect((max) => body.next(max), Math.min(PROBE_BYTES, size));
        if (head.byteLength < Math.min(PROBE_BYTES, size)) throw new TypeError(`the response ended after ${head.byteLength} bytes`);
        return { res, body, head, size };
      } catch (e) {
        body.cancel();
        throw e;
      }
    });
    const rangeOk = res.status === 206;
    if (rangeOk) body.cancel();
    const live = rangeOk || head.byteLength >= size ? undefined : body; // no Range: keep reading this response forward
    return new UrlSource(url, size, res.headers.get('etag') ?? undefined, rangeOk, head, live, opts);
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return new Uint8Array(0);
    if (end <= this.head.byteLength) return this.head.subarray(offset, end);
    const out = new Uint8Array(end - offset);
    // The header reader asks again for the tail of its last read: serve that from memory, so a
    // server without Range never has to start over from byte 0 for it.
    const last = this.last;
    let done = last && offset >= last.at && offset < last.at + last.bytes.byteLength ? Math.min(end, last.at + last.bytes.byteLength) - offset : 0;
    if (done) out.set(last!.bytes.subarray(offset - last!.at, offset - last!.at + done));
    for await (const c of this.span(offset + done, end, signal)) {
      out.set(c, done);
      done += c.byteLength;
    }
    this.last = { at: offset, bytes: out };
    return out;
  }

  /** Streams [start, end); with sha256 set, reads the whole file and checks it at the end. */
  async *stream(start: number, end: number, opts: StreamOptions = {}): AsyncGenerator<Uint8Array> {
    const expected = this.sha256;
    if (!expected) return yield* this.span(start, end, opts.signal);
    const hasher = await createSha256();
    let pos = 0;
    for await (const c of this.span(0, this.size, opts.signal)) {
      hasher.update(c);
      const a = Math.max(start, pos), b = Math.min(end, pos + c.byteLength);
      if (a < b) yield c.subarray(a - pos, b - pos);
      pos += c.byteLength;
    }
    const got = hasher.digest();
    if (got !== expected) throw new FridayError('IO_ERROR', `${this.name} has SHA-256 ${got}, not the expected ${expected}: the download is corrupt or the file changed. Check the URL and the checksum.`, { url: this.name, sha256: got, expected });
  }

  /** Bytes [from, to) in order, from the probe, the live response or new requests, resuming drops. */
  private async *span(from: number, to: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let pos = from;
    if (pos < this.head.byteLength) {
      const h = this.head.subarray(pos, Math.min(to, this.head.byteLength));
      pos += h.byteLength;
      yield h;
    }
    let failures = 0;
    while (pos < to) {
      let body: Body | undefined;
      try {
        const reader = (body = await this.bodyAt(pos, to, signal));
        while (pos < to) {
          const c = await reader.next(to - pos);
          if (!c) throw new Transient(`the response ended at byte ${pos}`);
          pos += c.byteLength;
          failures = 0; // progress: count failures in a row, not in total
          if (pos === to) [body, this.live] = [undefined, this.keep(reader)]; // before the last yield: a reader may stop there
          yield c;
        }
      } catch (e) {
        if (signal?.aborted || !(e instanceof Transient || e instanceof TypeError)) throw abortAware(e, signal, () => new FridayError('IO_ERROR', `Could not download ${this.name}: ${(e as Error).message}`));
        if (++failures > (this.opts.retries ?? 5)) {
          throw new FridayError('IO_ERROR', `Downloading ${this.name} failed at byte ${pos} of ${this.size} after ${failures} attempts: ${(e as Error).message}. Check the connection and try again.`, { url: this.name, at: pos }, { cause: e });
        }
        await sleepUnlessAborted((this.opts.retryDelayMs ?? 250) * 2 ** (failures - 1), signal, 'load');
      } finally {
        body?.cancel();
      }
    }
  }

  /** A response body positioned at `pos`: the live one moved forward, or a new (Range) request. */
  private async bodyAt(pos: number, to: number, signal?: AbortSignal): Promise<Body> {
    const live = this.live;
    this.live = undefined;
    if (live && live.pos <= pos) {
      await live.skip(pos - live.pos);
      return live;
    }
    live?.cancel();
    throwIfAborted(signal);
    const req = await request(this.name, this.opts, this.rangeOk ? { range: `bytes=${pos}-${to - 1}` } : {}, signal);
    const res = req.res;
    const etag = res.headers.get('etag');
    if (this.etag && etag && etag !== this.etag) {
      await res.body?.cancel();
      throw new FridayError('IO_ERROR', `${this.name} changed on the server while loading (ETag ${this.etag} became ${etag}). Load it again.`, { url: this.name });
    }
    if (res.status === 206) {
      const range = /bytes (\d+)-\d+\/(\d+|\*)/.exec(res.headers.get('content-range') ?? '');
      if (range && (Number(range[1]) !== pos || (range[2] !== '*' && Number(range[2]) !== this.size))) {
        await res.body?.cancel();
        throw new FridayError('IO_ERROR', `${this.name} answered range ${range[0]} when asked for bytes ${pos}-${to - 1} of ${this.size}; the file changed. Load it again.`, { url: this.name });
      }
      return new Body(res.body!.getReader(), pos, req);
    }
    if (res.status === 200) {
      const len = contentLength(res);
      if (len !== undefined && len !== this.size) {
        await res.body?.cancel();
        throw new FridayError('IO_ERROR', `${this.name} is now ${len} bytes, not ${this.size}; the file changed. Load it again.`, { url: this.name });
      }
      const body = new Body(res.body!.getReader(), 0, req);
      try {
        await body.skip(pos);
      } catch (e) {
        body.cancel();
        throw e;
      }
      return body;
    }
    await res.body?.cancel();
    if (res.status >= 500 || res.status === 429) throw new Transient(`HTTP ${res.status}`);
    throw httpError(this.name, res);
  }

  /** Keeps a no-Range response to read forward next time; anything else is closed. */
  private keep(body: Body): Body | undefined {
    if (!this.rangeOk && body.pos < this.size) return body;
    body.cancel();
    return undefined;
  }

  async close(): Promise<void> {
    this.live?.cancel();
    this.live = undefined;
  }
}

/** A response and the controller that can drop it (the idle timeout). */
interface Req {
  res: Response;
  ac: AbortController;
  idleMs: number;
}

async function request(url: string, opts: UrlSourceOptions, extra: Record<string, string>, signal?: AbortSignal): Promise<Req> {
  const ac = new AbortController();
  const idleMs = opts.idleTimeoutMs ?? 30_000;
  // identity: byte offsets must be offsets into the file, not into a compressed stream
  // (browsers ignore this header and already ask for identity on Range requests).
  const init: RequestInit = { headers: { 'accept-encoding': 'identity', ...opts.headers, ...extra }, signal: signal ? AbortSignal.any([signal, ac.signal]) : ac.signal, cache: 'no-store' };
  return { res: await notIdle(fetch(url, init), ac, idleMs), ac, idleMs };
}

/** Runs `fn` again after network errors and 5xx answers, with back-off. */
async function withRetries<T>(url: string, opts: UrlSourceOptions, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  for (let failures = 1; ; failures++) {
    try {
      return await fn();
    } catch (e) {
      const transient = e instanceof TypeError || e instanceof Transient || (e instanceof FridayError && (e.details?.status as number) >= 500);
      if (signal?.aborted || !transient || failures > (opts.retries ?? 5)) {
        throw abortAware(e, signal, () => new FridayError('IO_ERROR', `Cannot reach ${url}: ${(e as Error).message}. Check the URL and the connection.`, { url, unreachable: true }));
      }
      await sleepUnlessAborted((opts.retryDelayMs ?? 250) * 2 ** (failures - 1), signal, 'load');
    }
  }
}

function httpError(url: string, res: Response): FridayError {
  const hint = res.status === 404 ? 'check the URL' : res.status === 401 || res.status === 403 ? 'the server wants credentials (pass headers)' : 'try again later';
  return new FridayError('IO_ERROR', `Cannot fetch ${url}: HTTP ${res.status}; ${hint}.`, { url, status: res.status });
}

function contentRangeTotal(res: Response): number | undefined {
  const m = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : undefined;
}

function contentLength(res: Response): number | undefined {
  const enc = res.headers.get('content-encoding');
  if (enc && enc !== 'identity') return undefined; // the length of the compressed body, not the file
  const v = res.headers.get('content-length');
  return v === null || !/^\d+$/.test(v) ? undefined : Number(v);
}

/** Copies chunks from `next` into one buffer of `n` bytes (fewer if they run out). */
async function collect(next: (max: number) => Promise<Uint8Array | undefined>, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let done = 0;
  while (done < n) {
    const c = await next(n - done);
    if (!c) break;
    out.set(c.subarray(0, n - done), done);
    done += Math.min(c.byteLength, n - done);
  }
  return done === n ? out : out.subarray(0, done);
}
