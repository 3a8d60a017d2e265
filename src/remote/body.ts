// A response body as the remote engine reads it: pushed, one network read at a time, into a sink
// (SSE is parsed as it arrives), with flow control for a consumer that falls behind. text() and
// discard() are built on the same pipe, so each transport implements only pipe().
/** Where a piped response body goes, as each network read arrives. */
export interface BodySink {
  data(bytes: Uint8Array): void;
  /** The body ended; the connection is reusable from now on. */
  end(): void;
  /** The connection failed or the request's signal aborted it. */
  error(e: unknown): void;
}

/** Flow control of a piped body. */
export interface BodyFlow {
  /** Stop reading the socket until resume() (the consumer is behind). */
  pause(): void;
  resume(): void;
  /** Stop delivering and drop the connection (the rest of the body is not wanted). */
  cancel(): void;
}

/**
 * Where a response goes when it is sent with Transport.open(): its headers (status and all) or
 * the failure before them. Called once, maybe synchronously from inside open().
 */
export interface ResponseReceiver {
  response(res: TransportResponse): void;
  failed(e: unknown): void;
}

export interface TransportResponse {
  status: number;
  /** A response header. The undici transport keeps only those the engine reads: content-type, retry-after. */
  header(name: string): string | undefined;
  /**
   * Pushes the body into `sink` as it arrives (call once). Read it to its end, or abort the
   * request, so the connection is either reused or dropped.
   */
  pipe(sink: BodySink): BodyFlow;
  /** Reads the body as text, at most `limit` characters kept (the rest is still drained). */
  text(limit?: number): Promise<string>;
  /** Drains the body without keeping it (keeps the connection reusable); past 1 MiB, drops it. */
  discard(): Promise<void>;
}

/** A body left unread past this is not worth draining: the connection is dropped instead. */
const DISCARD_LIMIT = 1 << 20;

/** text() and discard() for a response that has pipe(). */
export abstract class PipedResponse implements TransportResponse {
  abstract status: number;
  abstract header(name: string): string | undefined;
  abstract pipe(sink: BodySink): BodyFlow;

  text(limit = 64 * 1024): Promise<string> {
    return new Promise((resolve, reject) => {
      let s = '';
      const dec = new TextDecoder();
      this.pipe({
        data: (c) => { if (s.length < limit) s += dec.decode(c, { stream: true }); },
        end: () => resolve((s + dec.decode()).slice(0, limit)),
        error: reject,
      });
    });
  }

  discard(): Promise<void> {
    return new Promise((resolve) => {
      let n = 0;
      const flow = this.pipe({
        data: (c) => {
          if (n > DISCARD_LIMIT || (n += c.byteLength) <= DISCARD_LIMIT) return;
          queueMicrotask(() => flow.cancel()); // data may arrive inside pipe(), before `flow` is set
          resolve();
        },
        end: resolve,
        error: () => resolve(), // nothing left to drain
      });
    });
  }
}
