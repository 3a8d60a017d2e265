import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { readGGUF } from '../../src/model/gguf/reader.js';
import { writeGGUF, encodeGGUFHeader, type WriterValue } from '../../src/model/gguf/writer.js';
import { BytesSource } from '../../src/model/source/bytes.js';
import { FileSource } from '../../src/model/source/file.js';
import { BlobSource } from '../../src/model/source/blob.js';
import { readLlamaConfig } from '../../src/model/config.js';
import { GGMLType } from '../../src/model/dtypes.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const haveFixtures = existsSync(FIXTURES);

const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer);

function sample(): Uint8Array {
  const md: Record<string, WriterValue> = {
    'general.architecture': { type: 'string', value: 'llama' },
    'u8': { type: 'u8', value: 200 }, 'i8': { type: 'i8', value: -5 }, 'u16': { type: 'u16', value: 60000 }, 'i16': { type: 'i16', value: -300 },
    'u32': { type: 'u32', value: 4e9 }, 'i32': { type: 'i32', value: -2e9 }, 'f32': { type: 'f32', value: 1.5 }, 'f64': { type: 'f64', value: Math.PI },
    'u64': { type: 'u64', value: 2n ** 60n }, 'i64': { type: 'i64', value: -42n }, 'bool': { type: 'bool', value: true },
    'strs': { type: 'array', elem: 'string', value: ['a', 'héllo', ''] }, 'nums': { type: 'array', elem: 'f32', value: [1, 2.5, -3] },
    'ints': { type: 'array', elem: 'i32', value: [7, -8] },
  };
  return writeGGUF(md, [
    { name: 'a', dims: [4, 2], type: GGMLType.F32, data: f32(8) },
    { name: 'b', dims: [3], type: GGMLType.F32, data: f32(3) },
  ]);
}

async function expectInvalid(bytes: Uint8Array, pattern: RegExp): Promise<FridayError> {
  try {
    await readGGUF(new BytesSource(bytes));
  } catch (e) {
    expect(e).toBeInstanceOf(FridayError);
    const fe = e as FridayError;
    expect(fe.code).toBe('GGUF_INVALID');
    expect(fe.message).toMatch(/at byte \d+/);
    expect(fe.message).toMatch(pattern);
    return fe;
  }
  throw new Error('expected GGUF_INVALID');
}

describe('GGUF reader', () => {
  it('reads every metadata value type and tensor infos (v3)', async () => {
    const g = await readGGUF(new BytesSource(sample()));
    expect(g.version).toBe(3);
    const m = g.metadata;
    expect([m.get('u8'), m.get('i8'), m.get('u16'), m.get('i16'), m.get('u32'), m.get('i32')]).toEqual([200, -5, 60000, -300, 4e9, -2e9]);
    expect(m.get('f32')).toBe(1.5);
    expect(m.get('f64')).toBe(Math.PI);
    expect(m.get('u64')).toBe(2n ** 60n); // beyond 2^53 stays a bigint
    expect(m.get('i64')).toBe(-42);
    expect(m.get('bool')).toBe(true);
    expect(m.get('strs')).toEqual(['a', 'héllo', '']);
    expect(Array.from(m.get('nums') as Float32Array)).toEqual([1, 2.5, -3]);
    expect(Array.from(m.get('ints') as Int32Array)).toEqual([7, -8]);
    expect(g.tensors.map((t) => [t.name, t.dims, t.byteSize])).toEqual([['a', [4, 2], 32], ['b', [3], 12]]);
    expect(g.dataOffset % 32).toBe(0);
    expect(g.tensors[1]!.offset).toBe(g.dataOffset + 32);
  });

  it('reads v2 files and honours general.alignment', async () => {
    const bytes = writeGGUF({ 'general.alignment': { type: 'u32', value: 64 } }, [
      { name: 'x', dims: [3], type: GGMLType.F32, data: f32(3) },
      { name: 'y', dims: [5], type: GGMLType.F32, data: f32(5) },
    ], 64);
    new DataView(bytes.buffer).setUint32(4, 2, true);
    const g = await readGGUF(new BytesSource(bytes));
    expect(g.version).toBe(2);
    expect(g.alignment).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    expect(g.tensors[1]!.offset - g.dataOffset).toBe(64);
  });

  it('reads through a Blob source', async () => {
    const g = await readGGUF(new BlobSource(new Blob([sample() as Uint8Array<ArrayBuffer>])));
    expect(g.tensors).toHaveLength(2);
  });

  it('rejects bad magic and versions', async () => {
    const b = sample();
    b[0] = 0x47; b[1] = 0x47; b[2] = 0x4d; b[3] = 0x4c; // "GGML"
    await expectInvalid(b, /bad magic/);
    const v = sample();
    new DataView(v.buffer).setUint32(4, 1, true);
    await expectInvalid(v, /version 1/);
    new DataView(v.buffer).setUint32(4, 0x03000000, true);
    await expectInvalid(v, /big-endian/);
  });

  it('rejects truncation at every prefix length without throwing anything else', async () => {
    const full = sample();
    const { header } = encodeGGUFHeader({ 'general.architecture': { type: 'string', value: 'llama' } }, []);
    expect(header.byteLength).toBeGreaterThan(0);
    for (let n = 0; n < full.byteLength; n += 3) {
      const err = await expectInvalid(full.subarray(0, n), /ends at byte|past the end|truncated|bad magic/);
      expect(err.details?.offset).toBeTypeOf('number');
    }
  });

  it('rejects absurd counts and lengths before allocating', async () => {
    const b = sample();
    const dv = new DataView(b.buffer);
    dv.setBigUint64(8, 2n ** 62n, true); // tensor count
    await expectInvalid(b, /tensor count/);
    const c = sample();
    new DataView(c.buffer).setBigUint64(16, 2n ** 40n, true); // kv count
    await expectInvalid(c, /metadata count/);
    const d = sample();
    new DataView(d.buffer).setBigUint64(24, 2n ** 50n, true); // first key length
    await expectInvalid(d, /length of metadata key 0/);
  });

  it('rejects unknown value types, bad dims, unknown tensor types, out-of-bounds and overlapping data', async () => {
    const md = { k: { type: 'u32', value: 1 } } as Record<string, WriterValue>;
    const base = () => writeGGUF(md, [{ name: 't', dims: [4], type: GGMLType.F32, data: f32(4) }, { name: 'u', dims: [4], type: GGMLType.F32, data: f32(4) }]);
    const find = (b: Uint8Array, s: string) => Buffer.from(b).indexOf(Buffer.from(s));
    // value type of "k" is right after its name
    let b = base();
    new DataView(b.buffer).setUint32(find(b, 'k') + 1, 99, true);
    await expectInvalid(b, /unknown value type 99/);
    // tensor "t": name, n_dims(u32), dim0(u64), type(u32), offset(u64)
    const at = (b: Uint8Array) => find(b, 't\u0001') >= 0 ? find(b, 't\u0001') : find(b, 't') ;
    b = base();
    let p = at(b) + 1;
    new DataView(b.buffer).setUint32(p, 7, true);
    await expectInvalid(b, /7 dimensions/);
    b = base();
    new DataView(b.buffer).setBigUint64(p + 4, 0n, true);
    await expectInvalid(b, /dimension 0 is 0/);
    b = base();
    new DataView(b.buffer).setUint32(p + 12, 77, true);
    await expectInvalid(b, /unknown type id 77/);
    b = base();
    new DataView(b.buffer).setBigUint64(p + 16, 4096n, true);
    await expectInvalid(b, /past the end/);
    b = base();
    const pu = find(b, 'u\u0001') >= 0 ? find(b, 'u\u0001') + 1 : -1;
    expect(pu).toBeGreaterThan(0);
    new DataView(b.buffer).setBigUint64(pu + 16, 0n, true); // u now starts where t starts
    await expectInvalid(b, /overlaps/);
    b = base();
    new DataView(b.buffer).setBigUint64(p + 16, 2n ** 63n, true);
    await expectInvalid(b, /past the end/);
  });

  it('rejects a quantized row that is not whole blocks', async () => {
    const b = writeGGUF({}, [{ name: 'q', dims: [32, 1], type: GGMLType.Q8_0, data: new Uint8Array(34) }]);
    const p = Buffer.from(b).indexOf(Buffer.from('q')) + 1;
    new DataView(b.buffer).setBigUint64(p + 4, 30n, true);
    await expectInvalid(b, /not a multiple of the Q8_0 block size/);
  });

  it('names the unsupported architecture', async () => {
    const b = writeGGUF({ 'general.architecture': { type: 'string', value: 'mamba' } }, []);
    const g = await readGGUF(new BytesSource(b));
    expect(() => readLlamaConfig(g)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_ARCHITECTURE', message: expect.stringMatching(/"mamba".*Supported: llama/) }));
  });
});

describe.skipIf(!haveFixtures)('GGUF reader on the fixture models', () => {
  it.each(['stories260K.gguf', 'TinyStories-656K-Q8_0.gguf', 'TinyStories-656K.f16.gguf', 'llama-2-tiny-random.gguf'])('%s', async (name) => {
    const src = await FileSource.open(resolve(FIXTURES, 'models', name));
    try {
      const g = await readGGUF(src);
      const cfg = readLlamaConfig(g);
      expect(cfg.architecture).toBe('llama');
      expect(g.tensors.length).toBe(3 + 9 * cfg.nLayers - (cfg.tiedEmbeddings ? 1 : 0));
    } finally {
      await src.close();
    }
  });

  it('gives IO_ERROR for a missing file', async () => {
    await expect(FileSource.open(resolve(FIXTURES, 'nope.gguf'))).rejects.toMatchObject({ code: 'IO_ERROR' });
  });
});
if (!haveFixtures) console.warn(`shared fixtures not found at ${FIXTURES}: skipping GGUF fixture tests`);
