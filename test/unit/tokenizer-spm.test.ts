// The SentencePiece tokenizer merges pieces of the text (cut where no token spans two adjacent
// characters) and caches them; that must give exactly what one merge pass over the whole text
// gives. Checked against the plain oracle in test/reference/spm.ts on random text.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readGGUF } from '../../src/model/gguf/reader.js';
import { FileSource } from '../../src/model/source/file.js';
import { SpmTokenizer } from '../../src/tokenizer/spm.js';
import { loadVocab, type Vocab } from '../../src/tokenizer/vocab.js';
import { rng } from '../reference/rng.js';
import { referenceSpm } from '../reference/spm.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
const VOCABS = ['models/stories260K.gguf', 'vocab/ggml-vocab-llama-spm.gguf', 'vocab/ggml-vocab-phi-3.gguf'];
const have = existsSync(FIXTURES);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping the SentencePiece piece-cut tests`);

async function vocab(rel: string): Promise<Vocab> {
  const src = await FileSource.open(FIXTURES + rel);
  try {
    return loadVocab((await readGGUF(src)).metadata);
  } finally {
    await src.close();
  }
}

/** Text as SpmTokenizer.tokenize() sees it ("▁" for spaces): pieces of tokens, space runs, and characters no token has. */
function randomText(v: Vocab, next: () => number): string {
  const extras = ['▁', '▁▁', '▁▁▁▁', '\n', '\t', '7', '我想在', '🦙', '😁', 'é', 'e\u0301', '<0x0A>', '\u{10FFFF}', '»', 'ﬁ'];
  let s = '';
  const parts = 1 + Math.floor(next() * 40);
  for (let i = 0; i < parts; i++) {
    if (next() < 0.6) {
      const tok = v.tokens[Math.floor(next() * v.tokens.length)]!;
      s += next() < 0.3 ? tok.slice(0, Math.max(1, Math.floor(next() * tok.length))) : tok;
    } else {
      s += extras[Math.floor(next() * extras.length)]!;
    }
  }
  return s;
}

describe.skipIf(!have)('SentencePiece: merging in cut pieces equals one pass over the text', () => {
  for (const rel of VOCABS) {
    it(rel, async () => {
      const v = await vocab(rel);
      const spm = new SpmTokenizer(v);
      const next = rng(rel.length * 7919);
      // Pieces longer than the cache keeps (a long run with no cut in it), then random text.
      const long = ['▁'.repeat(100) + 'x', 'a'.repeat(150), 'ab'.repeat(90) + '▁▁', '7'.repeat(80)];
      for (let i = 0; i < long.length + 300; i++) {
        const text = long[i] ?? randomText(v, next);
        const want = referenceSpm(v, text);
        for (const pass of ['first', 'cached']) {
          const got: number[] = [];
          spm.tokenize(text, got);
          const at = got.findIndex((id, k) => id !== want[k]);
          expect(at === -1 && got.length === want.length, `${pass} pass on ${JSON.stringify(text)}: first difference at index ${at === -1 ? Math.min(got.length, want.length) : at}`).toBe(true);
        }
      }
    });
  }
});
