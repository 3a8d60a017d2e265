// One burst at a time: c requests issued at once on warm sockets, by undici's request() or by the
// RemoteEngine, alternately. For each phase of a request (created in undici, headers sent, response
// headers in, first token at the caller, response complete in undici, stream ended at the caller),
// the percentiles over the burst of when it happened (ms from the burst's start), each the median
// over bursts. "complete" to "end" is how long a caller waits, after undici has the whole
// response, to see its stream end. Not part of `npm run bench`: a tool for the first-wave question.
//
//   npm run build:node && node --import tsx bench/remote-burst.ts [concurrency=256] [bursts=20]
import dc from 'node:diagnostics_channel';
import { RemoteEngine } from '../dist/remote/engine.js';
import { SseParser } from '../dist/remote/sse.js';
import { percentile } from '../src/remote/metrics.js';
import { forkServer, pin } from './fork-server.js';

const c = Number(process.argv[2] ?? 256), bursts = Number(process.argv[3] ?? 20);
const TOKENS = 16;
const { url, child } = await forkServer('sse-server.ts');
const pinned = pin(child);
const engine = new RemoteEngine({ endpoints: [{ url, name: 'bench', maxConcurrency: c }], healthIntervalMs: 0, maxQueue: 1 << 20 });
const { Pool } = await import('undici');
const pool = new Pool(url, { connections: c, keepAliveTimeout: 30_000 });
const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };

const PHASES = ['created', 'sent', 'headers', 'first token', 'complete', 'end'] as const;
type Phase = (typeof PHASES)[number];
let t0 = 0;
let at: Record<Phase, number[]> = newTimes();
function newTimes(): Record<Phase, number[]> {
  return Object.fromEntries(PHASES.map((p) => [p, []])) as unknown as Record<Phase, number[]>;
}
const mark = (p: Phase) => () => { at[p].push(performance.now() - t0); };
dc.subscribe('undici:request:create', mark('created'));
dc.subscribe('undici:client:sendHeaders', mark('sent'));
dc.subscribe('undici:request:headers', mark('headers'));
dc.subscribe('undici:request:trailers', mark('complete'));

const clients: Record<string, () => Promise<void>> = {
  async undici() {
    const body = JSON.stringify({ prompt: 'a', max_tokens: TOKENS, stream: true, stream_options: { include_usage: true }, temperature: 0, return_token_ids: true });
    const r = await pool.request({ path: '/v1/completions', method: 'POST', headers, body });
    const p = new SseParser();
    let first = true;
    for await (const chunk of r.body as AsyncIterable<Uint8Array>) {
      for (const ev of p.push(chunk)) if (first && ev.data !== '[DONE]') { first = false; mark('first token')(); }
    }
  },
  async engine() {
    let first = true;
    for await (const ev of engine.generate({ prompt: 'a', max_tokens: TOKENS })) if (first && !ev.done) { first = false; mark('first token')(); }
  },
};

const QS = [0.1, 0.5, 0.9, 1];
/** Per client and phase, per percentile: one value per burst. */
const acc: Record<string, Record<string, number[]>> = {};
async function burst(name: string, record: boolean): Promise<void> {
  at = newTimes();
  await new Promise((r) => setTimeout(r, 20)); // the last burst's sockets are free again
  t0 = performance.now();
  await Promise.all(Array.from({ length: c }, async () => { await clients[name]!(); mark('end')(); }));
  if (!record) return;
  const a = (acc[name] ??= {});
  for (const p of PHASES) for (const q of QS) (a[`${p} p${q * 100}`] ??= []).push(percentile(at[p], q));
}

for (let i = 0; i < 5; i++) for (const n of Object.keys(clients)) await burst(n, false);
for (let i = 0; i < bursts; i++) for (const n of i % 2 ? Object.keys(clients).reverse() : Object.keys(clients)) await burst(n, true);
console.log(`concurrency ${c}, ${bursts} bursts per client; ${pinned}; ms from the burst's start, median over bursts`);
console.log('phase'.padEnd(16), ...Object.keys(acc).map((n) => n.padStart(8)));
for (const k of Object.keys(acc.undici!)) console.log(k.padEnd(16), ...Object.keys(acc).map((n) => percentile(acc[n]![k]!, 0.5).toFixed(1).padStart(8)));
await engine.close();
await pool.close();
child.send({ op: 'close' });
process.exit(0);
