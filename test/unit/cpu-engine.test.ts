// The CPU fallback (src/engine/cpu): weight decoding, and whole-model generations against outputs
// published by other implementations (llama2.c's stories260K, llama.cpp's TinyStories-656K goldens).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CpuLlama, dequantize, f16ToF32, generateCpu } from '../../src/engine/cpu/index.js';
import { GGMLType } from '../../src/model/dtypes.js';
import { FileSource } from '../../src/model/source/file.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = resolve(ROOT, '../shared/fixtures');
const haveFixtures = existsSync(resolve(FIXTURES, 'models/stories260K.gguf'));
const d = haveFixtures ? describe : describe.skip;
const title = (t: string) => (haveFixtures ? t : `${t} (skipped: shared fixtures not found at ${FIXTURES})`);
if (!haveFixtures) console.warn(`shared fixtures not found at ${FIXTURES}: skipping the CPU engine's whole-model tests`);

async function load(path: string): Promise<CpuLlama> {
  const src = await FileSource.open(path);
  try {
    return await CpuLlama.load(src);
  } finally {
    await src.close();
  }
}

describe('CPU weight decoding', () => {
  it('decodes f16 normals, subnormals, zero and infinities', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x3555)).toBeCloseTo(0.33325195, 8);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
  });

  it('decodes F32, F16 and BF16 tensors', () => {
    const f32 = new Uint8Array(Float32Array.of(1.5, -2.25).buffer);
    expect([...dequantize(GGMLType.F32, f32, 2)]).toEqual([1.5, -2.25]);
    expect([...dequantize(GGMLType.F16, new Uint8Array(Uint16Array.of(0x3e00, 0xc100).buffer), 2)]).toEqual([1.5, -2.5]);
    expect([...dequantize(GGMLType.BF16, new Uint8Array(Uint16Array.of(0x3fc0, 0xc010).buffer), 2)]).toEqual([1.5, -2.25]);
  });

  it('decodes Q8_0 blocks as d * q', () => {
    const block = new Uint8Array(34);
    new DataView(block.buffer).setUint16(0, 0x3800, true); // d = 0.5
    for (let j = 0; j < 32; j++) block[2 + j] = (j - 16) & 0xff; // q = -16 .. 15
    const x = dequantize(GGMLType.Q8_0, block, 32);
    expect([...x]).toEqual(Array.from({ length: 32 }, (_, j) => 0.5 * (j - 16)));
  });

  it('decodes Q4_0 blocks: low nibbles first, then high nibbles, minus 8', () => {
    const block = new Uint8Array(18);
    new DataView(block.buffer).setUint16(0, 0x4000, true); // d = 2
    for (let j = 0; j < 16; j++) block[2 + j] = j | ((15 - j) << 4);
    const x = dequantize(GGMLType.Q4_0, block, 32);
    expect([...x.subarray(0, 16)]).toEqual(Array.from({ length: 16 }, (_, j) => 2 * (j - 8)));
    expect([...x.subarray(16)]).toEqual(Array.from({ length: 16 }, (_, j) => 2 * (15 - j - 8)));
  });

  it('refuses types it cannot decode, naming them', () => {
    expect(() => dequantize(12, new Uint8Array(144), 256)).toThrow(/Q4_K/);
  });
});

d('CPU engine on reference models', () => {
  it(title('stories260K: greedy from BOS reproduces llama2.c run.c for 60 tokens'), async () => {
    const ref = JSON.parse(readFileSync(resolve(FIXTURES, 'references/stories260K-llama2c-reference.json'), 'utf8'));
    const expected: string = ref.generation_cases[0].expected_text;
    const model = await load(resolve(FIXTURES, 'models/stories260K.gguf'));
    const tok = model.tokenizer;
    const res = await generateCpu(model, [tok.bosId!], { maxTokens: 60, temperature: 0 });
    expect(res.tokens).toHaveLength(60);
    const text = tok.decode(res.tokens);
    expect(text.length).toBeGreaterThan(150);
    expect(expected.startsWith(text)).toBe(true);
  });

  it(title('stories260K: the KV cache gives the same logits as a fresh run'), async () => {
    const model = await load(resolve(FIXTURES, 'models/stories260K.gguf'));
    const ids = model.tokenizer.encode('Once upon a time, there was a dog');
    let last!: Float32Array;
    for (let i = 0; i < ids.length; i++) last = Float32Array.from(model.forward(ids[i]!, i));
    // Overwrite the cache with another prompt, then replay the first: positions are independent.
    const other = model.tokenizer.encode('The cat sat on the mat and looked');
    for (let i = 0; i < other.length; i++) model.forward(other[i]!, i);
    let again!: Float32Array;
    for (let i = 0; i < ids.length; i++) again = model.forward(ids[i]!, i);
    expect([...again]).toEqual([...last]);
    expect(() => model.forward(1, model.contextLength)).toThrow(/beyond the context/);
  });

  it(title('TinyStories-656K (F16 and Q8_0): greedy matches llama.cpp\'s first tokens from BOS'), async () => {
    for (const [file, golden] of [['TinyStories-656K.f16.gguf', 'TinyStories-656K.f16.llamacpp.json'], ['TinyStories-656K-Q8_0.gguf', 'TinyStories-656K-Q8_0.llamacpp.json']] as const) {
      const g = JSON.parse(readFileSync(resolve(ROOT, 'test/goldens', golden), 'utf8'));
      const c = g.cases.find((x: { prompt: string }) => x.prompt === '');
      const model = await load(resolve(FIXTURES, 'models', file));
      const res = await generateCpu(model, c.prompt_tokens, { maxTokens: 32, temperature: 0 });
      expect(res.tokens, file).toEqual(c.tokens.slice(0, 32));
    }
  });

  it(title('sampling is reproducible from a seed'), async () => {
    const model = await load(resolve(FIXTURES, 'models/stories260K.gguf'));
    const bos = [model.tokenizer.bosId!];
    const a = await generateCpu(model, bos, { maxTokens: 40, temperature: 0.8, seed: 7 });
    const b = await generateCpu(model, bos, { maxTokens: 40, temperature: 0.8, seed: 7 });
    const c = await generateCpu(model, bos, { maxTokens: 40, temperature: 0.8, seed: 8 });
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });
});
