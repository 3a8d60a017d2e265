// Holds back text that could still become a stop string, so a stop string is never emitted.

/** A request's `stop` as a list (absent, null over JSON, one string, or several). */
export function stopList(stop: string | readonly string[] | null | undefined): readonly string[] {
  return stop === undefined || stop === null ? [] : typeof stop === 'string' ? [stop] : stop;
}

export class StopMatcher {
  private pending = '';
  private readonly maxLen: number;

  constructor(private readonly stops: readonly string[]) {
    this.maxLen = Math.max(0, ...stops.map((s) => s.length));
  }

  /**
   * Adds newly decoded text. Returns the text that is now safe to emit and whether a stop string
   * was found (everything from its start on is dropped).
   */
  push(text: string): { emit: string; stopped: boolean } {
    if (this.stops.length === 0) return { emit: text, stopped: false };
    this.pending += text;
    let cut = -1;
    for (const s of this.stops) {
      const i = s === '' ? -1 : this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      const emit = this.pending.slice(0, cut);
      this.pending = '';
      return { emit, stopped: true };
    }
    const keep = this.heldSuffix();
    const emit = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return { emit, stopped: false };
  }

  /** Text still held at the end of generation (it turned out not to be a stop string). */
  flush(): string {
    const t = this.pending;
    this.pending = '';
    return t;
  }

  /** Length of the longest suffix of pending that is a proper prefix of some stop string. */
  private heldSuffix(): number {
    const p = this.pending;
    for (let n = Math.min(p.length, this.maxLen - 1); n > 0; n--) {
      const tail = p.slice(p.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }
}
