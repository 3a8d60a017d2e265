// A single-consumer async queue with a bound: the producer (the engine loop) never awaits it, so a
// slow consumer cannot stall other sequences. When the bound is exceeded the owner is told
// (`onOverflow`) and decides: the local engine pauses the sequence until the consumer catches up.
import { FridayError } from '../api/errors.js';

export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((e: unknown) => void) | undefined;
  private closed = false;
  private error: unknown;
  private consumed = false;
  private overflowed = false;

  constructor(
    readonly capacity = 256,
    private readonly hooks: { onOverflow?: () => void; onDrain?: () => void; onCancel?: () => void } = {},
  ) {}

  get size(): number {
    return this.items.length;
  }

  get full(): boolean {
    return this.items.length >= this.capacity;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = this.failWaiter = undefined;
      w({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (this.items.length >= this.capacity && !this.overflowed) {
      this.overflowed = true;
      this.hooks.onOverflow?.();
    }
  }

  close(): void {
    this.closed = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = this.failWaiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  fail(e: unknown): void {
    if (this.closed) return;
    this.error = e;
    this.closed = true;
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.waiter = this.failWaiter = undefined;
      f(e);
    }
  }

  private next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift()!;
      if (this.overflowed && this.items.length < this.capacity / 2) {
        this.overflowed = false;
        this.hooks.onDrain?.();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new FridayError('INVALID_REQUEST', 'This stream can only be consumed once.');
    this.consumed = true;
    return {
      next: () => this.next(),
      // `break` out of for-await: the consumer is gone, so the producer should stop.
      return: () => {
        if (!this.closed) this.hooks.onCancel?.();
        this.closed = true;
        this.items.length = 0;
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
      async cancel() {
        await it.return?.();
      },
    });
  }
}
