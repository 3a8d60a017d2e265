// Whole-model logits on the GPU (the engine's own loader and forward step) against the CPU oracle
// in llama.cpp mode (x86 Q8_0 activations, fused block sums, AVX-512 silu, f16 KV cache, flash
// attention), for each fixture model. Every kernel on the path emulates llama.cpp's rounding, so
// the logits should agree to the last bit or so; the tolerance is tight on purpose, and the
// measured max |diff| is printed for each prompt.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadedModel } from '../../src/engine/model.js';
import { FileSource } from '../../src/model/source/file.js';
import { argmax } from '../reference/ops.js';
import { maxAbsDiff } from '../reference/compare.js';
import { loadReferenceLlama } from '../reference/load.js';
import type { ReferenceLlama } from '../reference/llama.js';

const MODELS = resolve(process.cwd(), '../shared/fixtures/models');
const GOLDENS = resolve(process.cwd(), 'test/goldens');

/** |gpu - cpu| allowed per logit: a few f32 ulps of logits of magnitude ~10-20 (ulp 1e-6 - 2e-6). */
const ATOL = 1e-5;

interface GoldenCase { prompt: string; prompt_tokens: number[] }

const MODEL_CASES = [
  { file: 'TinyStories-656K-Q8_0.gguf', golden: 'TinyStories-656K-Q8_0.llamacpp.json' },
  { file: 'TinyStories-656K.f16.gguf', golden: 'TinyStories-656K.f16.llamacpp.json' },
  { file: 'stories260K.gguf', golden: 'stories260K.llamacpp.json' },
] as const;

/** Two prompts per model from its llama.cpp golden file: the longest that fits one step
 *  (maxBatchTokens 64) and "Once upon a time". */
function prompts(golden: string): GoldenCase[] {
  const cases = (JSON.parse(readFileSync(resolve(GOLDENS, golden), 'utf8')) as { cases: Partial<GoldenCase>[] }).cases
    .filter((c): c is GoldenCase => Array.isArray(c.prompt_tokens) && c.prompt_tokens.length > 0 && c.prompt_tokens.length <= 64);
  const longest = cases.reduce((a, b) => (b.prompt_tokens.length > a.prompt_tokens.length ? b : a));
  const short = cases.find((c) => c.prompt === 'Once upon a time') ?? cases[0]!;
  return [longest, short];
}

for (const { file, golden } of MODEL_CASES) {
  const path = resolve(MODELS, file);
  const have = existsSync(path) && existsSync(resolve(GOLDENS, golden));
  if (!have) console.warn(`model-logits: ${path} (or test/goldens/${golden}) not found: skipping ${file}`);
  const suite = have ? describe : describe.skip;

  suite(`${file}: GPU forward logits vs CPU oracle (llamacpp, f16 KV, flash attention)${have ? '' : ` [SKIPPED: fixture ${path} not found]`}`, () => {
    let m: LoadedModel;
    let llama: ReferenceLlama;
    beforeAll(async () => {
      const src = await FileSource.open(path);
      try {
        m = await LoadedModel.load(src, { contextLength: 256, maxBatchTokens: 64 });
      } finally {
        await src.close();
      }
      ({ llama } = await loadReferenceLlama(path, { actMode: 'llamacpp', kvDtype: 'f16', flashAttention: true }));
    });
    afterAll(() => m?.destroy());

    for (const c of have ? prompts(golden) : []) {
      it(`prompt ${JSON.stringify(c.prompt)} (${c.prompt_tokens.length} tokens): last-row logits`, async () => {
        const ids = c.prompt_tokens;
        const n = ids.length;
        m.kv.setPages(0, Array.from({ length: m.kv.shape.maxPagesPerSeq }, (_, i) => i));
        const gpu = await m.forward.step({ tokens: Uint32Array.from(ids), positions: Uint32Array.from(ids.keys()), slots: new Uint32Array(n), outRows: Uint32Array.of(n - 1) }, 'logits');
        llama.resetSeq(0);
        const V = m.config.vocabSize;
        const cpu = llama.forward(ids.map((token, pos) => ({ seq: 0, token, pos }))).subarray((n - 1) * V, n * V);
        const worst = maxAbsDiff(gpu, cpu);
        let same = 0;
        for (let i = 0; i < V; i++) if (Object.is(gpu[i], cpu[i])) same++;
        const where = worst.index >= 0 ? ` at token ${worst.index} (gpu ${gpu[worst.index]}, cpu ${cpu[worst.index]})` : '';
        console.log(`model-logits ${file} prompt ${JSON.stringify(c.prompt)} (${n} tokens): max |diff| ${worst.diff.toExponential(3)}${where}; ${same}/${V} logits bit-identical; argmax gpu ${argmax(gpu)} cpu ${argmax(cpu)}`);
        expect(gpu.length).toBe(V);
        expect(worst.diff, `max |diff| ${worst.diff} at token ${worst.index}: gpu ${gpu[worst.index]}, cpu ${cpu[worst.index]}`).toBeLessThanOrEqual(ATOL);
        expect(argmax(gpu)).toBe(argmax(cpu));
      });
    }
  });
}
