// Whole models on the GPU against llama2.c's and llama.cpp's outputs, and against the CPU oracle.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadedModel } from '../../src/engine/model.js';
import { generateSolo } from '../../src/engine/solo.js';
import { FileSource } from '../../src/model/source/file.js';
import { acquireDevice, type AcquiredDevice } from '../../src/platform/gpu.js';
import { loadReferenceLlama } from '../reference/load.js';
import { assertClose } from '../reference/compare.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const have = existsSync(FIXTURES);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping whole-model fidelity tests`);
const model = (n: string) => resolve(FIXTURES, 'models', n);
const json = (p: string) => JSON.parse(readFileSync(p, 'utf8'));

interface GoldenCase { prompt: string; prompt_tokens: number[]; tokens: number[]; text: string; max_new_tokens: number }

let device: AcquiredDevice;
const open: LoadedModel[] = [];

async function load(name: string): Promise<LoadedModel> {
  const src = await FileSource.open(model(name));
  try {
    const m = await LoadedModel.load(src, { device, contextLength: 512, maxBatchTokens: 64 });
    open.push(m);
    return m;
  } finally {
    await src.close();
  }
}

/** Decodes generated ids as the reference tools print them. */
function text(m: LoadedModel, promptIds: number[], ids: number[]): string {
  const d = m.tokenizer.createDecoder({ atStart: promptIds.length === 1 });
  return ids.map((t) => d.push(t)).join('') + d.flush();
}

describe.skipIf(!have)('whole-model fidelity on WebGPU', () => {
  beforeAll(async () => { device = await acquireDevice(); });
  afterAll(() => { for (const m of open) m.destroy(); });

  it('stories260K greedy from BOS reproduces llama2.c exactly (200 steps)', async () => {
    const ref = json(resolve(FIXTURES, 'references/stories260K-llama2c-reference.json')).generation_cases[0];
    expect(ref.run_c_args).toBe('-t 0.0 -n 200');
    const m = await load('stories260K.gguf');
    const bos = [m.tokenizer.bosId!];
    // run.c samples a token at every position 0..steps-1, BOS being position 0's input: 200 tokens.
    const res = await generateSolo(m, bos, { maxTokens: ref.steps });
    expect(text(m, bos, res.tokens)).toBe(ref.expected_text);
  });

  it('TinyStories-656K Q8_0 reproduces llama.cpp\'s reference continuations, and tokenizes prompts like llama.cpp', async () => {
    const ref = json(resolve(FIXTURES, 'references/TinyStories-656K-Q8_0-llamacpp-greedy.json'));
    const golden = json(resolve(process.cwd(), 'test/goldens/TinyStories-656K-Q8_0.llamacpp.json'));
    const m = await load('TinyStories-656K-Q8_0.gguf');
    for (const c of ref.cases as { prompt: string; max_new_tokens: number; expected_text: string }[]) {
      const ids = m.tokenizer.encode(c.prompt, { addSpecial: true, parseSpecial: true });
      const res = await generateSolo(m, ids, { maxTokens: c.max_new_tokens });
      expect(text(m, ids, res.tokens), `prompt ${JSON.stringify(c.prompt)}`).toBe(c.expected_text);
    }
    for (const c of (golden.cases as GoldenCase[]).filter((g) => g.prompt_tokens)) {
      expect(m.tokenizer.encode(c.prompt, { addSpecial: true }), JSON.stringify(c.prompt)).toEqual(c.prompt_tokens);
    }
  });

  it('TinyStories-656K F16 logits are bit-identical to the CPU oracle in llama.cpp mode', async () => {
    const golden = json(resolve(process.cwd(), 'test/goldens/TinyStories-656K.f16.llamacpp.json'));
    const m = await load('TinyStories-656K.f16.gguf');
    const { llama } = await loadReferenceLlama(model('TinyStories-656K.f16.gguf'), { actMode: 'llamacpp', kvDtype: 'f16' });
    const c: GoldenCase = golden.cases[1];
    const ids = c.prompt_tokens;
    m.kv.setPages(0, Array.from({ length: m.kv.shape.maxPagesPerSeq }, (_, i) => i));
    const n = ids.length;
    const gpu = await m.forward.step({ tokens: Uint32Array.from(ids), positions: Uint32Array.from(ids.keys()), slots: new Uint32Array(n), outRows: Uint32Array.of(n - 1) }, 'logits');
    const cpu = llama.forward(ids.map((token, pos) => ({ seq: 0, token, pos })));
    const V = m.config.vocabSize;
    assertClose(gpu, cpu.subarray((n - 1) * V, n * V), { atol: 0, rtol: 0, label: 'f16 last-row logits', shape: [V] });
  });
});
