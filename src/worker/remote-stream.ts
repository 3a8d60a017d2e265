// The main-thread end of a stream coming from the worker: a Channel that returns credit to the
// worker as its consumer reads. The worker never sends more than the credit it was given, so the
// channel needs no bound of its own: it holds at most `window` items however slow the consumer is.
import { Channel } from '../stream/channel.js';
import { iteratorToReadableStream } from '../stream/readable.js';

export interface RemoteStreamHooks {
  /** The consumer read `n` items: the worker may send `n` more. */
  credit(n: number): void;
  /** The consumer stopped early (break, ReadableStream cancel): abort the worker-side request. */
  cancel(): void;
}

/** Credit goes back in batches of half the window: fewer messages, and the worker never idles on a full window. */
function creditInBatches(window: number, credit: (n: number) => void): () => void {
  const batch = Math.max(1, window >> 1);
  let owed = 0;
  return () => {
    if (++owed < batch) return;
    credit(owed);
    owed = 0;
  };
}

export class RemoteStream<T> extends Channel<T> {
  constructor(window: number, hooks: RemoteStreamHooks) {
    super(Infinity, { onTake: creditInBatches(window, (n) => hooks.credit(n)), onCancel: () => hooks.cancel() });
  }

  /** No read-ahead: an item pulled before the consumer asks would return its credit early. */
  override toReadableStream(): ReadableStream<T> {
    return iteratorToReadableStream(this[Symbol.asyncIterator](), { highWaterMark: 0 });
  }
}
