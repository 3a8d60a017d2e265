// The one AsyncIterator -> WHATWG ReadableStream bridge, so every GenerationStream's
// toReadableStream() cancels and fails the same way.

/**
 * A pull-based ReadableStream over `it`: one `next()` per pull, a rejection errors the stream,
 * and `cancel()` calls `it.return()` so the producer hears that the consumer left. `strategy`
 * defaults to the WHATWG default (high-water mark 1: one item is read ahead); pass
 * `{ highWaterMark: 0 }` when reading ahead has a cost, e.g. it returns credit to a producer.
 */
export function iteratorToReadableStream<T>(it: AsyncIterator<T>, strategy?: QueuingStrategy<T>): ReadableStream<T> {
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
  }, strategy);
}
