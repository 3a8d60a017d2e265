// Small formatting helpers and a tokens-per-second meter for the demo UI.

export function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export const pct = (x: number) => `${Math.round(x * 100)}%`;

export function duration(s: number): string {
  const t = Math.ceil(s);
  return t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
}

/** Rate of a growing counter over a sliding window (default 3 s). */
export class RateMeter {
  private readonly samples: { t: number; n: number }[] = [];
  constructor(private readonly windowMs = 3000) {}

  /** Adds a sample of the counter's current value; returns the rate per second. */
  sample(n: number, t = performance.now()): number {
    this.samples.push({ t, n });
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const dt = (t - first.t) / 1000;
    return dt > 0 ? Math.max(0, n - first.n) / dt : 0;
  }

  reset(): void {
    this.samples.length = 0;
  }
}

/** File name at the end of a URL or path. */
export function baseName(s: string): string {
  try {
    s = new URL(s).pathname;
  } catch {
    // not a URL
  }
  return decodeURIComponent(s.split(/[\\/]/).filter(Boolean).pop() ?? s);
}
