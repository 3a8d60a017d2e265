// The model shipped in models/ for `npm start`: small, a valid llama GGUF Friday reads, a chat
// template with its own turn tokens, a tokenizer that round-trips the corpus, and (on the CPU path,
// no GPU needed) text made of real words from the corpus generator's vocabulary.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { chat, corpusWords } from '../../scripts/corpus/chat.js';
import { story } from '../../scripts/corpus/stories.js';
import { Dice } from '../../scripts/corpus/writer.js';
import { startCommand } from '../../src/cli/start.js';
import { ChatTemplate } from '../../src/engine/chat-template.js';
import { CpuLlama, generateCpu } from '../../src/engine/cpu/index.js';
import { readLlamaConfig } from '../../src/model/config.js';
import { readGGUF } from '../../src/model/gguf/reader.js';
import type { GGUFFile } from '../../src/model/gguf/types.js';
import { FileSource } from '../../src/model/source/file.js';
import { createTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';

const MODEL = fileURLToPath(new URL('../../models/friday-default.gguf', import.meta.url));
const WORDS = corpusWords();

/** Share of the words in `text` that the corpus generator can produce. */
function realWordShare(text: string): { share: number; words: number; unknown: string[] } {
  const words = [...text.toLowerCase().matchAll(/[a-z]+(?:'[a-z]+)?/g)].map((m) => m[0]);
  const unknown = words.filter((w) => !WORDS.has(w));
  return { share: words.length ? 1 - unknown.length / words.length : 0, words: words.length, unknown };
}

let gguf: GGUFFile;
let tok: Tokenizer;
let model: CpuLlama;

beforeAll(async () => {
  const src = await FileSource.open(MODEL);
  try {
    gguf = await readGGUF(src);
    model = await CpuLlama.load(src);
  } finally {
    await src.close();
  }
  tok = createTokenizer(gguf.metadata);
});

describe('models/friday-default.gguf', () => {
  it('is at most 10 MB', () => {
    expect(statSync(MODEL).size).toBeLessThanOrEqual(10_000_000);
  });

  it('is a llama model whose config Friday accepts', () => {
    const c = readLlamaConfig(gguf);
    expect(c.architecture).toBe('llama');
    expect(c.vocabSize).toBe(tok.vocabSize);
    expect(c.contextLength).toBeGreaterThanOrEqual(256);
    expect(gguf.metadata.get('tokenizer.ggml.model')).toBe('llama');
    expect(gguf.metadata.get('tokenizer.ggml.add_bos_token')).toBe(true);
    expect(gguf.metadata.get('tokenizer.ggml.add_space_prefix')).toBe(true);
  });

  it('has a SentencePiece vocabulary with byte fallback and chat control tokens', () => {
    const tokens = gguf.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    for (let b = 0; b < 256; b++) expect(tokens).toContain(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    for (const t of ['<|user|>', '<|assistant|>']) expect(tok.isControl(tokens.indexOf(t))).toBe(true);
    expect(tok.isEog(tok.eosId!)).toBe(true);
  });

  it('round-trips corpus text through the tokenizer', () => {
    const d = new Dice(99);
    for (let i = 0; i < 200; i++) {
      const s = story(d);
      expect(tok.decode(tok.encode(s), { skipSpecial: true })).toBe(s);
    }
    // Text outside the corpus falls back to bytes and still round-trips.
    const odd = 'Zebras & quokkas: 42 ünïcödé 🦊!';
    expect(tok.decode(tok.encode(odd), { skipSpecial: true })).toBe(odd);
  });

  it('has a chat template that renders turns with its control tokens', () => {
    const src = gguf.metadata.get('tokenizer.chat_template');
    expect(typeof src).toBe('string');
    const t = new ChatTemplate(src as string, { bosToken: '<s>', eosToken: '</s>' });
    const text = t.render([{ role: 'user', content: 'Hi!' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'Tell me a story.' }]);
    expect(text).toBe('<|user|>Hi!<|assistant|>Hello!</s><|user|>Tell me a story.<|assistant|>');
    const ids = tok.encode(text, { parseSpecial: true });
    expect(ids.filter((id) => tok.isControl(id)).map((id) => tok.decode([id]))).toEqual(['<s>', '<|user|>', '<|assistant|>', '</s>', '<|user|>', '<|assistant|>']);
  });

  it('writes real words from "Once upon a time" on the CPU path (greedy and sampled)', async () => {
    const prompt = tok.encode('Once upon a time');
    for (const temperature of [0, 0.8]) {
      const res = await generateCpu(model, prompt, { maxTokens: 150, temperature, seed: 1 });
      const text = tok.decode(res.tokens);
      const r = realWordShare(text);
      expect(r.words, text).toBeGreaterThan(20);
      expect(r.share, `${text}\nunknown: ${r.unknown.join(' ')}`).toBeGreaterThanOrEqual(0.8);
    }
  });

  it('answers a chat turn with a story', async () => {
    const t = new ChatTemplate(gguf.metadata.get('tokenizer.chat_template') as string, { bosToken: '<s>', eosToken: '</s>' });
    const ids = tok.encode(t.render([{ role: 'user', content: 'Tell me a story about a dog named Max.' }]), { parseSpecial: true });
    const res = await generateCpu(model, ids, { maxTokens: 120, temperature: 0 });
    const text = tok.decode(res.tokens);
    expect(realWordShare(text).share, text).toBeGreaterThanOrEqual(0.8);
    expect(res.tokens.some((id) => tok.isControl(id))).toBe(false);
  });

  it('comes from the corpus generator, which is deterministic', () => {
    const a = new Dice(5), b = new Dice(5);
    expect(story(a)).toBe(story(b));
    expect(JSON.stringify(chat(a))).toBe(JSON.stringify(chat(b)));
  });

  it('`friday start --cpu` streams a story and a speed line', async () => {
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { out += String(chunk); return true; });
    try {
      expect(await startCommand(['--cpu', '--seed', '3', '--max-tokens', '60'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out.startsWith('Once upon a time')).toBe(true);
    expect(out).toMatch(/\n\d+ tokens at [\d.]+ tokens\/s on the CPU \(temperature 0.8, seed 3/);
    expect(realWordShare(out.split('\n\n')[0]!).share).toBeGreaterThanOrEqual(0.8);
  });
});
