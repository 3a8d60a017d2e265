// The stories260K fidelity check in Chromium's own WebGPU (SwiftShader here), not only in Node.
import { describe, expect, it } from 'vitest';
import { LoadedModel } from '../../src/engine/model.js';
import { generateSolo } from '../../src/engine/solo.js';
import { BlobSource } from '../../src/model/source/blob.js';

declare const __FIXTURES__: string;
const fixture = (p: string) => fetch(`/@fs${__FIXTURES__}/${p}`);

describe('stories260K in Chromium', () => {
  it('greedy from BOS reproduces llama2.c exactly (200 steps)', async (ctx) => {
    const res = await fixture('models/stories260K.gguf');
    if (!res.ok) {
      console.warn(`shared fixtures not found at ${__FIXTURES__}: skipping the browser model test`);
      ctx.skip();
    }
    expect(navigator.gpu, 'WebGPU must be available in the test browser').toBeDefined();
    const ref = (await (await fixture('references/stories260K-llama2c-reference.json')).json()).generation_cases[0];
    const m = await LoadedModel.load(new BlobSource(await res.blob(), 'stories260K.gguf'), { contextLength: 256, maxBatchTokens: 32 });
    try {
      expect(m.gpu.info.is_software).toBeTypeOf('boolean');
      const bos = [m.tokenizer.bosId!];
      const out = await generateSolo(m, bos, { maxTokens: ref.steps });
      const d = m.tokenizer.createDecoder({ atStart: true });
      expect(out.tokens.map((t) => d.push(t)).join('') + d.flush()).toBe(ref.expected_text);
    } finally {
      m.destroy();
    }
  });
});
