// Prefill and decode tokens/s per fixture model, with per-token GPU counters.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { LoadedModel } from '../src/engine/model.js';
import { FileSource } from '../src/model/source/file.js';
import { acquireDevice } from '../src/platform/gpu.js';
import { GpuContext, type GpuCounters } from '../src/gpu/context.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures/models');
const MODELS = ['stories260K.gguf', 'TinyStories-656K-Q8_0.gguf', 'TinyStories-656K.f16.gguf'];
const PROMPT_TOKENS = 64;
const DECODE_TOKENS = 32;

const diff = (a: GpuCounters, b: GpuCounters, per: number) =>
  Object.fromEntries(Object.keys(a).map((k) => [k, (b[k as keyof GpuCounters] - a[k as keyof GpuCounters]) / per]));

export async function benchModels(): Promise<unknown> {
  const device = await acquireDevice();
  const gpu = new GpuContext(device); // shared by every model (and so are compiled pipelines)
  const rows = [];
  for (const name of MODELS) {
    const path = resolve(FIXTURES, name);
    if (!existsSync(path)) { console.error(`skip ${name}: not found`); continue; }
    const src = await FileSource.open(path);
    const t0 = performance.now();
    const m = await LoadedModel.load(src, { gpu, contextLength: 256, maxBatchTokens: PROMPT_TOKENS });
    const loadMs = performance.now() - t0;
    await src.close();
    m.kv.setPages(0, Array.from({ length: m.kv.shape.maxPagesPerSeq }, (_, i) => i));
    const prompt = Array.from({ length: PROMPT_TOKENS }, (_, i) => (i * 7 + 3) % m.config.vocabSize);
    const step = (ids: number[], pos: number) => m.forward.step({
      tokens: Uint32Array.from(ids), positions: Uint32Array.from(ids, (_, i) => pos + i), slots: new Uint32Array(ids.length), outRows: Uint32Array.of(ids.length - 1),
    }, 'ids');
    await step(prompt, 0); // warm-up: first-use costs (shader JIT in the driver)
    const tp = performance.now();
    let next = (await step(prompt, 0))[0]!;
    const prefillMs = performance.now() - tp;
    const before = { ...m.gpu.counters };
    const td = performance.now();
    for (let i = 0; i < DECODE_TOKENS; i++) next = (await step([next], PROMPT_TOKENS + i))[0]!;
    const decodeMs = performance.now() - td;
    const perToken = diff(before, m.gpu.counters, DECODE_TOKENS);
    rows.push({
      model: name, load_ms: Math.round(loadMs), prefill_tokens: PROMPT_TOKENS, prefill_tokens_per_s: +(PROMPT_TOKENS / (prefillMs / 1000)).toFixed(1),
      decode_tokens: DECODE_TOKENS, decode_tokens_per_s: +(DECODE_TOKENS / (decodeMs / 1000)).toFixed(2), per_decode_token: perToken,
    });
    console.log(rows.at(-1));
    m.destroy();
  }
  gpu.destroy();
  return { adapter: device.info, rows };
}
