// The engine in a real dedicated Worker in Chromium (WebGPU on SwiftShader): the same text as an
// engine in the page, and aborts, error codes, close and termination across the boundary.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import type { ChatCompletionChunk, Engine, GenerateEvent } from '../../src/api/types.js';
import { createEngine } from '../../src/index.js';
import { WorkerEngine } from '../../src/worker/worker-engine.js';

declare const __FIXTURES__: string;
const fixtureUrl = (p: string) => `/@fs${__FIXTURES__}/${p}`;
const MODEL_URL = fixtureUrl('models/stories260K.gguf');
const OPTS = { contextLength: 64, maxBatchTokens: 32, maxSeqs: 2 } as const;

const res = await fetch(MODEL_URL).catch(() => undefined);
const have = res?.ok === true;
if (!have) console.warn(`shared fixtures not found at ${__FIXTURES__}: skipping the worker browser tests`);
const modelBlob = have ? await res!.blob() : undefined;

const spawn = () => new Worker(new URL('../../src/worker/worker.ts', import.meta.url), { type: 'module' });

async function drain(stream: AsyncIterable<GenerateEvent>, onToken?: (n: number) => void) {
  const o: { tokens: number[]; text: string; error?: FridayError } = { tokens: [], text: '' };
  try {
    for await (const ev of stream) {
      o.text += ev.text;
      if (!ev.done) { o.tokens.push(ev.token); onToken?.(o.tokens.length); }
    }
  } catch (e) {
    o.error = e as FridayError;
  }
  return o;
}

describe.skipIf(!have)('WorkerEngine in a dedicated Worker (Chromium)', () => {
  let page: Engine;
  let worker: WorkerEngine;
  const progress: number[] = [];
  let refText = '';
  beforeAll(async () => {
    expect(navigator.gpu, 'WebGPU must be available in the test browser').toBeDefined();
    refText = (await (await fetch(fixtureUrl('references/stories260K-llama2c-reference.json'))).json()).generation_cases[0].expected_text;
    // The worker loads by URL (Range requests from inside the worker); the page from the Blob.
    worker = await WorkerEngine.create(spawn(), { model: MODEL_URL, ...OPTS, onProgress: (p) => progress.push(p.tensorsDone / p.tensorsTotal) });
    page = await createEngine({ model: modelBlob!, ...OPTS });
  });
  afterAll(async () => {
    await worker?.close();
    await page?.close();
  });

  it('greedy from BOS gives the same text as the page engine and llama2.c', async () => {
    expect(worker.info).toMatchObject({ kind: 'worker', contextLength: 64 });
    expect(progress.at(-1)).toBe(1);
    const viaWorker = await drain(worker.generate({ prompt: '', max_tokens: 24 }));
    const inPage = await drain(page.generate({ prompt: '', max_tokens: 24 }));
    expect(viaWorker.error).toBeUndefined();
    expect(viaWorker.tokens).toEqual(inPage.tokens);
    expect(viaWorker.text).toBe(inPage.text);
    expect(viaWorker.text.length).toBeGreaterThan(20);
    expect(refText.startsWith(viaWorker.text)).toBe(true);
  });

  it('streams chat chunks from the worker', async () => {
    const params = { messages: [{ role: 'user' as const, content: 'Hi' }], max_tokens: 4, temperature: 0 };
    let text = '';
    for await (const c of await worker.chat.completions.create({ ...params, stream: true })) text += (c as ChatCompletionChunk).choices[0]?.delta.content ?? '';
    expect(text).toBe((await page.chat.completions.create(params)).choices[0]!.message.content);
  });

  it('an AbortSignal aborts mid-stream across the boundary', async () => {
    const ac = new AbortController();
    const o = await drain(worker.generate({ prompt: '', max_tokens: 40 }, { signal: ac.signal }), (n) => { if (n === 3) ac.abort(); });
    expect(o.error).toBeInstanceOf(FridayError);
    expect(o.error!.code).toBe('ABORTED');
    expect(o.tokens.length).toBe(3);
    expect(await worker.refreshStats()).toMatchObject({ running: 0, waiting: 0, kvPagesUsed: 0 });
    expect(worker.stats().running).toBe(0);
  });

  it('an engine error keeps its code: a prompt over the context is CONTEXT_LENGTH_EXCEEDED', async () => {
    const o = await drain(worker.generate({ prompt: new Array(100).fill(300), max_tokens: 2 }));
    expect(o.error).toBeInstanceOf(FridayError);
    expect(o.error!.code).toBe('CONTEXT_LENGTH_EXCEEDED');
  });

  it('close() ends running requests with ENGINE_CLOSED and refuses new ones', async () => {
    const it = worker.generate({ prompt: '', max_tokens: 40 })[Symbol.asyncIterator]();
    await it.next();
    const rest = (async () => { while (!(await it.next()).done); })().then(() => undefined, (e: unknown) => e);
    await worker.close();
    expect(await rest).toMatchObject({ code: 'ENGINE_CLOSED' });
    expect((await drain(worker.generate({ prompt: '' }))).error?.code).toBe('ENGINE_CLOSED');
  });
});

describe.skipIf(!have)('WorkerEngine: a terminated worker', () => {
  it('fails the pending stream instead of hanging', async () => {
    const w = spawn();
    const engine = await WorkerEngine.create(w, { model: modelBlob!, ...OPTS, heartbeatMs: 100, heartbeatTimeoutMs: 1500 });
    const t0 = performance.now();
    const o = await drain(engine.generate({ prompt: '', max_tokens: 40 }), (n) => { if (n === 2) w.terminate(); });
    expect(o.error).toBeInstanceOf(FridayError);
    expect(o.error).toMatchObject({ code: 'INTERNAL', details: { reason: 'worker-unresponsive' } });
    expect(performance.now() - t0).toBeLessThan(10_000);
    await engine.close();
  });
});
