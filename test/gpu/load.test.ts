// Loading a real model onto a real device: progress and the early tokenizer, weights split across
// bindings, HTTP with a dropped connection, split GGUF files, aborts at every phase (every buffer
// freed), refusing what won't fit, and inspectModel. Loads share one caller-owned GpuContext so
// pipelines compile once (SwiftShader is slow); greedy output must match across all of them.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { GpuContext } from '../../src/gpu/context.js';
import type { LoadProgress } from '../../src/engine/load-progress.js';
import { LoadedModel, type LoadOptions } from '../../src/engine/model.js';
import { generateSolo } from '../../src/engine/solo.js';
import { inspectModel } from '../../src/model/inspect.js';
import { FileSource } from '../../src/model/source/file.js';
import { openSource } from '../../src/model/source/open.js';
import type { ByteSource } from '../../src/model/source/types.js';
import { acquireDevice } from '../../src/platform/gpu.js';
import { serveModels } from '../../scripts/lib/model-server.js';
import { writeSyntheticModel } from '../../scripts/lib/synth.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const Q8 = resolve(FIXTURES, 'models/TinyStories-656K-Q8_0.gguf');
const have = existsSync(Q8);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping the model load tests`);

const OPTS: LoadOptions = { contextLength: 64, maxBatchTokens: 16 };
const SPLIT_LIMIT = 128 << 10; // token_embd (Q8_0, 2048 x 128) is 272 KiB: 3 parts

describe.skipIf(!have)('LoadedModel.load', () => {
  let gpu: GpuContext;
  let base: number;
  let expected: number[];
  const dir = mkdtempSync(join(tmpdir(), 'friday-load-'));

  beforeAll(async () => {
    gpu = new GpuContext(await acquireDevice());
    base = gpu.liveBuffers;
  });
  afterAll(() => {
    gpu?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function withSource<T>(open: () => Promise<ByteSource>, fn: (s: ByteSource) => Promise<T>): Promise<T> {
    const s = await open();
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }

  async function greedyRun(src: ByteSource, opts: LoadOptions = {}): Promise<{ tokens: number[]; model: LoadedModel }> {
    const model = await LoadedModel.load(src, { ...OPTS, gpu, ...opts });
    try {
      return { tokens: (await generateSolo(model, [model.tokenizer.bosId!], { maxTokens: 16 })).tokens, model };
    } finally {
      model.destroy();
    }
  }

  it('streams a file: phases in order, the tokenizer before any weight, counters reach the totals', async () => {
    const events: LoadProgress[] = [];
    const live: number[] = []; // live GPU buffers at each upload event
    let tokenizerAt = -1;
    await withSource(() => FileSource.open(Q8), async (src) => {
      const { tokens, model } = await greedyRun(src, {
        chunkBytes: 64 << 10, progressIntervalMs: 0,
        onProgress: (p: LoadProgress) => { events.push(p); if (p.phase === 'upload') live.push(gpu.liveBuffers); },
        onTokenizer: (tok) => { tokenizerAt = events.length; expect(tok.encode('Once upon a time').length).toBeGreaterThan(2); },
      });
      expected = tokens;
      expect(model.weights.tensors.size).toBe(0); // destroyed by greedyRun
    });
    const phases = events.map((e) => e.phase).filter((p, i, a) => p !== a[i - 1]);
    expect(phases).toEqual(['header', 'upload', 'compile', 'warmup', 'ready']);
    expect(events[tokenizerAt - 1]!.phase).toBe('header'); // handed out before the first weight byte
    const up = events.filter((e) => e.phase === 'upload');
    expect(up.length).toBeGreaterThan(5);
    for (let i = 1; i < up.length; i++) expect(up[i]!.bytesDone).toBeGreaterThanOrEqual(up[i - 1]!.bytesDone);
    // Weight buffers are created as the stream reaches their tensors, not all before it starts.
    for (let i = 1; i < live.length; i++) expect(live[i]!).toBeGreaterThanOrEqual(live[i - 1]!);
    expect(live.at(-1)! - live[0]!).toBeGreaterThan(up.at(-1)!.tensorsTotal / 2);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ phase: 'ready', source: 'local', tensorsDone: last.tensorsTotal, bytesDone: last.bytesTotal });
    expect(last.rate).toBeGreaterThan(0);
    expect(gpu.liveBuffers).toBe(base);
  });

  it('splits token_embd over 3 bindings under a lowered limit: same greedy output', async () => {
    // A device of its own, acquired with the artificial limit (Dawn keeps device.limits at the
    // defaults; the loader honours deviceOptions.limits itself).
    await withSource(() => FileSource.open(Q8), async (src) => {
      const m = await LoadedModel.load(src, { ...OPTS, deviceOptions: { limits: { maxStorageBufferBindingSize: SPLIT_LIMIT } } });
      try {
        const embd = m.weights.get('token_embd.weight');
        expect(embd.parts.map((p) => [p.rowStart, p.rowCount])).toEqual([[0, 683], [683, 683], [1366, 682]]);
        expect(embd.parts.every((p) => p.buffer.size <= SPLIT_LIMIT)).toBe(true);
        const labels = m.forward.ops(1, 1).map((o) => o.label.split(' ')[0]);
        expect(labels.filter((l) => /^embed\[\d\]$/.test(l!))).toHaveLength(3);
        expect(labels.filter((l) => /^output\[\d\]$/.test(l!))).toHaveLength(3); // tied: the lm head is split too
        expect((await generateSolo(m, [m.tokenizer.bosId!], { maxTokens: 16 })).tokens).toEqual(expected);
      } finally {
        m.destroy();
      }
    });
  });

  it('downloads over HTTP through a dropped connection: same output, "download" phase', async () => {
    const server = await serveModels({ 'q8.gguf': Q8 }, { drops: 2, dropAfter: 200_000 });
    try {
      const phases = new Set<string>();
      const { tokens } = await withSource(() => openSource(server.url('q8.gguf'), { cache: false, retries: 3 }), (src) =>
        greedyRun(src, { onProgress: (p: LoadProgress) => { phases.add(p.phase); expect(p.source).toBe('network'); } }));
      expect(tokens).toEqual(expected);
      expect(phases.has('download')).toBe(true);
      // This model is smaller than the 1 MiB probe: the probe is the whole download (dropped twice, resumed).
      expect(server.log.map((r) => r.range)).toEqual(Array(3).fill('bytes=0-1048575'));
    } finally {
      await server.close();
    }
    expect(gpu.liveBuffers).toBe(base);
  });

  it('loads a model split in 3 GGUF files exactly like the same model in one file', async () => {
    // Shaped like the fixture (so its pipelines are reused), random weights from one seed.
    const spec = { dim: 128, layers: 2, dtype: 'Q8_0', seed: 11, heads: 8, kvHeads: 4, ffnDim: 384, vocab: 2048, tied: true, normEps: 1e-6 } as const;
    await writeSyntheticModel(join(dir, 'whole.gguf'), spec);
    const { files } = await writeSyntheticModel(join(dir, 'parts.gguf'), { ...spec, split: 3 });
    const whole = await withSource(() => openSource(join(dir, 'whole.gguf')), (s) => greedyRun(s));
    const split = await withSource(() => openSource(files[0]!), (s) => greedyRun(s));
    expect(split.tokens).toEqual(whole.tokens);
    expect(split.tokens).toHaveLength(16);
  });

  it('aborts at every phase and destroys every buffer it created', async () => {
    const cases: [string, (ac: AbortController) => Partial<LoadOptions>][] = [
      ['before start', (ac) => (ac.abort(), {})],
      ['header', (ac) => ({ onProgress: (p: LoadProgress) => { if (p.phase === 'header') ac.abort(); } })],
      ['tokenizer', (ac) => ({ onTokenizer: () => ac.abort() })],
      ['upload', (ac) => ({ chunkBytes: 64 << 10, progressIntervalMs: 0, onProgress: (p: LoadProgress) => { if (p.phase === 'upload' && p.bytesDone > 0 && p.bytesDone < p.bytesTotal) ac.abort(); } })],
      ['compile', (ac) => ({ onProgress: (p: LoadProgress) => { if (p.phase === 'compile') ac.abort(); } })],
      ['warmup', (ac) => ({ onProgress: (p: LoadProgress) => { if (p.phase === 'warmup') ac.abort(); } })],
    ];
    for (const [phase, hook] of cases) {
      const ac = new AbortController();
      const err = await withSource(() => FileSource.open(Q8), (src) => LoadedModel.load(src, { ...OPTS, gpu, signal: ac.signal, ...hook(ac) }).then(
        (m) => { m.destroy(); throw new Error(`abort at ${phase} did not stop the load`); },
        (e: FridayError) => e,
      ));
      expect(err.code, phase).toBe('ABORTED');
      expect(gpu.liveBuffers, `live buffers after abort at ${phase}`).toBe(base);
    }
    await new Promise((r) => setTimeout(r, 300)); // nothing arrives late either
    await gpu.device.queue.onSubmittedWorkDone();
    expect(gpu.liveBuffers).toBe(base);
    gpu.check();
  });

  it('refuses a model that cannot fit before allocating anything, saying why', async () => {
    const err = await withSource(() => FileSource.open(Q8), (src) => LoadedModel.load(src, { ...OPTS, gpu, limits: { maxStorageBufferBindingSize: 100 } }).catch((e: FridayError) => e));
    expect(err).toBeInstanceOf(FridayError);
    expect((err as FridayError).code).toBe('MODEL_TOO_LARGE');
    expect((err as FridayError).message).toMatch(/token_embd.weight .* can't be split by rows/);
    expect(gpu.liveBuffers).toBe(base);
  });

  it('LoadedModel.start hands out the tokenizer before the model is ready', async () => {
    await withSource(() => FileSource.open(Q8), async (src) => {
      const load = LoadedModel.start(src, { ...OPTS, gpu });
      let ready = false;
      void load.model.then(() => { ready = true; });
      const tok = await load.tokenizer;
      expect(ready).toBe(false);
      const ids = tok.encode('Once upon a time', { addSpecial: true });
      const m = await load.model;
      try {
        expect(m.tokenizer).toBe(tok);
        expect((await generateSolo(m, ids, { maxTokens: 4 })).tokens).toHaveLength(4);
      } finally {
        m.destroy();
      }
    });
  });

  it('inspectModel answers fits / won\'t fit from the header alone', async () => {
    const roomy = await inspectModel(Q8, { contextLength: 256, limits: { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27 } });
    expect(roomy).toMatchObject({ fits: true, reasons: [], splits: [] });
    expect(roomy.summary).toMatch(/^fits: 0\.7 MiB of weights \+ 0\.1 MiB of KV cache for 256 tokens$/);
    const tight = await inspectModel(Q8, { maxBatchTokens: 16, limits: { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: SPLIT_LIMIT } });
    expect(tight.fits).toBe(true);
    expect(tight.splits).toEqual([{ tensor: 'token_embd.weight', parts: 3 }]);
    const tiny = await inspectModel(Q8, { maxBatchTokens: 16, limits: { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 100 } });
    expect(tiny.fits).toBe(false);
    expect(tiny.summary).toMatch(/^won't fit because tensor token_embd.weight \(272.0 KiB\) and 19 more can't be split by rows to fit one storage binding \(100 bytes\); /);
    expect(tiny.reasons.some((r) => /KV cache/.test(r))).toBe(true);
    const adapter = await inspectModel(Q8); // this machine's adapter
    expect(adapter.fits).toBe(true);
    expect(adapter.limits!.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(2 ** 27);
  });
});
