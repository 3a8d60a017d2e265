// llama.cpp's own tokenizer test vectors (tests/test-tokenizer-0): every case of every vocab
// GGUF that has .inp/.out files must give exactly llama.cpp's ids.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readGGUF } from '../../src/model/gguf/reader.js';
import type { Metadata } from '../../src/model/gguf/metadata.js';
import { FileSource } from '../../src/model/source/file.js';
import { createTokenizer, type Tokenizer } from '../../src/tokenizer/index.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));
const VOCAB_DIR = `${FIXTURES}vocab/`;
const SEPARATOR = '\n__ggml_vocab_test__\n';

async function loadMetadata(path: string): Promise<Metadata> {
  const src = await FileSource.open(path);
  try {
    return (await readGGUF(src)).metadata;
  } finally {
    await src.close();
  }
}

/** test-tokenizer-0 format: cases separated by SEPARATOR, the file ending with one too; one id line per case. */
function readCases(base: string): { input: string; expected: number[] }[] {
  const raw = readFileSync(`${base}.inp`, 'utf8');
  const inputs = (raw.endsWith(SEPARATOR) ? raw.slice(0, -SEPARATOR.length) : raw).split(SEPARATOR);
  const lines = readFileSync(`${base}.out`, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  expect(lines.length, `${base}: ${inputs.length} inputs but ${lines.length} output lines`).toBe(inputs.length);
  return inputs.map((input, i) => ({ input, expected: lines[i]!.trim() === '' ? [] : lines[i]!.trim().split(/\s+/).map(Number) }));
}

/** Runs all cases with llama.cpp's convention (add_special=false, parse_special=true); returns failure reports. */
function runCases(name: string, tok: Tokenizer, cases: { input: string; expected: number[] }[]): string[] {
  const failures: string[] = [];
  cases.forEach(({ input, expected }, i) => {
    let actual: number[] | string;
    try {
      actual = tok.encode(input, { addSpecial: false, parseSpecial: true });
    } catch (e) {
      actual = `threw ${String(e)}`;
    }
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      failures.push(`${name} case #${i}\n  input:    ${JSON.stringify(input)}\n  expected: ${JSON.stringify(expected)}\n  actual:   ${JSON.stringify(actual)}`);
    }
  });
  return failures;
}

// vocab/no-gguf/ holds vectors whose vocab GGUF could not be obtained (see PROVENANCE.md), so
// they are not run here, except tinyllama's, which use the Llama 2 vocab (below).
const vocabs = existsSync(VOCAB_DIR)
  ? readdirSync(VOCAB_DIR).filter((f) => f.endsWith('.gguf.inp') && existsSync(VOCAB_DIR + f.replace(/\.inp$/, ''))).map((f) => f.replace(/\.inp$/, '')).sort()
  : [];

if (!existsSync(VOCAB_DIR)) {
  describe.skip(`shared fixtures not found at ${FIXTURES}: skipping llama.cpp tokenizer vectors`, () => {
    it('needs the shared fixtures', () => {});
  });
} else {
  describe('llama.cpp tokenizer vectors (add_special=false, parse_special=true)', () => {
    it('finds the vocab fixtures', () => {
      expect(vocabs.length).toBeGreaterThanOrEqual(10);
    });

    for (const gguf of vocabs) {
      it(gguf, async () => {
        const tok = createTokenizer(await loadMetadata(VOCAB_DIR + gguf));
        const cases = readCases(VOCAB_DIR + gguf);
        const failures = runCases(gguf, tok, cases);
        expect(failures, `${failures.length}/${cases.length} cases failed:\n${failures.join('\n')}`).toEqual([]);
      });
    }

    // tinyllama's vectors exercise special tokens inside text; its GGUF is missing but its ids
    // are those of the Llama 2 vocabulary, which ggml-vocab-llama-spm.gguf is.
    const tinyllama = `${VOCAB_DIR}no-gguf/ggml-vocab-tinyllama.gguf`;
    it.runIf(existsSync(`${tinyllama}.inp`))('tinyllama special-token cases on the Llama 2 vocab', async () => {
      const tok = createTokenizer(await loadMetadata(`${VOCAB_DIR}ggml-vocab-llama-spm.gguf`));
      const cases = readCases(tinyllama);
      const failures = runCases('tinyllama (llama-spm vocab)', tok, cases);
      expect(failures, failures.join('\n')).toEqual([]);
    });
  });
}
