// Remote-engine HTTP throughput on loopback (a measurement, not a test): streamed requests per
// second and p50/p99 latency (request start to final event) at several concurrencies, against a
// local server streaming canned tokens (test/e2e/failure-server.ts). Compared with plain fetch()
// and keep-alive off (`connection: close`), i.e. one new TCP connection per request.
// Bounded: at most `maxRequests` requests and `maxMsPerRun` per (client, concurrency) run, after
// an unmeasured warm-up (10 sequential requests and one wave at the run's concurrency: the pool's
// sockets exist, so the numbers are steady state; a cold connect storm is not what is measured).
import { RemoteEngine } from '../src/remote/engine.js';
import { percentile } from '../src/remote/metrics.js';
import { SseParser } from '../src/remote/sse.js';
import { startFailureServer, type FailureServer } from '../test/e2e/failure-server.js';

export interface RemoteBenchOptions {
  concurrency?: number[];
  /** Tokens streamed per request. */
  tokens?: number;
  /** Requests per run: min(maxRequests, perConnection × concurrency). */
  maxRequests?: number;
  perConnection?: number;
  maxMsPerRun?: number;
}

interface RunResult {
  client: 'remote-engine (undici pool, keep-alive)' | 'undici Pool directly (keep-alive)' | 'fetch (keep-alive off)';
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  requests_per_s: number;
  tokens_per_s: number;
  latency_ms: { p50: number; p99: number; max: number };
  /** 1 − new connections ÷ requests. */
  connection_reuse: number;
  new_connections: number;
}

async function load(concurrency: number, total: number, maxMs: number, one: () => Promise<number>) {
  const lat: number[] = [];
  let issued = 0, errors = 0, tokens = 0;
  const deadline = performance.now() + maxMs;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (issued < total && performance.now() < deadline) {
      issued++;
      const s = performance.now();
      try {
        tokens += await one();
        lat.push(performance.now() - s);
      } catch {
        errors++;
      }
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    requests: lat.length, errors, seconds: r(seconds), requests_per_s: r(lat.length / seconds), tokens_per_s: r(tokens / seconds),
    latency_ms: { p50: r(percentile(lat, 0.5)), p99: r(percentile(lat, 0.99)), max: r(Math.max(0, ...lat)) },
  };
}

async function viaEngine(server: FailureServer, c: number, total: number, tokens: number, maxMs: number): Promise<RunResult> {
  const engine = new RemoteEngine({ endpoints: [{ url: server.url, name: 'bench', maxConcurrency: c }], healthIntervalMs: 0, maxQueue: 1 << 20 });
  const one = async () => {
    let n = 0;
    for await (const ev of engine.generate({ prompt: 'a', max_tokens: tokens })) if (!ev.done) n++;
    return n;
  };
  try {
    await warmUp(c, one); // loads undici, opens the pool's sockets (a connect storm is not steady state), warms the JIT
    const m0 = engine.metrics();
    const res = await load(c, total, maxMs, one);
    const m1 = engine.metrics();
    const opened = (m1.newConnections ?? 0) - (m0.newConnections ?? 0);
    const sent = m1.requests - m0.requests;
    return { client: 'remote-engine (undici pool, keep-alive)', concurrency: c, ...res, connection_reuse: round4(sent ? 1 - opened / sent : 0), new_connections: opened };
  } finally {
    await engine.close();
  }
}

async function viaFetch(server: FailureServer, c: number, total: number, tokens: number, maxMs: number): Promise<RunResult> {
  const body = JSON.stringify({ prompt: 'a', max_tokens: tokens, stream: true, temperature: 0 });
  const one = async () => {
    const r = await fetch(server.url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body });
    if (r.status !== 200 || !r.body) throw new Error(`HTTP ${r.status}`);
    const p = new SseParser();
    let n = 0;
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) for (const ev of p.push(chunk)) if (ev.data !== '[DONE]' && (JSON.parse(ev.data) as { choices: { finish_reason: unknown }[] }).choices[0]?.finish_reason === null) n++;
    return n;
  };
  await warmUp(c, one);
  const before = server.connections();
  const res = await load(c, total, maxMs, one);
  const opened = server.connections() - before;
  return { client: 'fetch (keep-alive off)', concurrency: c, ...res, connection_reuse: round4(res.requests ? 1 - opened / (res.requests + res.errors) : 0), new_connections: opened };
}

/** The baseline the client is held to: undici's Pool used directly, same SSE parsing. */
async function viaUndici(server: FailureServer, c: number, total: number, tokens: number, maxMs: number): Promise<RunResult> {
  const { Pool } = await import('undici');
  const pool = new Pool(server.url, { connections: c, keepAliveTimeout: 30_000 });
  const body = JSON.stringify({ prompt: 'a', max_tokens: tokens, stream: true, temperature: 0 });
  const one = async () => {
    const r = await pool.request({ path: '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}`);
    const p = new SseParser();
    let n = 0;
    for await (const chunk of r.body as AsyncIterable<Uint8Array>) for (const ev of p.push(chunk)) if (ev.data !== '[DONE]' && (JSON.parse(ev.data) as { choices: { finish_reason: unknown }[] }).choices[0]?.finish_reason === null) n++;
    return n;
  };
  try {
    await warmUp(c, one);
    const before = server.connections();
    const res = await load(c, total, maxMs, one);
    const opened = server.connections() - before;
    return { client: 'undici Pool directly (keep-alive)', concurrency: c, ...res, connection_reuse: round4(res.requests ? 1 - opened / (res.requests + res.errors) : 0), new_connections: opened };
  } finally {
    await pool.close();
  }
}

/** Not measured: 10 sequential requests, then one wave at the run's concurrency. */
async function warmUp(c: number, one: () => Promise<number>): Promise<void> {
  for (let i = 0; i < 10; i++) await one();
  await Promise.all(Array.from({ length: c }, () => one().catch(() => 0)));
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

export async function benchRemote(opts: RemoteBenchOptions = {}): Promise<{ server: string; tokens_per_request: number; runs: RunResult[] }> {
  const levels = opts.concurrency ?? [1, 16, 64, 256];
  const tokens = opts.tokens ?? 16;
  const maxRequests = opts.maxRequests ?? 2000;
  const perConnection = opts.perConnection ?? 20;
  const maxMs = opts.maxMsPerRun ?? 5_000;
  const server = await startFailureServer({ tokenDelayMs: 0, keepAliveTimeoutMs: 30_000 });
  const runs: RunResult[] = [];
  try {
    for (const c of levels) {
      const total = Math.min(maxRequests, Math.max(50, perConnection * c));
      for (const run of [viaEngine, viaUndici, viaFetch]) {
        const r = await run(server, c, total, tokens, maxMs);
        runs.push(r);
        console.log(`${r.client.padEnd(40)} c=${String(c).padStart(3)}  ${String(r.requests).padStart(5)} req  ${r.requests_per_s.toFixed(0).padStart(6)} req/s  p50 ${r.latency_ms.p50.toFixed(1).padStart(7)} ms  p99 ${r.latency_ms.p99.toFixed(1).padStart(7)} ms  reuse ${r.connection_reuse.toFixed(3)}  errors ${r.errors}`);
        // Let closed sockets leave TIME_WAIT pressure behind before the next run.
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  } finally {
    await server.close();
  }
  return { server: 'test/e2e/failure-server.ts on 127.0.0.1 (canned tokens, no delay)', tokens_per_request: tokens, runs };
}
