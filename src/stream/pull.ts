// Reading a queue without a promise per item. An async iterator's next() makes a promise for
// every item, and each layer that maps items (a decoder, the failover books, a flattener) adds
// another. A Pullable hands over what it has now, synchronously, and otherwise calls its reader
// back once; only the outermost layer, the one the consumer awaits, makes a promise.

/** Where an item goes that was not ready when it was pulled. Called once per pull that returned nothing. */
export interface PullSink<T> {
  /** The next item (no result object: this runs once per item). */
  pulled(value: T): void;
  /** The source ended. */
  pulledEnd(): void;
  pullFailed(e: unknown): void;
}

/** The method's key: a symbol, so nothing that merely has a `pull` method is taken for a Pullable. */
export const PULL: unique symbol = Symbol('pull');

/** What a pull returns when nothing is ready: `sink` is called later, once. */
export const PULL_WAIT: unique symbol = Symbol('pull: wait');
/** What a pull returns when the source has ended. */
export const PULL_END: unique symbol = Symbol('pull: end');

export interface Pullable<T> {
  /**
   * The next item if it is ready now (itself, no result object), PULL_END at the end, else
   * PULL_WAIT; throws if the source failed.
   */
  [PULL](sink: PullSink<T>): T | typeof PULL_WAIT | typeof PULL_END;
}

export function isPullable<T>(x: object): x is Pullable<T> {
  return typeof (x as Partial<Pullable<T>>)[PULL] === 'function';
}
