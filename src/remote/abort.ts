// A cheap abort handle for one HTTP exchange. Node's AbortController costs several microseconds
// to create (an EventTarget with its own machinery), and a streamed request needs one; this is an
// object and an array. It has the shape undici accepts as a `signal` (`aborted`,
// add/removeEventListener); the fetch transport turns it into a real AbortSignal.

/** What the transports need of a signal: AbortSignal has this shape, and so has AbortHandle. */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class AbortHandle implements AbortLike {
  aborted = false;
  // The first listener in a field (an exchange has one: its transport's), the rest in an array made
  // when needed: an array per exchange would live as long as the exchange, and V8 pretenures the
  // allocation site of objects that mostly outlive a young-generation GC.
  private first: (() => void) | undefined;
  private more: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    if (!this.first) this.first = listener; // empty only when `more` is (removal moves the next one up)
    else (this.more ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.first === listener) {
      this.first = this.more?.shift();
      return;
    }
    const i = this.more?.indexOf(listener) ?? -1;
    if (i >= 0) this.more!.splice(i, 1);
  }

  /** Listeners run once, in order; later calls do nothing. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const first = this.first, more = this.more;
    this.first = this.more = undefined;
    first?.();
    if (more) for (const l of more) l();
  }
}

/** A real AbortSignal for APIs that insist on one (fetch). */
export function toAbortSignal(s: AbortLike): AbortSignal {
  if (typeof AbortSignal !== 'undefined' && s instanceof AbortSignal) return s;
  const ac = new AbortController();
  if (s.aborted) ac.abort();
  else s.addEventListener('abort', () => ac.abort(), { once: true });
  return ac.signal;
}
