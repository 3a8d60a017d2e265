// Remote-engine HTTP overhead on loopback (a measurement, not a test): streamed requests per second
// and p50/p99 latency (request start to final event) at several concurrencies, against a server
// streaming canned tokens (bench/sse-server.ts, built to cost less CPU than the client) in its own
// process, so the client is what gets measured; each client's line says how busy both were.
// Three clients: Friday's RemoteEngine; undici's Pool used directly with the same SSE parsing (the
// baseline the goal is stated against); plain fetch() with keep-alive off (`connection: close`,
// one new TCP connection per request).
//
// This machine is a shared 2-core VM whose speed drifts by tens of percent within minutes, so the
// RemoteEngine and the undici baseline are measured as an interleaved A/B: both clients are set up
// and warmed once per concurrency, then run many short blocks in ABBA order, and each client's
// blocks are pooled. A drift then hits both alike. The A/A line (undici's even blocks against its
// odd ones) says how much of a difference is noise. Where `taskset` exists, the server runs on
// CPU 1 and the client on CPU 0, so neither steals the other's core.
//
// The client is the built library (dist/, what the package ships; `npm run bench` builds it first),
// not src/ through tsx: tsx's transform wraps every function it creates in a naming helper, which
// made the RemoteEngine's per-request closures cost about twice as much CPU over undici as the
// built code does (measured here: +70 against +33 µs per request at concurrency 256).
import { PerformanceObserver } from 'node:perf_hooks';
import { ServerProcess, minus, pin } from './fork-server.js';
import { pairedDifference, type Estimate } from './stats.js';

// Typed from src/, loaded from dist/ (a non-literal path, so the typecheck does not need a build).
const built = (m: string) => `../dist/remote/${m}.js`;
const { RemoteEngine } = (await import(built('engine'))) as typeof import('../src/remote/engine.js');
const { percentile } = (await import(built('metrics'))) as typeof import('../src/remote/metrics.js');
const { SseParser } = (await import(built('sse'))) as typeof import('../src/remote/sse.js');

export interface RemoteBenchOptions {
  concurrency?: number[];
  /** Tokens streamed per request. */
  tokens?: number;
  /** A/B blocks per client and concurrency. */
  blocks?: number;
  /**
   * Requests per block, at every concurrency. A block's p99 is its 10th-worst request at 1000:
   * with 200 it was the 2nd-worst, and one slow request moved it.
   */
  perBlock?: number;
  /** Requests of the fetch (keep-alive off) comparison, per concurrency. */
  fetchRequests?: number;
}

type ClientName = 'remote-engine (undici pool, keep-alive)' | 'undici Pool directly (keep-alive)' | 'fetch (keep-alive off)';

interface RunResult {
  client: ClientName;
  concurrency: number;
  blocks: number;
  requests: number;
  errors: number;
  seconds: number;
  requests_per_s: number;
  /** Tokens received per second, all streams together. */
  tokens_per_s: number;
  /** This process's CPU time per request (the server runs in another process): the client's cost. */
  client_cpu_us_per_request: number;
  /** Of which GC pauses (young and old generation), per request. */
  client_gc_us_per_request: number;
  /**
   * Share of the wall time each process spent on a CPU. Near 1 for the server means the server,
   * not the client, limits the run (both have a core each here).
   */
  client_busy: number;
  server_busy: number | undefined;
  latency_ms: { p50: number; p99: number; max: number };
  /** 1 − new connections ÷ requests. */
  connection_reuse: number;
  new_connections: number;
}

interface Sample { lat: number[]; errors: number; tokens: number; seconds: number; cpuUs: number; gcUs: number; opened: number; sent: number; serverCpuMs: number | undefined }

/** GC pause time in this process so far (ms), from the `gc` performance entries. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });
/** The observer is called a task after the GC: let it run. */
const gcSettled = () => new Promise((res) => setTimeout(res, 0));

/** One client at one concurrency: `block(n)` runs n requests from `c` loops and counts the connections it opened. */
interface Client { block(n: number): Promise<Sample>; close(): Promise<void>; one(): Promise<number> }

/** Runs `one` from `concurrency` loops until `total` requests have been issued. */
async function load(concurrency: number, total: number, one: () => Promise<number>): Promise<Omit<Sample, 'opened' | 'sent' | 'serverCpuMs'>> {
  const lat: number[] = [];
  let issued = 0, errors = 0, tokens = 0;
  await gcSettled();
  const gc0 = gcMs;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (issued < total) {
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
  await gcSettled();
  return { lat, errors, tokens, seconds, cpuUs: cpu.user + cpu.system, gcUs: (gcMs - gc0) * 1000 };
}

/** load(), and the server's CPU time meanwhile. */
async function loadOn(server: ServerProcess, concurrency: number, total: number, one: () => Promise<number>): Promise<Omit<Sample, 'opened' | 'sent'>> {
  const cpu0 = server.cpuMs();
  const res = await load(concurrency, total, one);
  return { ...res, serverCpuMs: minus(server.cpuMs(), cpu0) };
}

/** Counts tokens (non-final chunks) in an SSE body, parsed the same way for both baselines. */
async function countSse(body: AsyncIterable<Uint8Array>): Promise<number> {
  const p = new SseParser();
  let n = 0;
  for await (const chunk of body) for (const ev of p.push(chunk)) if (ev.data !== '[DONE]' && (JSON.parse(ev.data) as { choices: { finish_reason: unknown }[] }).choices[0]?.finish_reason === null) n++;
  return n;
}

/** A client whose new connections the server counts (its own pool does not say). */
function countedByServer(server: ServerProcess, c: number, one: () => Promise<number>, close: () => Promise<void>): Client {
  return {
    async block(n) {
      const before = await server.connections();
      const res = await loadOn(server, c, n, one);
      return { ...res, opened: (await server.connections()) - before, sent: res.lat.length + res.errors };
    },
    close,
    one,
  };
}

/** `prefix`: a failure-server directive path (`/fail/gap=…`), for the heap measurement. */
function engineClient(server: ServerProcess, c: number, tokens: number, prefix = ''): Client {
  const engine = new RemoteEngine({ endpoints: [{ url: server.url + prefix, name: 'bench', maxConcurrency: c }], healthIntervalMs: 0, maxQueue: 1 << 20 });
  const one = async () => {
    let n = 0;
    for await (const ev of engine.generate({ prompt: 'a', max_tokens: tokens })) if (!ev.done) n++;
    return n;
  };
  return {
    async block(n) {
      const m0 = engine.metrics();
      const res = await loadOn(server, c, n, one);
      const m1 = engine.metrics();
      return { ...res, opened: (m1.newConnections ?? 0) - (m0.newConnections ?? 0), sent: m1.requests - m0.requests };
    },
    close: () => engine.close(),
    one,
  };
}

/** The baseline the client is held to: undici's Pool used directly, same request body and SSE parsing. */
async function undiciClient(server: ServerProcess, c: number, tokens: number, prefix = ''): Promise<Client> {
  const { Pool } = await import('undici');
  const pool = new Pool(server.url, { connections: c, keepAliveTimeout: 30_000 });
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
  const one = async () => {
    // The body is built per request, as a caller's prompt would be (the engine builds its own too).
    const body = JSON.stringify({ prompt: 'a', max_tokens: tokens, stream: true, stream_options: { include_usage: true }, temperature: 0, return_token_ids: true });
    const r = await pool.request({ path: prefix + '/v1/completions', method: 'POST', headers, body });
    if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}`);
    return countSse(r.body as AsyncIterable<Uint8Array>);
  };
  return countedByServer(server, c, one, () => pool.close());
}

function fetchClient(server: ServerProcess, c: number, tokens: number): Client {
  const body = JSON.stringify({ prompt: 'a', max_tokens: tokens, stream: true, temperature: 0 });
  const one = async () => {
    const r = await fetch(server.url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body });
    if (r.status !== 200 || !r.body) throw new Error(`HTTP ${r.status}`);
    return countSse(r.body as unknown as AsyncIterable<Uint8Array>);
  };
  return countedByServer(server, c, one, async () => undefined);
}

/**
 * Not measured: 1000 requests, then two waves at the run's concurrency (the sockets exist). With
 * 300, the first concurrency measured still paid for compiling the engine's longer path (+105
 * against +44 µs per request at concurrency 1, measured first or after 16).
 */
async function warmUp(client: Client, c: number): Promise<void> {
  await client.block(1000);
  await client.block(2 * c);
}

/**
 * A pause between blocks (closed sockets leave TIME_WAIT behind). No forced GC: a full collection
 * between blocks doubled both clients' CPU per request here (it discards optimized code and
 * shrinks the young generation), which is not how a client runs.
 */
const settle = (ms: number) => new Promise((res) => setTimeout(res, ms));

const r2 = (x: number) => Math.round(x * 100) / 100;
const r4 = (x: number) => Math.round(x * 10_000) / 10_000;

function summarize(client: ClientName, concurrency: number, samples: Sample[]): RunResult {
  const lat = samples.flatMap((s) => s.lat);
  const seconds = samples.reduce((a, s) => a + s.seconds, 0);
  const opened = samples.reduce((a, s) => a + s.opened, 0);
  const sent = samples.reduce((a, s) => a + s.sent, 0);
  const serverMs = samples.every((s) => s.serverCpuMs !== undefined) ? samples.reduce((a, s) => a + s.serverCpuMs!, 0) : undefined;
  return {
    client, concurrency, blocks: samples.length, requests: lat.length, errors: samples.reduce((a, s) => a + s.errors, 0), seconds: r2(seconds),
    requests_per_s: r2(lat.length / seconds), tokens_per_s: r2(samples.reduce((a, s) => a + s.tokens, 0) / seconds),
    client_cpu_us_per_request: Math.round(samples.reduce((a, s) => a + s.cpuUs, 0) / Math.max(1, lat.length)),
    client_gc_us_per_request: r2(samples.reduce((a, s) => a + s.gcUs, 0) / Math.max(1, lat.length)),
    client_busy: r2(samples.reduce((a, s) => a + s.cpuUs, 0) / 1e6 / seconds), server_busy: serverMs === undefined ? undefined : r2(serverMs / 1000 / seconds),
    latency_ms: { p50: r2(percentile(lat, 0.5)), p99: r2(percentile(lat, 0.99)), max: r2(Math.max(0, ...lat)) },
    connection_reuse: r4(sent ? 1 - opened / sent : 0), new_connections: opened,
  };
}

function line(r: RunResult): string {
  return `${r.client.padEnd(40)} c=${String(r.concurrency).padStart(3)}  ${String(r.requests).padStart(5)} req  ${r.requests_per_s.toFixed(0).padStart(6)} req/s  p50 ${r.latency_ms.p50.toFixed(2).padStart(7)} ms  p99 ${r.latency_ms.p99.toFixed(2).padStart(7)} ms  reuse ${r.connection_reuse.toFixed(3)}  cpu ${r.client_cpu_us_per_request} µs/req (gc ${r.client_gc_us_per_request})  busy client ${r.client_busy} server ${r.server_busy ?? '?'}  errors ${r.errors}`;
}

/** The A/B at one concurrency: engine and undici blocks interleaved ABBA. */
async function abAt(server: ServerProcess, c: number, tokens: number, blocks: number, perBlock: number) {
  const engine = engineClient(server, c, tokens);
  const undici = await undiciClient(server, c, tokens);
  try {
    await warmUp(engine, c);
    await warmUp(undici, c);
    const e: Sample[] = [], u: Sample[] = [];
    for (let b = 0; b < blocks; b++) {
      const order: [Client, Sample[]][] = b % 2 === 0 ? [[engine, e], [undici, u]] : [[undici, u], [engine, e]];
      for (const [client, into] of order) {
        await settle(20);
        into.push(await client.block(perBlock));
      }
    }
    return { e, u };
  } finally {
    await engine.close();
    await undici.close();
  }
}

/**
 * Heap kept alive per stream in flight: `n` streams that stall after 8 of their 16 tokens (the
 * failure server's gap directive), measured after a full GC against the heap before they started.
 * At high concurrency the young-generation GC copies this state, so it is what GC time scales with.
 * Needs --expose-gc (npm run bench passes it); undefined without.
 */
async function heapPerStream(client: Client, n: number): Promise<number | undefined> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  await Promise.all(Array.from({ length: 4 }, () => client.one()));
  gc();
  const before = process.memoryUsage().heapUsed;
  let done = 0;
  const all = Promise.all(Array.from({ length: n }, () => client.one().finally(() => { done++; })));
  await settle(500); // 8 tokens arrive at once; the gap is 2 s
  gc();
  const bytes = done === 0 ? Math.round((process.memoryUsage().heapUsed - before) / n) : undefined;
  await all;
  return bytes;
}

async function heapAt(server: ServerProcess, n: number, tokens: number) {
  const prefix = '/fail/gap=8:2000';
  const out: Record<string, number | undefined> = {};
  for (const [name, make] of [['remote-engine', () => engineClient(server, n, tokens, prefix)], ['undici', () => undiciClient(server, n, tokens, prefix)]] as const) {
    const client = await make();
    try {
      out[name] = await heapPerStream(client, n);
    } finally {
      await client.close();
    }
  }
  return out;
}

interface Overhead {
  concurrency: number;
  /** Pooled blocks: engine minus undici. */
  p50_ms: number;
  p99_ms: number;
  client_cpu_us_per_request: number;
  /** Pooled A/A: undici's even blocks minus its odd ones. */
  aa_p99_ms: number;
  /** Paired blocks (bench/stats.ts): the median of per-pair differences, with a 95% bootstrap interval. */
  paired: { pairs: number; p99_ms: Estimate; p50_ms: Estimate; cpu_us: Estimate; gc_us: Estimate; aa_p99_ms: Estimate };
  /** The interval's upper end for the p99 difference is at most 1 ms. */
  p99_within_1ms_shown: boolean;
}

const fmt = (e: Estimate) => `${e.value} [${e.lo}, ${e.hi}]`;
const roundEst = (e: Estimate, k: (x: number) => number): Estimate => ({ value: k(e.value), lo: k(e.lo), hi: k(e.hi) });

function overheadAt(c: number, e: Sample[], u: Sample[], re: RunResult, ru: RunResult): Overhead {
  const pooledP99 = (blocks: Sample[]) => percentile(blocks.flatMap((s) => s.lat), 0.99);
  const even = u.filter((_, i) => i % 2 === 0), odd = u.filter((_, i) => i % 2 === 1);
  const p99 = (s: Sample) => percentile(s.lat, 0.99);
  const p50 = (s: Sample) => percentile(s.lat, 0.5);
  const cpu = (s: Sample) => s.cpuUs / Math.max(1, s.lat.length);
  const gc = (s: Sample) => s.gcUs / Math.max(1, s.lat.length);
  const paired = {
    pairs: Math.min(e.length, u.length),
    p99_ms: roundEst(pairedDifference(e, u, p99), r2),
    p50_ms: roundEst(pairedDifference(e, u, p50), r2),
    cpu_us: roundEst(pairedDifference(e, u, cpu), Math.round),
    gc_us: roundEst(pairedDifference(e, u, gc), r2),
    // u[2k] and u[2k+1] ran back to back (ABBA): the same pairing, with nothing between them but noise.
    aa_p99_ms: roundEst(pairedDifference(even, odd, p99), r2),
  };
  return {
    concurrency: c, p50_ms: r2(re.latency_ms.p50 - ru.latency_ms.p50), p99_ms: r2(re.latency_ms.p99 - ru.latency_ms.p99),
    client_cpu_us_per_request: re.client_cpu_us_per_request - ru.client_cpu_us_per_request, aa_p99_ms: r2(pooledP99(even) - pooledP99(odd)),
    paired, p99_within_1ms_shown: paired.p99_ms.hi <= 1,
  };
}

export async function benchRemote(opts: RemoteBenchOptions = {}) {
  const levels = opts.concurrency ?? [1, 16, 64, 256];
  const tokens = opts.tokens ?? 16;
  const blocks = opts.blocks ?? 48;
  const server = await ServerProcess.start();
  const pinned = pin(server);
  console.log(pinned);
  const runs: RunResult[] = [];
  const overhead: Overhead[] = [];
  try {
    for (const c of levels) {
      const perBlock = opts.perBlock ?? 1000;
      const { e, u } = await abAt(server, c, tokens, blocks, perBlock);
      await settle(200);
      const f = fetchClient(server, c, tokens);
      await warmUp(f, Math.min(c, 16));
      await settle(200);
      const fetched = [await f.block(opts.fetchRequests ?? Math.max(400, 2 * c))];
      const [re, ru, rf] = [summarize('remote-engine (undici pool, keep-alive)', c, e), summarize('undici Pool directly (keep-alive)', c, u), summarize('fetch (keep-alive off)', c, fetched)];
      runs.push(re, ru, rf);
      for (const r of [re, ru, rf]) console.log(line(r));
      overhead.push(overheadAt(c, e, u, re, ru));
      const o = overhead.at(-1)!;
      console.log(`  RemoteEngine over undici at c=${c}, pooled: p50 ${o.p50_ms} ms, p99 ${o.p99_ms} ms, client CPU ${o.client_cpu_us_per_request} µs/request (pooled A/A p99: ${o.aa_p99_ms} ms)`);
      console.log(`  paired blocks (median, 95% CI): p99 ${fmt(o.paired.p99_ms)} ms, p50 ${fmt(o.paired.p50_ms)} ms, CPU ${fmt(o.paired.cpu_us)} µs/request, of it GC ${fmt(o.paired.gc_us)}; A/A p99 ${fmt(o.paired.aa_p99_ms)} ms; p99 within 1 ms shown: ${o.p99_within_1ms_shown}`);
    }
    // The failure server, for its gap directive (streams that stall halfway).
    const stalling = await ServerProcess.start('remote-server.ts');
    const heap = await heapAt(stalling, 256, tokens).finally(() => stalling.close());
    console.log(`heap kept per stream in flight (256 streams): remote-engine ${heap['remote-engine']} bytes, undici ${heap.undici} bytes`);
    return {
      server: 'bench/sse-server.ts in its own process on 127.0.0.1 (canned tokens, a loop turn between them); heap: test/e2e/failure-server.ts', pinned, tokens_per_request: tokens, blocks,
      method: 'interleaved A/B: engine and undici blocks in ABBA order; pooled per client, and paired (median of per-pair differences, 95% bootstrap CI); fetch after them',
      heap_bytes_per_stream_in_flight: heap, overhead, runs,
    };
  } finally {
    await server.close();
  }
}
