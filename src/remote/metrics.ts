// Remote-engine metrics: counters plus a bounded latency reservoir per endpoint.

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** The last `capacity` samples (milliseconds), with percentiles over them; count/mean over all. */
export class LatencyRecorder {
  private readonly samples: number[] = [];
  private next = 0;
  count = 0;
  private sum = 0;
  private maxSeen = 0;

  constructor(private readonly capacity = 2048) {}

  record(ms: number): void {
    this.count++;
    this.sum += ms;
    if (ms > this.maxSeen) this.maxSeen = ms;
    if (this.samples.length < this.capacity) this.samples.push(ms);
    else {
      this.samples[this.next] = ms;
      this.next = (this.next + 1) % this.capacity;
    }
  }

  summary(): LatencySummary {
    const s = [...this.samples].sort((a, b) => a - b);
    const q = (p: number) => (s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
    const r = (x: number) => Math.round(x * 100) / 100;
    return { count: this.count, mean: r(this.count ? this.sum / this.count : 0), p50: r(q(0.5)), p90: r(q(0.9)), p99: r(q(0.99)), max: r(this.maxSeen) };
  }
}

/** Percentile over an unsorted array (used by the benchmark too). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

export class EndpointCounters {
  requests = 0;
  succeeded = 0;
  failed = 0;
  readonly errors: Record<string, number> = {};
  /** Request start to first token (streams) or to the response (non-streaming). */
  readonly ttft = new LatencyRecorder();
  /** Request start to the end of the response. */
  readonly latency = new LatencyRecorder();

  error(kind: string): void {
    this.failed++;
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
  }
}
