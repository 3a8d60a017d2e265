// The first target's batches go to the consumer without the failover loop in between.
//
// Almost every stream is served whole by the first target it opens: its batches pass through
// unchanged (token events numbered from 0, then the final event), and the failover loop, a
// generator, would resume and suspend once per batch only to hand each one on, and keep its whole
// frame alive for the stream's life. So when the loop opens a target that serves the request as
// the caller asked it, it returns that target as a Handoff and ends. This iterator then reads the
// target directly, keeping the books (ids, text, count), and starts the loop again, resumed, only
// when something else happens: an error, a batch that needs rewriting, or the end without a final
// event.
import type { FailoverTarget } from './failover.js';
import type { LegBatch, LegEvent, LegTokenEvent } from './chunks.js';

/** What the consumer has been given so far. */
export interface Books { ids: number[]; emitted: string; count: number }

/** A target the failover loop opened and hands over. */
export interface Handoff {
  target: FailoverTarget;
  it: AsyncIterator<LegEvent | LegBatch>;
  books: Books;
}

/** How the handed-off target went on: what the loop resumes with. */
export type Anomaly =
  | { error: unknown }
  /** The target ended without a final event. */
  | { ended: true }
  /** A batch that does not pass through as it is (the loop processes it). */
  | { batch: LegBatch };

export interface Resume extends Handoff { anomaly: Anomaly }

type Loop = AsyncGenerator<LegBatch, Handoff | undefined>;

/** The failover loop's maker: from the beginning, or resumed after a handoff. */
export interface LoopSource {
  loop(resume?: Resume): Loop;
  /** Reports the stream's end when it ends here, in a handoff. */
  readonly onEnd?: () => void;
}

/** The consumer's iterator: runs the failover loop, or a target it handed off. */
export class HandOffIterator implements AsyncIterator<LegBatch> {
  private loop: Loop | undefined;
  private h: Handoff | undefined;
  /** The final batch went out from the handed-off target: the next call ends the stream. */
  private finished = false;
  private started = false;

  private readonly onLoop = (r: IteratorResult<LegBatch, Handoff | undefined>): IteratorResult<LegBatch> | Promise<IteratorResult<LegBatch>> => {
    if (!r.done) return r;
    this.loop = undefined;
    if (!r.value) return { value: undefined, done: true };
    this.h = r.value;
    return this.pull();
  };

  private readonly onItem = (r: IteratorResult<LegEvent | LegBatch>): IteratorResult<LegBatch> | Promise<IteratorResult<LegBatch>> => {
    if (r.done) return this.back({ ended: true });
    const batch = Array.isArray(r.value) ? r.value : [r.value];
    const verdict = accept(this.h!.books, batch);
    if (verdict === 'no') return this.back({ batch });
    if (verdict === 'final') this.finished = true;
    return batch === r.value ? (r as IteratorResult<LegBatch>) : { value: batch, done: false };
  };

  private readonly onError = (error: unknown): Promise<IteratorResult<LegBatch>> => this.back({ error });

  constructor(private readonly src: LoopSource) {}

  next(): Promise<IteratorResult<LegBatch>> {
    if (this.loop) return this.loop.next().then(this.onLoop);
    if (this.finished) return this.end();
    if (this.h) return this.pull();
    if (this.started) return Promise.resolve({ value: undefined, done: true });
    this.started = true;
    this.loop = this.src.loop();
    return this.loop.next().then(this.onLoop);
  }

  async return(): Promise<IteratorResult<LegBatch>> {
    if (this.loop) await this.loop.return(undefined); // its own finally blocks end its target
    else if (this.h) await this.end();
    return { value: undefined, done: true };
  }

  /** After the final batch (or when the consumer leaves): end the handed-off target, then the stream. */
  private async end(): Promise<IteratorResult<LegBatch>> {
    const h = this.h!;
    this.h = undefined;
    this.finished = false;
    try {
      await h.it.return?.();
    } finally {
      this.src.onEnd?.();
    }
    return { value: undefined, done: true };
  }

  private back(anomaly: Anomaly): Promise<IteratorResult<LegBatch>> {
    const h = this.h!;
    this.h = undefined;
    this.loop = this.src.loop({ ...h, anomaly });
    return this.loop.next().then(this.onLoop);
  }

  private pull(): Promise<IteratorResult<LegBatch>> {
    return this.h!.it.next().then(this.onItem, this.onError);
  }
}

/** Books a batch that passes through: 'pass', or 'final' when it ends with the final event; 'no' otherwise (nothing booked). */
function accept(b: Books, batch: LegBatch): 'pass' | 'final' | 'no' {
  const k = leadingTokens(batch, b.count);
  const final = k === batch.length - 1 && batch[k]!.done;
  if (k < batch.length && !final) return 'no';
  for (let j = 0; j < k; j++) {
    b.ids.push((batch[j] as LegTokenEvent).token);
    b.emitted += batch[j]!.text;
  }
  b.count += k;
  return final ? 'final' : 'pass';
}

/** How many events at the start of `batch` are token events numbered from `count` on (nothing to rewrite). */
export function leadingTokens(batch: LegBatch, count: number): number {
  let k = 0;
  while (k < batch.length && !batch[k]!.done && batch[k]!.index === count + k) k++;
  return k;
}
