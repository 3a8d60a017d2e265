// Engine counters and histograms, exported in Prometheus text format by `friday serve` (/metrics).

export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }
  /** Approximate quantile from the buckets (upper bound of the bucket holding it). */
  quantile(q: number): number {
    const target = q * this.count;
    for (let i = 0; i < this.buckets.length; i++) if (this.counts[i]! >= target) return this.buckets[i]!;
    return Infinity;
  }
}

const LATENCY_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BATCH = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

export class EngineMetrics {
  requests = 0;
  tokens = 0;
  steps = 0;
  promptTokensRun = 0;
  readonly rejected = new Map<string, number>();
  readonly finished = new Map<string, number>();
  readonly ttft = new Histogram(LATENCY_S);
  readonly interToken = new Histogram(LATENCY_S);
  readonly batchTokens = new Histogram(BATCH);
  readonly batchSeqs = new Histogram(BATCH);
  readonly stepSeconds = new Histogram(LATENCY_S);

  onRequest(): void {
    this.requests++;
  }
  onRejected(code: string): void {
    this.rejected.set(code, (this.rejected.get(code) ?? 0) + 1);
  }
  onFinished(reason: string): void {
    this.finished.set(reason, (this.finished.get(reason) ?? 0) + 1);
  }
  onStep(nTokens: number, nSeqs: number, ms: number): void {
    this.steps++;
    this.batchTokens.observe(nTokens);
    this.batchSeqs.observe(nSeqs);
    this.stepSeconds.observe(ms / 1000);
  }
  /** Call before the request records the token, so its previous timestamps are still there. */
  onToken(r: { createdAt: number; firstTokenAt: number | undefined; lastTokenAt: number | undefined }, now: number): void {
    this.tokens++;
    if (r.firstTokenAt === undefined) this.ttft.observe((now - r.createdAt) / 1000);
    else if (r.lastTokenAt !== undefined) this.interToken.observe((now - r.lastTokenAt) / 1000);
  }
}

export interface GaugeValues {
  queueDepth: number;
  running: number;
  paused: number;
  kvPagesUsed: number;
  kvPagesTotal: number;
  prefixQueries: number;
  prefixHits: number;
}

function hist(name: string, help: string, h: Histogram): string[] {
  const out = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  h.buckets.forEach((b, i) => out.push(`${name}_bucket{le="${b}"} ${h.counts[i]}`));
  out.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
  return out;
}

function counter(name: string, help: string, v: number | Map<string, number>, label = 'reason'): string[] {
  const out = [`# HELP ${name} ${help}`, `# TYPE ${name} counter`];
  if (typeof v === 'number') out.push(`${name} ${v}`);
  else for (const [k, n] of v) out.push(`${name}{${label}="${k}"} ${n}`);
  return out;
}

function gauge(name: string, help: string, v: number): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${v}`];
}

export function prometheusText(m: EngineMetrics, g: GaugeValues): string {
  return [
    ...counter('friday_requests_total', 'Requests accepted.', m.requests),
    ...counter('friday_requests_rejected_total', 'Requests rejected, by error code.', m.rejected, 'code'),
    ...counter('friday_requests_finished_total', 'Requests finished, by finish reason.', m.finished),
    ...counter('friday_generated_tokens_total', 'Tokens generated.', m.tokens),
    ...counter('friday_steps_total', 'Forward steps run.', m.steps),
    ...hist('friday_time_to_first_token_seconds', 'Time from request to its first token.', m.ttft),
    ...hist('friday_inter_token_latency_seconds', 'Time between consecutive tokens of a request.', m.interToken),
    ...hist('friday_batch_tokens', 'Token rows per forward step.', m.batchTokens),
    ...hist('friday_batch_sequences', 'Sequences per forward step.', m.batchSeqs),
    ...hist('friday_step_seconds', 'Wall time per forward step.', m.stepSeconds),
    ...gauge('friday_queue_depth', 'Requests waiting to be scheduled.', g.queueDepth),
    ...gauge('friday_running_sequences', 'Sequences in the running batch.', g.running),
    ...gauge('friday_paused_sequences', 'Sequences paused until their slow consumer reads on.', g.paused),
    ...gauge('friday_kv_pages_used', 'KV cache pages referenced by sequences.', g.kvPagesUsed),
    ...gauge('friday_kv_pages_total', 'KV cache pages in the pool.', g.kvPagesTotal),
    ...counter('friday_prefix_cache_queries_tokens_total', 'Prompt tokens looked up in the prefix cache.', g.prefixQueries),
    ...counter('friday_prefix_cache_hits_tokens_total', 'Prompt tokens served from the prefix cache.', g.prefixHits),
  ].join('\n') + '\n';
}
