import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { readGGUF } from '../../src/model/gguf/reader.js';
import type { Metadata } from '../../src/model/gguf/metadata.js';
import { FileSource } from '../../src/model/source/file.js';
import { createTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play outside.\nOne day, she saw a big, red ball.';

async function loadMetadata(rel: string): Promise<Metadata> {
  const src = await FileSource.open(FIXTURES + rel);
  try {
    return (await readGGUF(src)).metadata;
  } finally {
    await src.close();
  }
}

/** Pushes ids one at a time, returning every chunk (flush last). */
function stream(tok: Tokenizer, ids: number[], opts?: Parameters<Tokenizer['createDecoder']>[0]): string[] {
  const d = tok.createDecoder(opts);
  return [...ids.map((id) => d.push(id)), d.flush()];
}

if (!existsSync(FIXTURES)) {
  describe.skip(`shared fixtures not found at ${FIXTURES}: skipping tokenizer model tests`, () => {
    it('needs the shared fixtures', () => {});
  });
} else {
  describe('tokenizer on stories260K.gguf (512-token SentencePiece vocab with byte fallback)', () => {
    let tok: Tokenizer;
    beforeAll(async () => { tok = createTokenizer(await loadMetadata('models/stories260K.gguf')); });

    it('reads the vocabulary and special tokens from metadata', () => {
      expect(tok.model).toBe('llama');
      expect(tok.vocabSize).toBe(512);
      expect([tok.bosId, tok.eosId, tok.addBos, tok.addEos]).toEqual([1, 2, true, false]);
      expect(tok.padId).toBeUndefined(); // 0xFFFFFFFF in the file means "none"
    });

    it('round-trips English text and starts with BOS', () => {
      const ids = tok.encode(STORY);
      expect(ids[0]).toBe(1);
      expect(tok.decode(ids, { skipSpecial: true })).toBe(STORY);
      expect(tok.decode(ids)).toBe('<s>' + STORY);
      expect(tok.decode(ids.slice(1))).toBe(STORY); // no BOS: the first piece still loses its space prefix
    });

    it('matches llama2.c tok512 encodings (clebert/llama2.ts)', () => {
      expect(tok.encode('abcdefgh', { addSpecial: false })).toEqual([261, 430, 429, 418, 411, 431, 428, 415]);
    });

    it('encodes non-ASCII characters missing from the vocab as <0xNN> byte tokens', () => {
      const ids = tok.encode('café 🙂', { addSpecial: false });
      const tail = ids.slice(-4);
      expect(tail.map((id) => [...tok.tokenBytes(id)])).toEqual([[0xf0], [0x9f], [0x99], [0x82]]);
      expect(tok.decode(ids)).toBe('café 🙂');
    });

    it('streams a character split across byte tokens without emitting partial UTF-8', () => {
      const ids = tok.encode('café 🙂 ok', { addSpecial: true });
      const chunks = stream(tok, ids, { atStart: true, skipSpecial: true });
      expect(chunks.join('')).toBe(tok.decode(ids, { skipSpecial: true }));
      expect(chunks.join('')).toBe('café 🙂 ok');
      expect(chunks.some((c) => c.includes('\uFFFD'))).toBe(false);
      const emoji = chunks.indexOf('🙂'); // its space is a token of its own
      expect(emoji).toBeGreaterThan(0);
      expect(chunks.slice(emoji - 3, emoji)).toEqual(['', '', '']); // F0 9F 99 held back until 82 arrives
    });

    it('flushes an unfinished character as U+FFFD', () => {
      const ids = tok.encode('🙂', { addSpecial: false }).slice(0, -2); // "▁", F0, 9F
      const d = tok.createDecoder();
      expect(ids.map((id) => d.push(id)).join('')).toBe(' ');
      expect(d.flush()).toBe('\uFFFD');
    });

    it('strips the SentencePiece leading space only at the start (atStart)', () => {
      const ids = tok.encode('Hello world');
      expect(stream(tok, ids, { atStart: true, skipSpecial: true }).join('')).toBe('Hello world');
      expect(stream(tok, ids, { skipSpecial: true }).join('')).toBe(' Hello world');
      expect(stream(tok, ids.slice(1), { atStart: true }).join('')).toBe('Hello world');
      expect(stream(tok, ids.slice(1)).join('')).toBe(' Hello world'); // continuing a sequence keeps it
    });

    it('knows end-of-generation and control tokens', () => {
      const word = tok.encode('time', { addSpecial: false })[0]!;
      expect(tok.isEog(2)).toBe(true);
      expect(tok.isEog(1)).toBe(false);
      expect(tok.isEog(word)).toBe(false);
      expect(tok.isControl(1)).toBe(true);
      expect(tok.isControl(word)).toBe(false);
    });

    it('rejects ids outside the vocabulary', () => {
      expect(() => tok.decode([512])).toThrow(/outside the 512-token vocabulary/);
      expect(tok.isEog(-1)).toBe(false);
    });

    it('recognises "<s>" as BOS only with parseSpecial', () => {
      expect(tok.encode('<s>hi', { addSpecial: false, parseSpecial: true })[0]).toBe(1);
      expect(tok.encode('<s>hi', { addSpecial: false })).not.toContain(1);
    });
  });

  describe('tokenizer on TinyStories-656K-Q8_0.gguf (2048-token vocab without byte tokens)', () => {
    let tok: Tokenizer;
    beforeAll(async () => { tok = createTokenizer(await loadMetadata('models/TinyStories-656K-Q8_0.gguf')); });

    it('round-trips English text', () => {
      expect([tok.model, tok.vocabSize, tok.bosId, tok.eosId, tok.padId]).toEqual(['llama', 2048, 1, 2, 0]);
      const ids = tok.encode(STORY);
      expect(ids[0]).toBe(1);
      expect(tok.decode(ids, { skipSpecial: true })).toBe(STORY);
      expect(tok.decode(ids)).toBe('<|start_story|>' + STORY);
      expect(stream(tok, ids, { atStart: true, skipSpecial: true }).join('')).toBe(STORY);
    });

    it('treats the EOS "<|end_story|>" as end of generation', () => {
      expect(tok.isEog(2)).toBe(true);
      expect(tok.isControl(2)).toBe(true);
      expect(tok.encode('<|end_story|>', { addSpecial: false, parseSpecial: true })).toEqual([2]);
    });

    it('falls back to <unk> for characters it cannot spell (llama.cpp would throw)', () => {
      const ids = tok.encode('é', { addSpecial: false });
      expect(ids).toContain(0);
    });
  });

  describe('Llama 2 vocabulary (ggml-vocab-llama-spm.gguf) against llama2.c tokenizer.bin encodings', () => {
    let tok: Tokenizer;
    beforeAll(async () => { tok = createTokenizer(await loadMetadata('vocab/ggml-vocab-llama-spm.gguf')); });
    const ref = JSON.parse(readFileSync(`${FIXTURES}references/stories260K-llama2c-reference.json`, 'utf8')) as {
      tokenizer_bin_encode_cases: { cases: { text: string; expected_ids: number[] }[] };
      llama2_ts_encode_cases: { cases: { tokenizer: string; text: string; expected_ids: number[] }[] };
    };

    it('encodes like llama2.c (BOS + SentencePiece)', () => {
      for (const c of ref.tokenizer_bin_encode_cases.cases) expect(tok.encode(c.text), JSON.stringify(c.text)).toEqual(c.expected_ids);
    });

    it('encodes like llama2.ts (no BOS) and decodes back', () => {
      for (const c of ref.llama2_ts_encode_cases.cases.filter((x) => x.tokenizer === 'tokenizer.bin')) {
        const ids = tok.encode(c.text, { addSpecial: false });
        expect(ids, JSON.stringify(c.text)).toEqual(c.expected_ids);
        expect(tok.decode(ids)).toBe(c.text);
      }
    });

    // No time limits here (speed belongs in benchmarks): the test's own timeout is the bound.
    it('round-trips a few KB of text', () => {
      const text = STORY.repeat(40); // ~4.6 KB
      const ids = tok.encode(text);
      expect(tok.decode(ids, { skipSpecial: true })).toBe(text);
    });
  });

  describe('byte-level BPE (gpt2 models)', () => {
    it('round-trips text through the GPT-2 byte alphabet', async () => {
      const tok = createTokenizer(await loadMetadata('vocab/ggml-vocab-gpt-2.gguf'));
      const text = 'Hello, y\'all! How are you 😁 ?我想在apple工作1314151天～\n\t  Cửa Việt';
      expect(tok.model).toBe('gpt2');
      expect(tok.addBos).toBe(false);
      const ids = tok.encode(text);
      expect(tok.decode(ids)).toBe(text);
      expect(stream(tok, ids).join('')).toBe(text);
      expect(tok.isEog(50256)).toBe(true);
    });

    it('builds a 100k-token vocabulary and round-trips a few KB of text', async () => {
      const tok = createTokenizer(await loadMetadata('vocab/ggml-vocab-deepseek-llm.gguf'));
      expect(tok.vocabSize).toBeGreaterThan(100_000);
      const text = (STORY + ' 3.14159 ¿Qué tal? Übermäßig! ').repeat(30); // ~5 KB
      const ids = tok.encode(text);
      expect(tok.decode(ids, { skipSpecial: true })).toBe(text);
      expect(tok.bosId).toBe(100000);
      expect(tok.encode('hi')[0]).toBe(100000); // add_bos_token = true in its metadata
    });
  });

  describe('unusable tokenizer metadata', () => {
    const base = (): Metadata => new Map<string, never>([
      ['tokenizer.ggml.tokens', ['a', 'b'] as never],
      ['tokenizer.ggml.merges', ['a b'] as never],
    ]);

    it('rejects an unknown tokenizer.ggml.model, naming the supported ones', () => {
      const m = base();
      m.set('tokenizer.ggml.model', 'rwkv' as never);
      let err: unknown;
      try { createTokenizer(m); } catch (e) { err = e; }
      expect(FridayError.is(err, 'TOKENIZER_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/"llama", "gpt2", "bert"/);
    });

    it('rejects an unknown pre-tokenizer', () => {
      const m = base();
      m.set('tokenizer.ggml.model', 'gpt2' as never);
      m.set('tokenizer.ggml.pre', 'no-such-pre' as never);
      expect(() => createTokenizer(m)).toThrow(/Unsupported tokenizer.ggml.pre "no-such-pre".*llama-bpe/);
    });
  });
}
