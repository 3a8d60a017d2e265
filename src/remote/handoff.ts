// The first target's batches go to the consumer without passing through the failover generator.
//
// Almost every stream is served whole by its first target: its batches pass through unchanged
// (token events numbered from 0, then the final event), and the failover generator would only
// resume and suspend once per batch to hand each one on. So, for its first target, the generator
// yields a Handoff instead: this iterator reads the target directly, lets the generator's
// `accept` keep the books (ids, text, count), and resumes the generator only when something else
// happens: an error, a batch it must rewrite, the end of the target, or after the final batch.
import type { LegBatch, LegEvent } from './chunks.js';

/** How the handed-off target went on: what the generator resumes with. */
export type Anomaly =
  | { error: unknown }
  /** The target ended without a final event. */
  | { ended: true }
  /** A batch that does not pass through as it is (the generator processes it). */
  | { batch: LegBatch }
  /** The final batch went to the consumer. */
  | { finished: true };

export interface Handoff {
  readonly handoff: AsyncIterator<LegEvent | LegBatch>;
  /** Books a batch that passes through: 'pass', or 'final' when it ends with the final event; 'no' otherwise (nothing booked). */
  accept(batch: LegBatch): 'pass' | 'final' | 'no';
}

const isHandoff = (v: LegBatch | Handoff): v is Handoff => !Array.isArray(v);

/** The consumer's iterator over a failover generator that may hand off its first target. */
export function handOffIterator(gen: AsyncGenerator<LegBatch | Handoff, void, Anomaly | undefined>): AsyncIterator<LegBatch> {
  return new HandOffIterator(gen);
}

// A class with two bound callbacks rather than a nest of closures: it lives as long as the stream.
class HandOffIterator implements AsyncIterator<LegBatch> {
  private h: Handoff | undefined;
  private finished = false;

  private readonly onGen = (r: IteratorResult<LegBatch | Handoff>): IteratorResult<LegBatch> | Promise<IteratorResult<LegBatch>> => {
    if (r.done || !isHandoff(r.value)) return r as IteratorResult<LegBatch>;
    this.h = r.value;
    return this.pull();
  };

  private readonly onItem = (r: IteratorResult<LegEvent | LegBatch>): IteratorResult<LegBatch> | Promise<IteratorResult<LegBatch>> => {
    if (r.done) return this.back({ ended: true });
    const batch = Array.isArray(r.value) ? r.value : [r.value];
    const verdict = this.h!.accept(batch);
    if (verdict === 'no') return this.back({ batch });
    if (verdict === 'final') {
      this.h = undefined;
      this.finished = true;
    }
    return batch === r.value ? (r as IteratorResult<LegBatch>) : { value: batch, done: false };
  };

  private readonly onError = (error: unknown): Promise<IteratorResult<LegBatch>> => this.back({ error });

  constructor(private readonly gen: AsyncGenerator<LegBatch | Handoff, void, Anomaly | undefined>) {}

  next(): Promise<IteratorResult<LegBatch>> {
    if (this.h) return this.pull();
    if (this.finished) {
      this.finished = false;
      return this.resume({ finished: true });
    }
    return this.resume(undefined);
  }

  // The generator is suspended at the handoff (or elsewhere): its own finally blocks end the target.
  async return(): Promise<IteratorResult<LegBatch>> {
    this.h = undefined;
    await this.gen.return(undefined);
    return { value: undefined, done: true };
  }

  private resume(a: Anomaly | undefined): Promise<IteratorResult<LegBatch>> {
    return this.gen.next(a).then(this.onGen);
  }

  private back(a: Anomaly): Promise<IteratorResult<LegBatch>> {
    this.h = undefined;
    return this.resume(a);
  }

  private pull(): Promise<IteratorResult<LegBatch>> {
    return this.h!.handoff.next().then(this.onItem, this.onError);
  }
}
