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
  private listeners: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    if (this.listeners) this.listeners.push(listener);
    else this.listeners = [listener]; // an array of one, not `[]` and push() (which reserves 17 slots)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
  }

  /** Listeners run once, in order; later calls do nothing. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const ls = this.listeners;
    this.listeners = undefined;
    for (const l of ls ?? []) l();
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
