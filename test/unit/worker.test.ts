// The worker protocol without a browser: the host and a WorkerEngine talk over a Node
// MessageChannel (real structured clone) and the host runs a real LocalEngine on stories260K.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import type { ChatCompletion, ChatCompletionChunk, Completion, Engine } from '../../src/api/types.js';
import { LocalEngine } from '../../src/engine/local.js';
import { createEngine, type CreateEngineOptions } from '../../src/index.js';
import { serveEngine, type Host } from '../../src/worker/host.js';
import type { Endpoint, WorkerResponse } from '../../src/worker/protocol.js';
import { RemoteStream } from '../../src/worker/remote-stream.js';
import { WorkerEngine, type WorkerEngineCreateOptions } from '../../src/worker/worker-engine.js';
import { drain } from '../helpers/drain.js';
import { until } from '../helpers/until.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const MODEL = resolve(FIXTURES, 'models/stories260K.gguf');
const have = existsSync(MODEL);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping the worker protocol tests`);
const REF: string = have ? JSON.parse(readFileSync(resolve(FIXTURES, 'references/stories260K-llama2c-reference.json'), 'utf8')).generation_cases[0].expected_text : '';
// A small streamBuffer: with a slow reader the engine pauses the sequence and resumes it once the
// credit-limited worker link drains, so the whole backpressure chain is exercised.
const ENGINE_OPTS = { contextLength: 64, maxBatchTokens: 32, maxSeqs: 2, streamBuffer: 4 } as const;

interface Rig {
  engine: WorkerEngine;
  host: Host;
  /** What the host posted, in order. */
  sent: WorkerResponse[];
  hostPort: MessagePort;
  closedByHost: () => boolean;
  /** Closes the ports only: the engine in the "worker" may be shared with other rigs. */
  dispose(): void;
}

/** The engine in the "worker": loaded once through the first rig, then served by every host. */
let local: Engine | undefined;

async function rig(opts: Partial<WorkerEngineCreateOptions> = {}): Promise<Rig> {
  const { port1, port2 } = new MessageChannel();
  const sent: WorkerResponse[] = [];
  // The host's port, with its outgoing messages recorded (to check backpressure from outside).
  const hostEp: Endpoint = {
    postMessage: (m) => { sent.push(m as WorkerResponse); port1.postMessage(m); },
    addEventListener: (t, l) => port1.addEventListener(t, l),
    removeEventListener: (t, l) => port1.removeEventListener(t, l),
    start: () => port1.start(),
  };
  let closed = false;
  const host = serveEngine(hostEp, {
    // A real load the first time; later hosts serve the same real engine (one GPU load per file).
    createEngine: async (o: CreateEngineOptions) => (local ??= await createEngine(o)),
    onClosed: () => { closed = true; },
  });
  const engine = await WorkerEngine.create(port2, { model: MODEL, ...ENGINE_OPTS, ...opts });
  return {
    engine, host, sent, hostPort: port1, closedByHost: () => closed,
    dispose() { port1.close(); port2.close(); },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RemoteStream', () => {
  it('returns credit in half-window batches and only while the stream is open', async () => {
    const credits: number[] = [];
    const s = new RemoteStream<number>(4, { credit: (n) => credits.push(n), cancel: () => credits.push(-1) });
    for (let i = 0; i < 4; i++) s.push(i);
    const it = s[Symbol.asyncIterator]();
    await it.next(); await it.next(); await it.next();
    expect(credits).toEqual([2]);
    s.close();
    expect((await it.next()).value).toBe(3);
    expect((await it.next()).done).toBe(true);
    expect(credits).toEqual([2]);
  });
  it('delivers received items before a failure (not after an abort), and cancel asks to abort once', async () => {
    const log: number[] = [];
    const s = new RemoteStream<number>(8, { credit: () => {}, cancel: () => log.push(1) });
    s.push(7);
    s.fail(new FridayError('DEVICE_LOST', 'gone'));
    const it = s[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(7);
    await expect(it.next()).rejects.toMatchObject({ code: 'DEVICE_LOST' });
    const a = new RemoteStream<number>(8, { credit: () => {}, cancel: () => {} });
    a.push(1);
    a.fail(new FridayError('ABORTED', 'stop'), true); // an abort does not wait for queued items
    await expect(a[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'ABORTED' });
    const t = new RemoteStream<number>(8, { credit: () => {}, cancel: () => log.push(2) });
    const r = t.toReadableStream().getReader();
    t.push(1);
    expect((await r.read()).value).toBe(1);
    await r.cancel();
    await r.cancel();
    expect(log).toEqual([2]);
  });
});

describe.skipIf(!have)('WorkerEngine over a MessageChannel (real LocalEngine on stories260K)', () => {
  let r: Rig;
  const progress: number[] = [];
  beforeAll(async () => {
    r = await rig({ onProgress: (p) => progress.push(p.tensorsDone / p.tensorsTotal) });
  });
  afterAll(async () => {
    r?.dispose();
    await local?.close();
  });

  it('loads, forwards progress and reports itself as a worker engine', () => {
    expect(r.engine.info).toMatchObject({ kind: 'worker', contextLength: 64 });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(1);
  });

  it('greedy from BOS matches the in-process engine and llama2.c', async () => {
    const viaWorker = await drain(r.engine.generate({ prompt: '', max_tokens: 24 }));
    const direct = await drain(local!.generate({ prompt: '', max_tokens: 24 }));
    expect(viaWorker.error).toBeUndefined();
    expect(viaWorker.tokens).toEqual(direct.tokens);
    expect(viaWorker.text).toBe(direct.text);
    expect(viaWorker.text.length).toBeGreaterThan(20);
    expect(REF.startsWith(viaWorker.text)).toBe(true);
    expect(viaWorker.final).toMatchObject({ done: true, finish_reason: 'length', usage: { completion_tokens: 24 } });
  });

  it('runs chat and completions in the worker, streamed and not', async () => {
    const params = { messages: [{ role: 'user' as const, content: 'Tell me a story' }], max_tokens: 4, temperature: 0 };
    const direct = (await local!.chat.completions.create(params)) as ChatCompletion;
    const whole = (await r.engine.chat.completions.create(params)) as ChatCompletion;
    expect(whole.choices[0]!.message.content).toBe(direct.choices[0]!.message.content);
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of await r.engine.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(direct.choices[0]!.message.content);
    expect(chunks.at(-1)!.usage?.completion_tokens).toBe(4);
    const cp = { prompt: 'Once upon', max_tokens: 4, temperature: 0 };
    const cmpl = (await r.engine.completions.create(cp)) as Completion;
    expect(cmpl.choices[0]!.text).toBe(((await local!.completions.create(cp)) as Completion).choices[0]!.text);
  });

  it('keeps error codes across the boundary', async () => {
    const long = await drain(r.engine.generate({ prompt: new Array(100).fill(300), max_tokens: 4 }));
    expect(long.error).toBeInstanceOf(FridayError);
    expect(long.error!.code).toBe('CONTEXT_LENGTH_EXCEEDED');
    // A parameter error rejects create() itself, as in-process.
    await expect(r.engine.chat.completions.create({ messages: [], n: 2 as 1 })).rejects.toMatchObject({ name: 'FridayError', code: 'INVALID_REQUEST' });
  });

  it('an AbortSignal aborts the worker-side request', async () => {
    const ac = new AbortController();
    let seen = 0;
    const o = await drain((async function* () {
      for await (const ev of r.engine.generate({ prompt: '', max_tokens: 40 }, { signal: ac.signal })) {
        if (!ev.done && ++seen === 3) ac.abort();
        yield ev;
      }
    })());
    expect(o.error?.code).toBe('ABORTED');
    expect(seen).toBe(3);
    expect(await r.engine.refreshStats()).toMatchObject({ running: 0, waiting: 0, kvPagesUsed: 0 });
    expect(local!.stats().running).toBe(0);
  });

  it('breaking out of the loop frees the worker-side sequence', async () => {
    for await (const ev of r.engine.generate({ prompt: '', max_tokens: 40 })) if (!ev.done && ev.index === 2) break;
    expect(await r.engine.refreshStats()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('a slow consumer holds the worker to its credit (window 4)', async () => {
    const w = await rig({ streamWindow: 4 });
    try {
      const before = local!.stats().tokensGenerated;
      const it = w.engine.generate({ prompt: '', max_tokens: 24 })[Symbol.asyncIterator]();
      await it.next(); await it.next();
      // The consumer stalls: the link's window fills, then the engine's own buffer (4), and the
      // engine pauses the sequence instead of generating on. Waited for by state, not by time:
      // a step on SwiftShader under load can take longer than any fixed quiet period.
      expect(local).toBeInstanceOf(LocalEngine);
      const engine = local as LocalEngine;
      await until(() => engine.schedulerStats.paused > 0, 60_000, 'the engine to pause the sequence');
      expect(engine.schedulerStats.paused).toBe(1);
      expect(engine.prometheus()).toMatch(/^friday_paused_sequences 1$/m);
      const last = local!.stats().tokensGenerated - before;
      await sleep(200);
      expect(local!.stats().tokensGenerated - before).toBe(last); // it stays paused
      expect(last).toBeGreaterThanOrEqual(2 + 4);
      expect(last).toBeLessThan(24); // paused, not finished
      // 2 read, credit returned for them (half-window batches), 4 in flight: never more.
      expect(w.sent.filter((m) => m.type === 'event').length).toBeLessThanOrEqual(2 + 4);
      let n = 2;
      while (!(await it.next()).done) n++;
      expect(n).toBe(25); // 24 tokens + the final event
    } finally {
      w.dispose();
    }
  });

  it('a load failure rejects create() with the worker-side code', async () => {
    const { port1, port2 } = new MessageChannel();
    serveEngine(port1);
    await expect(WorkerEngine.create(port2, { model: '/nonexistent/model.gguf' })).rejects.toMatchObject({ code: 'IO_ERROR' });
    port1.close();
  });

  it('a worker that stops answering fails pending streams (heartbeat)', async () => {
    const w = await rig({ heartbeatMs: 50, heartbeatTimeoutMs: 300 });
    try {
      w.host.dispose(); // the "worker" hangs: it no longer reads its port
      const t0 = performance.now();
      const o = await drain(w.engine.generate({ prompt: '', max_tokens: 4 }));
      expect(o.error).toBeInstanceOf(FridayError);
      expect(o.error).toMatchObject({ code: 'INTERNAL', details: { reason: 'worker-unresponsive' } });
      expect(performance.now() - t0).toBeLessThan(3000);
      // The engine is dead from then on, without waiting again.
      expect((await drain(w.engine.generate({ prompt: '' }))).error?.code).toBe('INTERNAL');
    } finally {
      w.dispose();
    }
  });

  it('a worker that goes away mid-stream fails the stream, and the worker side lets go', async () => {
    const w = await rig({ streamWindow: 2 });
    try {
      const it = w.engine.generate({ prompt: '', max_tokens: 40 })[Symbol.asyncIterator]();
      await it.next();
      w.hostPort.close(); // what worker termination looks like to a port
      await expect((async () => { while (!(await it.next()).done); })()).rejects.toMatchObject({ code: 'INTERNAL', details: { reason: 'worker-closed' } });
      await until(() => local!.stats().running === 0, 60_000, 'the worker side to let go of the sequence');
      expect(local!.stats()).toMatchObject({ running: 0, waiting: 0 });
    } finally {
      w.dispose();
    }
  });

  // Last: it closes the shared engine.
  it('close() fails running requests with ENGINE_CLOSED and closes the engine in the worker', async () => {
    const it = r.engine.generate({ prompt: '', max_tokens: 40 })[Symbol.asyncIterator]();
    await it.next();
    const rest = (async () => { while (!(await it.next()).done); })().then(() => undefined, (e: unknown) => e);
    await r.engine.close();
    expect(await rest).toMatchObject({ code: 'ENGINE_CLOSED' });
    expect(r.closedByHost()).toBe(true);
    expect((await drain(local!.generate({ prompt: '' }))).error?.code).toBe('ENGINE_CLOSED');
    expect((await drain(r.engine.generate({ prompt: '' }))).error?.code).toBe('ENGINE_CLOSED');
    await r.engine.close(); // idempotent
  });
});
