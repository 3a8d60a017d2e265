// Aggregate decode throughput of the continuous-batching engine at several concurrencies, with
// TTFT and inter-token latency percentiles and the per-step GPU counters.
import { resolve } from 'node:path';
import { LocalEngine } from '../src/engine/local.js';
import { FileSource } from '../src/model/source/file.js';

const MODEL = resolve(process.cwd(), process.env.BENCH_MODEL ?? '../shared/fixtures/models/TinyStories-656K-Q8_0.gguf');
const LEVELS = [1, 2, 4, 8, 16];
const MAX_TOKENS = Number(process.env.BENCH_TOKENS ?? 32);
const PROMPTS = ['Once upon a time', 'Tom and Sue went to the park', 'The little dog was sad because', 'One day, a bird', 'Lily had a red ball'];

const pct = (xs: number[], q: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1);
};

export async function benchBatching(): Promise<unknown> {
  const src = await FileSource.open(MODEL);
  const e = await LocalEngine.create(src, { maxSeqs: 16, contextLength: 256, maxBatchTokens: 256 });
  await src.close();
  const gpu = e.model.gpu;
  for await (const _ of e.generate({ prompt: 'warm up', max_tokens: 4 })) { /* compile + first-use costs */ }
  const rows = [];
  for (const c of LEVELS) {
    const ttft: number[] = [], itl: number[] = [];
    const before = { ...gpu.counters }, steps0 = e.metrics.steps;
    const t0 = performance.now();
    let tokens = 0;
    await Promise.all(Array.from({ length: c }, async (_, i) => {
      const start = performance.now();
      let last = start;
      for await (const ev of e.generate({ prompt: PROMPTS[i % PROMPTS.length]!, max_tokens: MAX_TOKENS, temperature: 0.8, seed: i })) {
        if (ev.done) break;
        const now = performance.now();
        (last === start ? ttft : itl).push(now - last); // first token of this request: TTFT
        last = now;
        tokens++;
      }
    }));
    const secs = (performance.now() - t0) / 1000;
    const steps = e.metrics.steps - steps0;
    const per = (k: keyof typeof before) => +((gpu.counters[k] - before[k]) / steps).toFixed(2);
    rows.push({
      concurrency: c, tokens, seconds: +secs.toFixed(2), tokens_per_s: +(tokens / secs).toFixed(2),
      ttft_ms_p50: pct(ttft, 0.5), ttft_ms_p99: pct(ttft, 0.99), itl_ms_p50: pct(itl, 0.5), itl_ms_p99: pct(itl, 0.99),
      steps, per_step: { submits: per('submits'), dispatches: per('dispatches'), readback_bytes: per('readbackBytes'), pipelines_created: per('pipelinesCreated'), bind_groups_created: per('bindGroupsCreated') },
    });
    console.log(rows.at(-1));
  }
  const r1 = rows.find((r) => r.concurrency === 1)!.tokens_per_s, r8 = rows.find((r) => r.concurrency === 8)!.tokens_per_s;
  await e.close();
  return { model: MODEL.split('/').pop(), adapter: gpu.info, max_tokens: MAX_TOKENS, rows, ratio_c8_over_c1: +(r8 / r1).toFixed(2) };
}
