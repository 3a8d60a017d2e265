// The synthetic model generator: valid GGUF of every weight type, deterministic from its seed,
// a working vocabulary, llama.cpp's split layout.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLlamaConfig } from '../../src/model/config.js';
import { readGGUF } from '../../src/model/gguf/reader.js';
import { BytesSource } from '../../src/model/source/bytes.js';
import { openSource } from '../../src/model/source/open.js';
import { readModelHeader } from '../../src/model/source/split.js';
import { createTokenizer } from '../../src/tokenizer/index.js';
import { layersFor, synthWeightBytes, writeSyntheticModel, type SynthDtype } from '../../scripts/lib/synth.js';

const dir = mkdtempSync(join(tmpdir(), 'friday-synth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('synthetic models', () => {
  it.each(['F32', 'F16', 'Q8_0', 'Q4_0'] as SynthDtype[])('%s: a valid llama GGUF with a working tokenizer', async (dtype) => {
    const out = join(dir, `m-${dtype}.gguf`);
    const { bytes } = await writeSyntheticModel(out, { dim: 128, layers: 2, dtype, seed: 1, heads: 4, kvHeads: 2, vocab: 400 });
    expect(statSync(out).size).toBe(bytes);
    const g = await readGGUF(new BytesSource(readFileSync(out)));
    const c = readLlamaConfig(g);
    expect(c).toMatchObject({ dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 400, ffnDim: 352, tiedEmbeddings: false });
    expect(g.tensors.reduce((s, t) => s + t.byteSize, 0)).toBe(synthWeightBytes({ dim: 128, layers: 2, dtype, seed: 1, heads: 4, kvHeads: 2, vocab: 400 }));
    const tok = createTokenizer(g.metadata);
    const ids = tok.encode('Hello, world! ünïcode', { addSpecial: true });
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids.slice(1))).toBe('Hello, world! ünïcode'); // unknown characters go through byte tokens
  });

  it('is deterministic in its seed', async () => {
    const spec = { dim: 64, layers: 1, dtype: 'Q4_0', vocab: 340 } as const;
    await writeSyntheticModel(join(dir, 'a.gguf'), { ...spec, seed: 5 });
    await writeSyntheticModel(join(dir, 'b.gguf'), { ...spec, seed: 5 });
    await writeSyntheticModel(join(dir, 'c.gguf'), { ...spec, seed: 6 });
    expect(sha(join(dir, 'a.gguf'))).toBe(sha(join(dir, 'b.gguf')));
    expect(sha(join(dir, 'a.gguf'))).not.toBe(sha(join(dir, 'c.gguf')));
  });

  it('splits like gguf-split: metadata in part 1, split.* in all, same tensors', async () => {
    const spec = { dim: 64, layers: 3, dtype: 'F16', seed: 2, vocab: 340, tied: true } as const;
    await writeSyntheticModel(join(dir, 'whole.gguf'), spec);
    const { files } = await writeSyntheticModel(join(dir, 'part.gguf'), { ...spec, split: 3 });
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['part-00001-of-00003.gguf', 'part-00002-of-00003.gguf', 'part-00003-of-00003.gguf']);
    const parts = await Promise.all(files.map(async (f) => readGGUF(new BytesSource(readFileSync(f)))));
    parts.forEach((g, i) => {
      expect(g.metadata.get('split.no')).toBe(i);
      expect(g.metadata.get('split.count')).toBe(3);
      expect(g.metadata.get('split.tensors.count')).toBe(2 + 9 * 3); // embd, output_norm, 9 per layer (tied: no output)
      expect(g.metadata.has('general.architecture')).toBe(i === 0);
    });
    const src = await openSource(files[0]!);
    const merged = await readModelHeader(src);
    await src.close();
    const whole = await readGGUF(new BytesSource(readFileSync(join(dir, 'whole.gguf'))));
    expect(merged.tensors.map((t) => t.name)).toEqual(whole.tensors.map((t) => t.name));
    expect(readLlamaConfig(merged)).toEqual(readLlamaConfig(whole));
  });

  it('sizes models by layer count', () => {
    const base = { dim: 1024, dtype: 'F32', seed: 0 } as const;
    const layers = layersFor(256 * 2 ** 20, base);
    expect(synthWeightBytes({ ...base, layers })).toBeGreaterThanOrEqual(256 * 2 ** 20);
    expect(synthWeightBytes({ ...base, layers: layers - 1 })).toBeLessThan(256 * 2 ** 20);
  });
});
