// Every llama.cpp golden case of the three fixture models, run CONCURRENTLY through the batching
// engine: each must equal llama.cpp's solo greedy output token for token. Where llama.cpp's own
// top-1/top-2 logit gap falls below NEAR_TIE, summation order alone can flip the token (llama.cpp
// itself changes there between its AVX2 and AVX-512 builds), so tokens are compared up to the
// first such step; every case must still match at least up to it.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalEngine } from '../../src/engine/local.js';
import { FileSource } from '../../src/model/source/file.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const have = existsSync(FIXTURES);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping llama.cpp golden comparisons`);
const NEAR_TIE = 0.01;

interface Case { prompt: string; prompt_tokens: number[] | null; tokens: number[] | null; finish_reason: string; max_new_tokens: number; top1_top2_logit_gap?: number[] }

/** Tokens that must match: up to (not including) the first near-tie step of llama.cpp's run. */
function mustMatch(c: Case): number {
  const gaps = c.top1_top2_logit_gap ?? [];
  const i = gaps.findIndex((g) => g < NEAR_TIE);
  return i < 0 ? c.tokens!.length : i;
}

const MODELS = [
  ['TinyStories-656K-Q8_0.gguf', 'TinyStories-656K-Q8_0.llamacpp.json'],
  ['TinyStories-656K.f16.gguf', 'TinyStories-656K.f16.llamacpp.json'],
  ['stories260K.gguf', 'stories260K.llamacpp.json'],
] as const;

describe.skipIf(!have)('llama.cpp goldens, all cases at once through the batching engine', () => {
  for (const [file, goldenFile] of MODELS) {
    it(file, { timeout: 900_000 }, async () => {
      const golden = JSON.parse(readFileSync(resolve(process.cwd(), 'test/goldens', goldenFile), 'utf8'));
      const cases = (golden.cases as Case[]).filter((c) => c.tokens && c.prompt_tokens);
      const src = await FileSource.open(resolve(FIXTURES, 'models', file));
      const e = await LocalEngine.create(src, { maxSeqs: 16, contextLength: 512, maxBatchTokens: 512, pageSize: 16 });
      await src.close();
      try {
        const steps0 = e.metrics.steps;
        const outs = await Promise.all(cases.map(async (c) => {
          const ids: number[] = [];
          let reason = '';
          for await (const ev of e.generate({ prompt: c.prompt_tokens!, max_tokens: c.max_new_tokens, temperature: 0 })) {
            if (ev.done) reason = ev.finish_reason;
            else ids.push(ev.token);
          }
          return { ids, reason };
        }));
        let exact = 0;
        cases.forEach((c, i) => {
          const n = mustMatch(c);
          const got = outs[i]!.ids;
          expect(got.slice(0, n), `${file} ${JSON.stringify(c.prompt)}: first ${n} tokens`).toEqual(c.tokens!.slice(0, n));
          if (n === c.tokens!.length) {
            expect(got, `${file} ${JSON.stringify(c.prompt)}`).toEqual(c.tokens);
            expect(outs[i]!.reason).toBe(c.finish_reason);
          }
          if (JSON.stringify(got) === JSON.stringify(c.tokens)) exact++;
        });
        console.log(`${file}: ${exact}/${cases.length} cases token-identical to llama.cpp; ${e.metrics.steps - steps0} shared steps`);
      } finally {
        await e.close();
      }
    });
  }
});
