// Tokenizer speed on llama.cpp's vocabularies: building the vocabulary from GGUF metadata, and
// encoding / decoding text at two sizes (4x the text should take ~4x the time if encoding is linear).
// Every timed encode runs on a fresh tokenizer, so its word caches start empty; the text is words
// drawn at random (seeded) from a corpus, so words repeat as in prose but the text does not.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readGGUF } from '../src/model/gguf/reader.js';
import { percentile } from '../src/remote/metrics.js';
import { FileSource } from '../src/model/source/file.js';
import { createTokenizer } from '../src/tokenizer/index.js';
import { rng } from '../test/reference/rng.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const VOCABS = ['llama-spm', 'gpt-2', 'deepseek-llm', 'phi-3', 'starcoder', 'falcon'];
const SIZES_KB = [16, 64];
const REPEATS = 7;

/** Median wall time of `REPEATS` runs of `fn(setup())`, in ms (after one warm-up run); setup is not timed. */
function medianMs<T>(fn: (x: T) => unknown, setup: () => T = () => undefined as T): number {
  fn(setup());
  const ts: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const x = setup();
    const t0 = performance.now();
    fn(x);
    ts.push(performance.now() - t0);
  }
  return percentile(ts, 0.5);
}

/** Prose, multilingual and code: llama.cpp's test strings for this vocabulary plus the stories' reference texts. */
function corpus(vocabFile: string): string {
  const inp = readFileSync(vocabFile + '.inp', 'utf8').split('\n__ggml_vocab_test__\n');
  const ref = JSON.parse(readFileSync(resolve(FIXTURES, 'references/stories260K-llama2c-reference.json'), 'utf8'));
  const stories: string[] = ref.generation_cases.map((c: { expected_text: string }) => c.expected_text);
  return [...stories, ...inp].join('\n');
}

/** About `kb` KiB of the corpus's words (each with the whitespace after it), in a seeded random order. */
function sized(text: string, kb: number): string {
  const words = text.match(/\S+\s*/g) ?? [];
  const next = rng(kb);
  let s = '';
  while (s.length < kb * 1024) s += words[Math.floor(next() * words.length)];
  return s;
}

export async function benchTokenizer(): Promise<unknown> {
  const rows = [];
  for (const name of VOCABS) {
    const file = resolve(FIXTURES, `vocab/ggml-vocab-${name}.gguf`);
    if (!existsSync(file) || !existsSync(file + '.inp')) { console.error(`skip ${name}: not found`); continue; }
    const src = await FileSource.open(file);
    const meta = (await readGGUF(src)).metadata;
    await src.close();
    const buildMs = medianMs(() => createTokenizer(meta));
    const fresh = () => createTokenizer(meta);
    const tok = createTokenizer(meta);
    const text = corpus(file);
    const row: Record<string, unknown> = { vocab: name, model: tok.model, vocabSize: tok.vocabSize, buildMs: +buildMs.toFixed(1) };
    for (const kb of SIZES_KB) {
      const t = sized(text, kb);
      const ids = tok.encode(t, { addSpecial: false });
      const encMs = medianMs((cold) => cold.encode(t, { addSpecial: false }), fresh);
      const decMs = medianMs(() => tok.decode(ids));
      Object.assign(row, {
        [`tokens${kb}k`]: ids.length,
        [`encodeMs${kb}k`]: +encMs.toFixed(1),
        [`encodeMBps${kb}k`]: +(Buffer.byteLength(t) / 1e6 / (encMs / 1e3)).toFixed(2),
        [`decodeMs${kb}k`]: +decMs.toFixed(2),
      });
    }
    row.encodeRatio = +((row[`encodeMs${SIZES_KB[1]}k`] as number) / (row[`encodeMs${SIZES_KB[0]}k`] as number)).toFixed(2);
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  return { repeats: REPEATS, sizesKB: SIZES_KB, rows };
}
