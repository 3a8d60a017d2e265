// Remote-engine HTTP overhead on loopback (a measurement, not a test): streamed requests per second
// and p50/p99 latency (request start to final event) at several concurrencies, against a server
// streaming canned tokens (test/e2e/failure-server.ts) in its own process, so the client is what
// gets measured. Three clients: Friday's RemoteEngine; undici's Pool used directly with the same
// SSE parsing (the baseline the goal is stated against); plain fetch() with keep-alive off
// (`connection: close`, one new TCP connection per request).
//
// The machine is noisy (2 shared cores), so the RemoteEngine and undici runs alternate for several
// rounds and their latencies are pooled; each (client, concurrency, round) run starts after an
// unmeasured warm-up (200 sequential requests and one wave at the run's concurrency: the sockets
// exist and the JIT has settled, so neither a cold connect storm nor compilation is measured).
import type { ChildProcess } from 'node:child_process';
import { RemoteEngine } from '../src/remote/engine.js';
import { percentile } from '../src/remote/metrics.js';
import { SseParser } from '../src/remote/sse.js';
import { forkServer } from './fork-server.js';

export interface RemoteBenchOptions {
  concurrency?: number[];
  /** Tokens streamed per request. */
  tokens?: number;
  /** Alternating RemoteEngine/undici rounds per concurrency. */
  rounds?: number;
  /** Requests per round: min(maxRequests, max(minRequests, perConnection × concurrency)). */
  minRequests?: number;
  maxRequests?: number;
  perConnection?: number;
  maxMsPerRun?: number;
}

type ClientName = 'remote-engine (undici pool, keep-alive)' | 'undici Pool directly (keep-alive)' | 'fetch (keep-alive off)';

interface RunResult {
  client: ClientName;
  concurrency: number;
  rounds: number;
  requests: number;
  errors: number;
  seconds: number;
  requests_per_s: number;
  /** Tokens received per second, all streams together. */
  tokens_per_s: number;
  /** This process's CPU time per request (the server runs in another process): the client's cost. */
  client_cpu_us_per_request: number;
  latency_ms: { p50: number; p99: number; max: number };
  /** 1 − new connections ÷ requests. */
  connection_reuse: number;
  new_connections: number;
}

interface Sample { lat: number[]; errors: number; tokens: number; seconds: number; cpuUs: number; opened: number; sent: number }

/** Runs `one` from `concurrency` loops until `total` requests or `maxMs` have passed. */
async function load(concurrency: number, total: number, maxMs: number, one: () => Promise<number>): Promise<Omit<Sample, 'opened' | 'sent'>> {
  const lat: number[] = [];
  let issued = 0, errors = 0, tokens = 0;
  const deadline = performance.now() + maxMs;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (issued < total && performance.now() < deadline) {
      issued++;
      const s = performance.now();
      try {
        const n = await one(); // not `tokens += await one()`: that reads `tokens` before the await and loses other loops' updates
        tokens += n;
        lat.push(performance.now() - s);
      } catch {
        errors++;
      }
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { lat, errors, tokens, seconds, cpuUs: cpu.user + cpu.system };
}

/** The benchmark server in its own process. */
class ServerProcess {
  private seq = 0;
  private constructor(private readonly child: ChildProcess, readonly url: string) {}

  static async start(): Promise<ServerProcess> {
    const { url, child } = await forkServer('remote-server.ts');
    return new ServerProcess(child, url);
  }

  connections(): Promise<number> {
    const id = ++this.seq;
    return new Promise((res) => {
      const on = (m: { id?: number; connections?: number }) => {
        if (m.id !== id) return;
        this.child.off('message', on);
        res(m.connections!);
      };
      this.child.on('message', on);
      this.child.send({ op: 'connections', id });
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ op: 'close' });
    await exited;
  }
}

type Client = (server: ServerProcess, c: number, total: number, tokens: number, maxMs: number) => Promise<Sample>;

/** Counts tokens (non-final chunks) in an SSE body, parsed the same way for both baselines. */
async function countSse(body: AsyncIterable<Uint8Array>): Promise<number> {
  const p = new SseParser();
  let n = 0;
  for await (const chunk of body) for (const ev of p.push(chunk)) if (ev.data !== '[DONE]' && (JSON.parse(ev.data) as { choices: { finish_reason: unknown }[] }).choices[0]?.finish_reason === null) n++;
  return n;
}

const viaEngine: Client = async (server, c, total, tokens, maxMs) => {
  const engine = new RemoteEngine({ endpoints: [{ url: server.url, name: 'bench', maxConcurrency: c }], healthIntervalMs: 0, maxQueue: 1 << 20 });
  const one = async () => {
    let n = 0;
    for await (const ev of engine.generate({ prompt: 'a', max_tokens: tokens })) if (!ev.done) n++;
    return n;
  };
  try {
    await warmUp(c, one);
    const m0 = engine.metrics();
    const res = await load(c, total, maxMs, one);
    const m1 = engine.metrics();
    return { ...res, opened: (m1.newConnections ?? 0) - (m0.newConnections ?? 0), sent: m1.requests - m0.requests };
  } finally {
    await engine.close();
  }
};

/** The baseline the client is held to: undici's Pool used directly, same request body and SSE parsing. */
const viaUndici: Client = async (server, c, total, tokens, maxMs) => {
  const { Pool } = await import('undici');
  const pool = new Pool(server.url, { connections: c, keepAliveTimeout: 30_000 });
  const body = JSON.stringify({ prompt: 'a', max_tokens: tokens, stream: true, stream_options: { include_usage: true }, temperature: 0, return_token_ids: true });
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
  const one = async () => {
    const r = await pool.request({ path: '/v1/completions', method: 'POST', headers, body });
    if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}`);
    return countSse(r.body as AsyncIterable<Uint8Array>);
  };
  try {
    await warmUp(c, one);
    const before = await server.connections();
    const res = await load(c, total, maxMs, one);
    return { ...res, opened: (await server.connections()) - before, sent: res.lat.length + res.errors };
  } finally {
    await pool.close();
  }
};

const viaFetch: Client = async (server, c, total, tokens, maxMs) => {
  const body = JSON.stringify({ prompt: 'a', max_tokens: tokens, stream: true, temperature: 0 });
  const one = async () => {
    const r = await fetch(server.url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body });
    if (r.status !== 200 || !r.body) throw new Error(`HTTP ${r.status}`);
    return countSse(r.body as unknown as AsyncIterable<Uint8Array>);
  };
  await warmUp(c, one);
  const before = await server.connections();
  const res = await load(c, total, maxMs, one);
  return { ...res, opened: (await server.connections()) - before, sent: res.lat.length + res.errors };
};

/** Not measured: 200 sequential requests (the JIT settles), then one wave at the run's concurrency. */
async function warmUp(c: number, one: () => Promise<number>): Promise<void> {
  for (let i = 0; i < 200; i++) await one();
  await Promise.all(Array.from({ length: c }, () => one().catch(() => 0)));
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const r4 = (x: number) => Math.round(x * 10_000) / 10_000;

function summarize(client: ClientName, concurrency: number, samples: Sample[]): RunResult {
  const lat = samples.flatMap((s) => s.lat);
  const seconds = samples.reduce((a, s) => a + s.seconds, 0);
  const opened = samples.reduce((a, s) => a + s.opened, 0);
  const sent = samples.reduce((a, s) => a + s.sent, 0);
  return {
    client, concurrency, rounds: samples.length, requests: lat.length, errors: samples.reduce((a, s) => a + s.errors, 0), seconds: r2(seconds),
    requests_per_s: r2(lat.length / seconds), tokens_per_s: r2(samples.reduce((a, s) => a + s.tokens, 0) / seconds),
    client_cpu_us_per_request: Math.round(samples.reduce((a, s) => a + s.cpuUs, 0) / Math.max(1, lat.length)),
    latency_ms: { p50: r2(percentile(lat, 0.5)), p99: r2(percentile(lat, 0.99)), max: r2(Math.max(0, ...lat)) },
    connection_reuse: r4(sent ? 1 - opened / sent : 0), new_connections: opened,
  };
}

const settle = () => new Promise((res) => setTimeout(res, 200)); // closed sockets leave TIME_WAIT behind

export async function benchRemote(opts: RemoteBenchOptions = {}) {
  const levels = opts.concurrency ?? [1, 16, 64, 256];
  const tokens = opts.tokens ?? 16;
  const rounds = opts.rounds ?? 3;
  const server = await ServerProcess.start();
  const runs: RunResult[] = [];
  const overhead: { concurrency: number; p50_ms: number; p99_ms: number; client_cpu_us_per_request: number }[] = [];
  try {
    for (const c of levels) {
      const total = Math.min(opts.maxRequests ?? 2000, Math.max(opts.minRequests ?? 400, (opts.perConnection ?? 20) * c));
      const maxMs = opts.maxMsPerRun ?? 5_000;
      const by = new Map<ClientName, Sample[]>();
      const clients: [ClientName, Client, number][] = [
        ['remote-engine (undici pool, keep-alive)', viaEngine, rounds],
        ['undici Pool directly (keep-alive)', viaUndici, rounds],
        ['fetch (keep-alive off)', viaFetch, 1],
      ];
      for (let round = 0; round < rounds; round++) {
        for (const [name, run, n] of clients) {
          if (round >= n) continue;
          const list = by.get(name) ?? [];
          list.push(await run(server, c, total, tokens, maxMs));
          by.set(name, list);
          await settle();
        }
      }
      for (const [name] of clients) {
        const r = summarize(name, c, by.get(name)!);
        runs.push(r);
        console.log(`${r.client.padEnd(40)} c=${String(c).padStart(3)}  ${String(r.requests).padStart(5)} req  ${r.requests_per_s.toFixed(0).padStart(6)} req/s  p50 ${r.latency_ms.p50.toFixed(2).padStart(7)} ms  p99 ${r.latency_ms.p99.toFixed(2).padStart(7)} ms  reuse ${r.connection_reuse.toFixed(3)}  cpu ${r.client_cpu_us_per_request} µs/req  errors ${r.errors}`);
      }
      const [e, u] = runs.slice(-3);
      overhead.push({ concurrency: c, p50_ms: r2(e!.latency_ms.p50 - u!.latency_ms.p50), p99_ms: r2(e!.latency_ms.p99 - u!.latency_ms.p99), client_cpu_us_per_request: e!.client_cpu_us_per_request - u!.client_cpu_us_per_request });
      console.log(`  RemoteEngine over undici at c=${c}: p50 ${overhead.at(-1)!.p50_ms} ms, p99 ${overhead.at(-1)!.p99_ms} ms, client CPU ${overhead.at(-1)!.client_cpu_us_per_request} µs/request`);
    }
  } finally {
    await server.close();
  }
  return { server: 'test/e2e/failure-server.ts in its own process on 127.0.0.1 (canned tokens, no delay)', tokens_per_request: tokens, rounds, overhead, runs };
}
