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
import type { GenerateEvent } from '../api/types.js';
import { isPullable, PULL, PULL_END, PULL_WAIT, type PullSink } from '../stream/pull.js';
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

/** Where the stream starts (its first target, handed off) and the failover loop it resumes when it must. */
export interface LoopSource {
  /** The start, without the loop: the first target, opened and handed off (now, or a promise for it). */
  first(): Handoff | Promise<Handoff>;
  loop(resume: Resume): Loop;
  /** Reports the stream's end when it ends here, in a handoff. */
  readonly onEnd?: () => void;
}

/**
 * The consumer's iterator: runs the failover loop, or a target it handed off. With `events` it
 * gives the batches' events one by one, without the internal `lp` field (generate()'s public
 * events), so a stream has one iterator, not one per layer.
 *
 * A handed-off target that is a Pullable (a Channel) is read without a promise per batch: the
 * promise the consumer awaits is the only one.
 */
export class HandOffIterator<T extends LegBatch | GenerateEvent = LegBatch> implements AsyncIterator<T>, PullSink<LegEvent | LegBatch> {
  private loop: Loop | undefined;
  private h: Handoff | undefined;
  /** The final batch went out from the handed-off target: the next call ends the stream. */
  private finished = false;
  private started = false;
  /** The consumer called return(). */
  private left = false;
  /** Events mode: the batch being given out, and the next event's place in it. */
  private batch: LegBatch = NO_EVENTS;
  private i = 0;
  /** The consumer's promise while a pull waits. */
  private resolve: ((r: IteratorResult<T> | Promise<IteratorResult<T>>) => void) | undefined;

  /** For a target read through promises (not a Pullable): made on first use, kept. */
  private thenItem: ((r: IteratorResult<LegEvent | LegBatch>) => IteratorResult<T> | Promise<IteratorResult<T>>) | undefined;
  private thenError: ((e: unknown) => Promise<IteratorResult<T>>) | undefined;

  private onLoop(r: IteratorResult<LegBatch, Handoff | undefined>): IteratorResult<T> | Promise<IteratorResult<T>> {
    if (!r.done) return this.give(r.value);
    this.loop = undefined;
    if (!r.value) return { value: undefined, done: true };
    this.h = r.value;
    return this.pullTarget();
  }

  private onItem(r: IteratorResult<LegEvent | LegBatch>): IteratorResult<T> | Promise<IteratorResult<T>> {
    return r.done ? this.back({ ended: true }) : this.onBatch(r.value);
  }

  /** A read's events: one event (most reads) or a batch; a single event needs no array in events mode. */
  private onBatch(value: LegEvent | LegBatch): IteratorResult<T> | Promise<IteratorResult<T>> {
    const verdict = accept(this.h!.books, value);
    if (verdict === 'no') return this.back({ batch: Array.isArray(value) ? value : [value] });
    if (verdict === 'final') this.finished = true;
    if (Array.isArray(value)) return this.give(value);
    return this.events ? this.eventResult(value) : { value: [value] as T, done: false };
  }

  constructor(private readonly src: LoopSource, private readonly events = false) {}

  next(): Promise<IteratorResult<T>> {
    if (this.i < this.batch.length) return Promise.resolve(this.take());
    if (this.loop) return this.loopNext(this.loop);
    if (this.finished) return this.end();
    if (this.h) return this.pullTarget();
    if (this.started) return Promise.resolve({ value: undefined, done: true });
    this.started = true;
    let h: Handoff | Promise<Handoff>;
    try {
      h = this.src.first();
    } catch (e) {
      return Promise.reject(e);
    }
    return h instanceof Promise ? h.then((x) => this.opened(x)) : this.opened(h);
  }

  private opened(h: Handoff): Promise<IteratorResult<T>> {
    this.h = h;
    return this.left ? this.end() : this.pullTarget(); // the consumer left while the target was being opened
  }

  async return(): Promise<IteratorResult<T>> {
    this.batch = NO_EVENTS;
    this.left = true;
    if (this.loop) await this.loop.return(undefined); // its own finally blocks end its target
    else if (this.h) await this.end();
    return { value: undefined, done: true };
  }

  // PullSink: the handed-off Channel's next batch, when the consumer was waiting for it.
  pulled(value: LegEvent | LegBatch): void {
    const resolve = this.resolve!;
    this.resolve = undefined;
    resolve(this.onBatch(value));
  }

  pulledEnd(): void {
    const resolve = this.resolve!;
    this.resolve = undefined;
    // Called from inside the producer's close: the loop starting again waits for a microtask.
    resolve(Promise.resolve().then(() => this.back({ ended: true })));
  }

  pullFailed(e: unknown): void {
    const resolve = this.resolve!;
    this.resolve = undefined;
    resolve(Promise.resolve().then(() => this.back({ error: e })));
  }

  /** After the final batch (or when the consumer leaves): end the handed-off target, then the stream. */
  private end(): Promise<IteratorResult<T>> {
    const h = this.h!;
    this.h = undefined;
    this.finished = false;
    let r: Promise<unknown> | undefined;
    try {
      r = h.it.return?.();
    } catch (e) {
      this.ended();
      return Promise.reject(e);
    }
    // A Channel's return() has done its work when it returns: nothing to wait for.
    if (!r || isPullable(h.it)) return Promise.resolve(this.ended());
    return r.then(() => this.ended(), (e: unknown) => { this.ended(); throw e; });
  }

  private ended(): IteratorResult<T> {
    this.src.onEnd?.();
    return DONE as IteratorResult<T>;
  }

  private back(anomaly: Anomaly): Promise<IteratorResult<T>> {
    const h = this.h!;
    this.h = undefined;
    const loop = this.src.loop({ ...h, anomaly });
    this.loop = loop;
    return Promise.resolve().then(() => this.loopNext(loop));
  }

  // The loop runs only after a handoff went wrong: an arrow per call there is no cost.
  private loopNext(loop: Loop): Promise<IteratorResult<T>> {
    return loop.next().then((r) => this.onLoop(r));
  }

  private pullTarget(): Promise<IteratorResult<T>> {
    const it = this.h!.it;
    if (!isPullable<LegEvent | LegBatch>(it)) {
      this.thenItem ??= (r) => this.onItem(r);
      this.thenError ??= (error) => this.back({ error });
      return it.next().then(this.thenItem, this.thenError);
    }
    let r: LegEvent | LegBatch | typeof PULL_WAIT | typeof PULL_END;
    try {
      r = it[PULL](this);
    } catch (error) {
      return this.back({ error });
    }
    if (r === PULL_WAIT) return new Promise(this.wait);
    if (r === PULL_END) return this.back({ ended: true });
    return Promise.resolve(this.onBatch(r));
  }

  /** The executor of the promise a waiting pull returns: one function per stream, not one per wait. */
  private readonly wait = (resolve: (r: IteratorResult<T> | Promise<IteratorResult<T>>) => void): void => {
    this.resolve = resolve;
  };

  /** A batch for the consumer: as it is, or (events mode) its first event, the rest kept. */
  private give(batch: LegBatch): IteratorResult<T> | Promise<IteratorResult<T>> {
    if (!this.events) return { value: batch as T, done: false };
    this.batch = batch;
    this.i = 0;
    return batch.length > 0 ? this.take() : this.next();
  }

  private take(): IteratorResult<T> {
    const ev = this.batch[this.i++]!;
    if (this.i === this.batch.length) this.batch = NO_EVENTS;
    return this.eventResult(ev);
  }

  /** A public event: without the internal `lp` field. */
  private eventResult(ev: LegEvent): IteratorResult<T> {
    if (ev.done || ev.lp === undefined) return { value: ev as T, done: false };
    const { lp: _lp, ...rest } = ev;
    return { value: rest as T, done: false };
  }
}

const NO_EVENTS: LegBatch = [];
const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true }) as IteratorResult<never>;

/**
 * Books a read's events (one event, or a batch) that pass through: 'pass', or 'final' when they
 * end with the final event; 'no' otherwise (nothing booked).
 */
export function accept(b: Books, batch: LegEvent | LegBatch): 'pass' | 'final' | 'no' {
  if (!Array.isArray(batch)) {
    // The rule below for a batch of one, without making the array.
    if (batch.done) return 'final';
    if (batch.index !== b.count) return 'no';
    book(b, batch);
    return 'pass';
  }
  const k = leadingTokens(batch, b.count);
  const final = k === batch.length - 1 && batch[k]!.done;
  if (k < batch.length && !final) return 'no';
  for (let j = 0; j < k; j++) book(b, batch[j] as LegTokenEvent);
  return final ? 'final' : 'pass';
}

/** Books one token event given to the consumer. */
function book(b: Books, ev: LegTokenEvent): void {
  b.ids.push(ev.token);
  b.emitted += ev.text;
  b.count++;
}

/** How many events at the start of `batch` are token events numbered from `count` on (nothing to rewrite). */
export function leadingTokens(batch: LegBatch, count: number): number {
  let k = 0;
  while (k < batch.length && !batch[k]!.done && batch[k]!.index === count + k) k++;
  return k;
}
