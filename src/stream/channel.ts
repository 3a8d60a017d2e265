// A single-consumer async queue with a bound: the producer (the engine loop) never awaits it, so a
// slow consumer cannot stall other sequences. When the bound is exceeded the owner is told
// (`onOverflow`) and decides: the local engine pauses the sequence until the consumer catches up.
// The worker's main-thread streams (src/worker/remote-stream.ts) are this queue too, unbounded,
// returning credit from `onTake`.
import { FridayError } from '../api/errors.js';
import { PULL, PULL_END, PULL_WAIT, type Pullable, type PullSink } from './pull.js';
import { iteratorToReadableStream } from './readable.js';

export interface ChannelHooks {
  /** The buffer reached `capacity` (once, until it drains). */
  onOverflow?: () => void;
  /** After an overflow, the buffer fell below half of `capacity`. */
  onDrain?: () => void;
  /** The consumer stopped early (break, ReadableStream cancel) while the channel was open. */
  onCancel?: () => void;
  /**
   * The consumer took one item while the channel was open. Not called for items read after
   * close()/fail(): the producer sends nothing more, so there is nobody to tell.
   */
  onTake?: () => void;
}

/** Every empty channel's queue until its first item (never written: a push makes a new array). */
const NO_ITEMS: readonly unknown[] = Object.freeze([]);

// The channel is its own iterator (and a Pullable): one object per stream, no closures.
export class Channel<T> implements AsyncIterable<T>, AsyncIterator<T>, Pullable<T> {
  // No array literal here or per stream: V8 pretenures objects from an allocation site whose
  // objects mostly survive a young-generation GC, and a stream's queue lives as long as the stream.
  private items: T[] = NO_ITEMS as T[];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((e: unknown) => void) | undefined;
  /** A reader waiting through pull() (instead of a promise from next()). */
  private sink: PullSink<T> | undefined;
  private closed = false;
  private error: unknown;
  private consumed = false;
  private overflowed = false;

  constructor(
    readonly capacity = 256,
    private readonly hooks: ChannelHooks = {},
  ) {}

  /** No more items will arrive: closed, failed or cancelled by the consumer. */
  get settled(): boolean {
    return this.closed;
  }

  get size(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.items.length >= this.capacity;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.sink) {
      const s = this.sink;
      this.sink = undefined;
      this.hooks.onTake?.();
      s.pulled(item);
      return;
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failWaiter = undefined;
      this.hooks.onTake?.();
      w({ value: item, done: false });
      return;
    }
    // Mostly one item at a time: an array of one, not push() into `[]` (which reserves 17 slots
    // that hundreds of streams would each keep).
    if (this.items.length === 0) this.items = [item];
    else this.items.push(item);
    if (this.items.length >= this.capacity && !this.overflowed) {
      this.overflowed = true;
      this.hooks.onOverflow?.();
    }
  }

  close(): void {
    this.closed = true;
    if (this.sink && this.items.length === 0) {
      const s = this.sink;
      this.sink = undefined;
      s.pulledEnd();
    }
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = this.failWaiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  /**
   * Fails the stream. Items already queued are delivered first (they were produced), unless
   * `discard`: an aborting caller wants the stream to end at its next read.
   */
  fail(e: unknown, discard = false): void {
    if (this.closed) return;
    this.error = e;
    this.closed = true;
    if (discard) this.items = NO_ITEMS as T[];
    if (this.sink) {
      const s = this.sink;
      this.sink = undefined;
      s.pullFailed(e);
    }
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.waiter = this.failWaiter = undefined;
      f(e);
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.take(), done: false });
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  [PULL](sink: PullSink<T>): T | typeof PULL_WAIT | typeof PULL_END {
    if (this.items.length > 0) return this.take();
    if (this.error !== undefined) throw this.error;
    if (this.closed) return PULL_END;
    this.sink = sink;
    return PULL_WAIT;
  }

  /** `break` out of for-await: the consumer is gone, so the producer should stop. */
  return(): Promise<IteratorResult<T>> {
    const open = !this.closed;
    // Closed before the hook runs: what the producer pushes or fails from inside it goes nowhere.
    this.closed = true;
    this.items = NO_ITEMS as T[];
    this.sink = undefined;
    if (open) this.hooks.onCancel?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new FridayError('INVALID_REQUEST', 'This stream can only be consumed once.');
    this.consumed = true;
    return this;
  }

  private take(): T {
    const value = this.items.shift()!;
    if (this.overflowed && this.items.length < this.capacity / 2) {
      this.overflowed = false;
      this.hooks.onDrain?.();
    }
    if (!this.closed) this.hooks.onTake?.();
    return value;
  }

  toReadableStream(): ReadableStream<T> {
    return iteratorToReadableStream(this[Symbol.asyncIterator]());
  }
}
