// Remote-engine metrics: counters plus a bounded latency reservoir per endpoint, and their
// Prometheus text form.
import type { PoolSnapshot } from './transport.js';

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
export function percentile(values: readonly number[], p: number): number {
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

export interface EndpointMetrics {
  name: string;
  url: string;
  healthy: boolean | undefined;
  circuit: 'closed' | 'open' | 'half-open';
  inFlight: number;
  maxConcurrency: number;
  weight: number;
  requests: number;
  succeeded: number;
  failed: number;
  errors: Record<string, number>;
  /** Request start to first token (streams) / whole response (non-streamed). */
  ttft_ms: LatencySummary;
  /** Request start to end of response. */
  latency_ms: LatencySummary;
  pool: PoolSnapshot | undefined;
}

export interface RemoteMetrics {
  transport: 'undici' | 'fetch' | undefined;
  /** HTTP requests sent (health checks included). */
  requests: number;
  /** Sockets opened (undici only). */
  newConnections: number | undefined;
  /** 1 − new connections ÷ requests (undici only). */
  connectionReuseRatio: number | undefined;
  /** Streams/requests in flight (caller-level). */
  inFlight: number;
  /** Requests waiting for endpoint capacity. */
  queued: number;
  tokens: number;
  retries: number;
  failovers: number;
  errors: Record<string, number>;
  endpoints: EndpointMetrics[];
}

/** Prometheus text exposition of a RemoteEngine's metrics. */
export function remotePrometheus(m: RemoteMetrics, prefix: string): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const lines = [
    `# TYPE ${prefix}_requests_total counter`, `${prefix}_requests_total ${m.requests}`,
    `# TYPE ${prefix}_in_flight gauge`, `${prefix}_in_flight ${m.inFlight}`,
    `# TYPE ${prefix}_queued gauge`, `${prefix}_queued ${m.queued}`,
    `# TYPE ${prefix}_retries_total counter`, `${prefix}_retries_total ${m.retries}`,
    `# TYPE ${prefix}_failovers_total counter`, `${prefix}_failovers_total ${m.failovers}`,
  ];
  if (m.newConnections !== undefined) lines.push(`# TYPE ${prefix}_new_connections_total counter`, `${prefix}_new_connections_total ${m.newConnections}`);
  if (m.connectionReuseRatio !== undefined) lines.push(`# TYPE ${prefix}_connection_reuse_ratio gauge`, `${prefix}_connection_reuse_ratio ${m.connectionReuseRatio.toFixed(4)}`);
  lines.push(`# TYPE ${prefix}_errors_total counter`);
  for (const [k, v] of Object.entries(m.errors)) lines.push(`${prefix}_errors_total{kind="${esc(k)}"} ${v}`);
  lines.push(`# TYPE ${prefix}_endpoint_up gauge`, `# TYPE ${prefix}_endpoint_in_flight gauge`, `# TYPE ${prefix}_endpoint_latency_ms summary`, `# TYPE ${prefix}_endpoint_ttft_ms summary`);
  for (const e of m.endpoints) {
    const l = `endpoint="${esc(e.name)}"`;
    lines.push(`${prefix}_endpoint_up{${l}} ${e.healthy === false || e.circuit === 'open' ? 0 : 1}`);
    lines.push(`${prefix}_endpoint_in_flight{${l}} ${e.inFlight}`);
    for (const [name, s] of [['latency_ms', e.latency_ms], ['ttft_ms', e.ttft_ms]] as const) {
      for (const [q, v] of [['0.5', s.p50], ['0.9', s.p90], ['0.99', s.p99]] as const) lines.push(`${prefix}_endpoint_${name}{${l},quantile="${q}"} ${v}`);
      lines.push(`${prefix}_endpoint_${name}_count{${l}} ${s.count}`);
    }
  }
  return lines.join('\n') + '\n';
}
