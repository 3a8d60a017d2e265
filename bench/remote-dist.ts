// Latency distributions at one concurrency, for the remote client: undici's request() read by
// network chunk, the RemoteEngine read by event (generate()) and by batch (stream()), and undici's
// dispatch() with the same parsing (the floor), and `tokens`: dispatch() with a per-token iterator
// of the least cost (the floor for the Engine's per-token API). Interleaved blocks, as in bench/remote.ts, but
// every request's latency is kept, so the whole distribution shows, not one paired statistic.
// Not part of `npm run bench`: a tool for questions about the shape of the gap.
//
//   npm run build:node && node --import tsx bench/remote-dist.ts [concurrency=256] [blocks=24] [perBlock=1000]
//   CLIENTS=undici,events  picks the clients (undici, events, batches, dispatch, tokens)
import type { Pool as UndiciPool } from 'undici';
import { RemoteEngine } from '../dist/remote/engine.js';
import { SseParser } from '../dist/remote/sse.js';
import { percentile } from '../src/remote/metrics.js';
import { forkServer, pin } from './fork-server.js';

const c = Number(process.argv[2] ?? 256), blocks = Number(process.argv[3] ?? 24), perBlock = Number(process.argv[4] ?? 1000);
const names = (process.env.CLIENTS ?? 'undici,events,batches,dispatch').split(',');
const TOKENS = 16;

const { url, child } = await forkServer('sse-server.ts');
const pinned = pin(child);
const engine = new RemoteEngine({ endpoints: [{ url, name: 'bench', maxConcurrency: c }], healthIntervalMs: 0, maxQueue: 1 << 20 });
const { Pool } = await import('undici');
const newPool = () => new Pool(url, { connections: c, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
const pools = { undici: newPool(), dispatch: newPool(), tokens: newPool() };
const body = JSON.stringify({ prompt: 'a', max_tokens: TOKENS, stream: true, stream_options: { include_usage: true }, temperature: 0, return_token_ids: true });
const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };

/** Tokens in one network read's SSE events (the final chunk and [DONE] excluded). */
const countTokens = (p: SseParser, chunk: Uint8Array): number => {
  let n = 0;
  for (const ev of p.push(chunk)) if (ev.data !== '[DONE]' && JSON.parse(ev.data).choices[0]?.finish_reason === null) n++;
  return n;
};

const clients: Record<string, () => Promise<number>> = {
  async undici() {
    const r = await pools.undici.request({ path: '/v1/completions', method: 'POST', headers, body });
    const p = new SseParser();
    let n = 0;
    for await (const chunk of r.body as AsyncIterable<Uint8Array>) n += countTokens(p, chunk);
    return n;
  },
  async events() {
    let n = 0;
    for await (const ev of engine.generate({ prompt: 'a', max_tokens: TOKENS })) if (!ev.done) n++;
    return n;
  },
  async batches() {
    let n = 0;
    for await (const b of engine.stream({ kind: 'completion', gen: { prompt: 'a', max_tokens: TOKENS } })) for (const ev of b) if (!ev.done) n++;
    return n;
  },
  dispatch: () => viaDispatch(pools.dispatch),
  async tokens() {
    let n = 0;
    for await (const ev of tokensViaDispatch(pools.tokens)) if (!ev.done) n++;
    return n;
  },
};

/** undici's dispatch(), resolved a macrotask after the response completes (when undici has freed the socket). */
function viaDispatch(pool: UndiciPool): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = new SseParser();
    let n = 0;
    pool.dispatch({ path: '/v1/completions', method: 'POST', headers, body }, {
      onConnect() {},
      onHeaders: () => true,
      onData(b: Buffer) { n += countTokens(p, b); return true; },
      onComplete() { void Promise.resolve().then(() => setImmediate(() => resolve(n))); },
      onError: reject,
    } as unknown as Parameters<UndiciPool['dispatch']>[1]);
  });
}

interface Tok { done: boolean; token: number; text: string }

/**
 * The least a per-token AsyncIterable can cost: undici's dispatch(), the same parsing, an event
 * object per token in a queue, a promise per token for a waiting reader; the end a macrotask after
 * the response completes, as in viaDispatch. No retries, timeouts, failover or metrics.
 */
function tokensViaDispatch(pool: UndiciPool): AsyncIterable<Tok> {
  const items: Tok[] = [];
  let waiter: ((r: IteratorResult<Tok>) => void) | undefined;
  let failed: unknown, ended = false;
  const put = (ev: Tok) => {
    if (waiter) { const w = waiter; waiter = undefined; w({ value: ev, done: false }); } else items.push(ev);
  };
  const p = new SseParser();
  pool.dispatch({ path: '/v1/completions', method: 'POST', headers, body }, {
    onConnect() {},
    onHeaders: () => true,
    onData(b: Buffer) {
      for (const ev of p.push(b)) {
        if (ev.data === '[DONE]') continue;
        const c = JSON.parse(ev.data).choices[0];
        if (c && c.finish_reason === null) put({ done: false, token: c.token_ids[0], text: c.text });
      }
      return true;
    },
    onComplete() { void Promise.resolve().then(() => setImmediate(() => { ended = true; put({ done: true, token: -1, text: '' }); })); },
    onError(e: unknown) { failed = e; ended = true; if (waiter) { const w = waiter; waiter = undefined; w({ value: undefined, done: true }); } },
  } as unknown as Parameters<UndiciPool['dispatch']>[1]);
  const it: AsyncIterator<Tok> = {
    next() {
      if (items.length) return Promise.resolve({ value: items.shift()!, done: false });
      if (failed) return Promise.reject(failed);
      if (ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((res) => { waiter = res; });
    },
  };
  return { [Symbol.asyncIterator]: () => it };
}

const acc: Record<string, { cpuUs: number; ms: number; n: number; lat: number[]; blockP99: number[]; firstWave: number; waveMean: number[] }> = {};
/**
 * n requests from c loops; each latency is the request's issue to its stream's end. Kept per block:
 * its p99 (bench/remote.ts's statistic; the median over blocks is printed), how many of its slowest
 * 1% were in the first wave (the c requests issued at once when the block starts), and that wave's
 * mean latency.
 */
async function block(name: string, n: number, record: boolean): Promise<void> {
  const one = clients[name]!;
  let issued = 0;
  const lat: number[] = [];
  const order: number[] = []; // issue number of each latency in `lat`
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: c }, async () => {
    while (issued < n) {
      const k = issued++;
      const s = performance.now();
      if ((await one()) !== TOKENS) throw new Error(`${name}: wrong token count`);
      lat.push(performance.now() - s);
      order.push(k);
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  if (!record) return;
  const a = (acc[name] ??= { cpuUs: 0, ms: 0, n: 0, lat: [], blockP99: [], firstWave: 0, waveMean: [] });
  const wave = lat.filter((_, i) => order[i]! < c);
  a.waveMean.push(wave.reduce((x, y) => x + y, 0) / wave.length);
  const slowest = lat.map((x, i) => [x, order[i]!] as const).sort((x, y) => y[0] - x[0]).slice(0, Math.ceil(n / 100));
  a.blockP99.push(percentile(lat, 0.99));
  a.firstWave += slowest.filter(([, k]) => k < c).length;
  a.cpuUs += cpu.user + cpu.system;
  a.ms += performance.now() - t0;
  a.n += n;
  for (const x of lat) a.lat.push(x);
}

for (const name of names) await block(name, perBlock, false); // warm-up
for (let b = 0; b < blocks; b++) for (const name of b % 2 ? names.slice().reverse() : names) await block(name, perBlock, true);
console.log(`concurrency ${c}, ${blocks} blocks of ${perBlock} per client, ${TOKENS} tokens per request; ${pinned}`);
for (const [name, a] of Object.entries(acc)) {
  const q = (p: number) => percentile(a.lat, p).toFixed(1);
  const mean = a.lat.reduce((s, x) => s + x, 0) / a.lat.length;
  const bp = percentile(a.blockP99, 0.5);
  const slow = Math.ceil(perBlock / 100) * blocks;
  console.log(`${name.padEnd(9)} cpu ${Math.round(a.cpuUs / a.n)} µs/request  req/s ${Math.round((a.n / a.ms) * 1000)}  latency ms: mean ${mean.toFixed(1)} p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${q(1)}  median block p99 ${bp.toFixed(1)}  first wave in slowest 1% ${Math.round((100 * a.firstWave) / slow)}%, its mean ${percentile(a.waveMean, 0.5).toFixed(1)} ms`);
}
await engine.close();
await Promise.all(Object.values(pools).map((p) => p.close()));
child.send({ op: 'close' });
process.exit(0);
