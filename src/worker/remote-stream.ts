// The main-thread end of a stream coming from the worker: a single-consumer queue that returns
// credit to the worker as its consumer reads. The worker never sends more than the credit it was
// given, so this queue holds at most `window` items however slow the consumer is.
import { FridayError } from '../api/errors.js';

export interface RemoteStreamHooks {
  /** The consumer read `n` items: the worker may send `n` more. */
  credit(n: number): void;
  /** The consumer stopped early (break, ReadableStream cancel): abort the worker-side request. */
  cancel(): void;
}

export class RemoteStream<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private error: unknown;
  private consumed = false;
  private owed = 0;

  constructor(readonly window: number, private readonly hooks: RemoteStreamHooks) {}

  /** No more items will arrive (ended, failed or cancelled). */
  get settled(): boolean {
    return this.ended || this.error !== undefined;
  }

  push(item: T): void {
    if (this.settled) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      this.delivered();
      w.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
  }

  end(): void {
    if (this.settled) return;
    this.ended = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  /**
   * Fails the stream. Items already received are delivered first (they were produced), unless
   * `discard`: an aborting caller wants the stream to end at its next read.
   */
  fail(e: unknown, discard = false): void {
    if (this.settled) return;
    this.error = e;
    if (discard) this.items.length = 0;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(e);
    }
  }

  /** Credit goes back in batches of half the window: fewer messages, and the worker never idles on a full window. */
  private delivered(): void {
    if (this.settled) return;
    this.owed++;
    if (this.owed >= Math.max(1, this.window >> 1)) {
      this.hooks.credit(this.owed);
      this.owed = 0;
    }
  }

  private next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift()!;
      this.delivered();
      return Promise.resolve({ value, done: false });
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
  }

  private cancel(): void {
    if (!this.settled) this.hooks.cancel();
    this.ended = true;
    this.items.length = 0;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new FridayError('INVALID_REQUEST', 'This stream can only be consumed once.');
    this.consumed = true;
    return {
      next: () => this.next(),
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  toReadableStream(): ReadableStream<T> {
    const it = this[Symbol.asyncIterator]();
    return new ReadableStream<T>({
      async pull(controller) {
        try {
          const r = await it.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (e) {
          controller.error(e);
        }
      },
      cancel: () => { this.cancel(); },
    }, { highWaterMark: 0 });
  }
}
