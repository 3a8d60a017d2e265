// One streamed exchange with one endpoint, as events. The body is parsed where it arrives: each
// network read goes through the SSE parser and the chunk decoder at once, and its events go out as
// one LegBatch into the request's output queue. No generator sits between the socket and that
// queue, so a token costs one promise to reach the consumer, whatever the layers above it.
//
// Timeouts follow the server, not the consumer: each read with events re-arms the between-tokens
// deadline. When the output queue is full (the consumer is behind) the socket is paused and the
// deadline is off until it drains: our slowness is not the server's silence.
import type { BodyFlow, BodySink, TransportResponse } from './body.js';
import type { ChunkDecoder, LegBatch, LegEvent, ReadEvents } from './chunks.js';
import { errorFromStreamEvent } from './errors.js';
import type { Exchange } from './exchange.js';
import type { LegOwner } from './requests.js';
import { SseParser } from './sse.js';
import { parseJson, tryJson } from './wire.js';

const AFTER_DONE = 'the stream did not end after [DONE]';

/** Where a leg's reads go, an event or a batch each: the request's output queue (a Channel). */
export interface LegOutput {
  push(item: LegEvent | LegBatch): void;
  readonly full: boolean;
}

export class SseLeg implements BodySink {
  private readonly parser = new SseParser();
  private sawDone = false;
  private flow: BodyFlow | undefined;
  private paused = false;
  private settled = false;

  /** `owner.batch()` is called after each batch pushed; `owner.ended()` once, with nothing after the final batch, else with the failure. */
  constructor(
    private readonly x: Exchange,
    private readonly dec: ChunkDecoder,
    private readonly out: LegOutput,
    private readonly interTokenTimeoutMs: number,
    /** What the between-tokens timeout's error says. */
    private readonly gap: string,
    private readonly owner: LegOwner,
  ) {}

  start(res: TransportResponse): void {
    this.flow = res.pipe(this);
    if (this.paused) this.flow.pause(); // reads held before pipe() filled the queue already
  }

  data(bytes: Uint8Array): void {
    if (this.settled) return;
    // All the events of one read go out as one batch; tokens before an error still go first.
    let batch: ReadEvents;
    let failure: unknown;
    try {
      for (const sse of this.parser.push(bytes)) {
        if (this.sawDone) continue;
        if (sse.data === '[DONE]') {
          this.sawDone = true;
          this.x.arm(this.interTokenTimeoutMs, 'timeout_inter_token', AFTER_DONE);
          continue;
        }
        if (sse.event === 'error') throw errorFromStreamEvent(tryJson(sse.data), this.dec.servedBy);
        batch = this.dec.pushInto(parseJson(sse.data, this.dec.servedBy), batch);
      }
    } catch (e) {
      failure = e;
    }
    if (batch) this.emit(batch);
    if (failure !== undefined) this.fail(failure);
  }

  end(): void {
    if (this.settled) return;
    try {
      this.parser.end();
      this.x.clean();
      this.finish();
    } catch (e) {
      this.fail(e);
    }
  }

  error(e: unknown): void {
    if (this.settled) return;
    // A server that never closes after [DONE]: the answer is complete, the socket is dropped.
    if (this.sawDone && this.dec.finished && this.x.timedOut) {
      try {
        this.finish();
      } catch (f) {
        this.fail(f);
      }
      return;
    }
    this.fail(e);
  }

  /** The output queue drained: read the socket again, and time the server again. */
  resume(): void {
    if (!this.paused || this.settled) return;
    this.paused = false;
    this.flow?.resume();
    this.x.arm(this.interTokenTimeoutMs, 'timeout_inter_token', this.sawDone ? AFTER_DONE : this.gap);
  }

  private emit(item: LegEvent | LegBatch): void {
    this.out.push(item);
    this.owner.batch(item);
    if (this.out.full) {
      this.paused = true;
      this.flow?.pause();
      this.x.disarm();
    } else if (!this.settled) {
      this.x.arm(this.interTokenTimeoutMs, 'timeout_inter_token', this.sawDone ? AFTER_DONE : this.gap);
    }
  }

  private finish(): void {
    this.x.disarm();
    const final = this.dec.final(this.sawDone);
    this.settled = true;
    this.emit(final);
    this.owner.ended();
  }

  private fail(e: unknown): void {
    this.settled = true;
    this.x.disarm();
    this.owner.ended(this.x.reason(e, true));
  }
}
