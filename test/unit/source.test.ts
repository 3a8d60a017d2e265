// Model sources over real files and real HTTP on 127.0.0.1: header-first Range reads, streaming,
// resume after dropped connections, servers without Range, size and sha256 checks, split GGUF.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { readGGUF } from '../../src/model/gguf/reader.js';
import { inspectModel } from '../../src/model/inspect.js';
import { BlobSource } from '../../src/model/source/blob.js';
import { BytesSource } from '../../src/model/source/bytes.js';
import { FileSource } from '../../src/model/source/file.js';
import { openSource } from '../../src/model/source/open.js';
import { Sha256 } from '../../src/model/source/sha256.js';
import { readModelHeader, SplitSource } from '../../src/model/source/split.js';
import { streamBytes } from '../../src/model/source/stream.js';
import type { ByteSource } from '../../src/model/source/types.js';
import { UrlSource } from '../../src/model/source/url.js';
import { serveModels, type ModelServer } from '../../scripts/lib/model-server.js';
import { writeSyntheticModel } from '../../scripts/lib/synth.js';

const dir = mkdtempSync(join(tmpdir(), 'friday-source-'));
const MODEL = join(dir, 'model.gguf');
const SPLIT = join(dir, 'split.gguf');
let bytes: Uint8Array;
let sha: string;
let server: ModelServer;
const LIMITS = { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27 };

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c.slice());
  return Buffer.concat(parts);
}

const caught = async (p: Promise<unknown>): Promise<FridayError> => {
  try {
    await p;
  } catch (e) {
    return e as FridayError;
  }
  throw new Error('expected a failure');
};

beforeAll(async () => {
  // ~4 MiB: several chunks, a header well inside the first MiB. Same seed split in 3 parts.
  const spec = { dim: 256, layers: 3, dtype: 'Q8_0', seed: 3, vocab: 1024 } as const;
  await writeSyntheticModel(MODEL, spec);
  await writeSyntheticModel(SPLIT, { ...spec, split: 3 });
  bytes = readFileSync(MODEL);
  sha = createHash('sha256').update(bytes).digest('hex');
  const files: Record<string, string> = { 'model.gguf': MODEL };
  for (let i = 1; i <= 3; i++) files[`split-0000${i}-of-00003.gguf`] = join(dir, `split-0000${i}-of-00003.gguf`);
  server = await serveModels(files);
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function reset(b: Partial<ModelServer['behaviour']> = {}): void {
  for (const k of Object.keys(server.behaviour)) delete (server.behaviour as Record<string, unknown>)[k];
  Object.assign(server.behaviour, b);
  server.log.length = 0;
}

describe('UrlSource', () => {
  it('reads the header from one Range request, then streams the rest in one more', async () => {
    reset();
    const src = await UrlSource.open(server.url('model.gguf'));
    const g = await readGGUF(src);
    expect(src.size).toBe(bytes.byteLength);
    expect(src.rangeOk).toBe(true);
    expect(server.log.map((r) => r.range)).toEqual(['bytes=0-1048575']);
    const data = await collect(src.stream(g.dataOffset, src.size));
    expect(Buffer.compare(data, bytes.subarray(g.dataOffset))).toBe(0);
    expect(server.log.map((r) => [r.range, r.status])).toEqual([['bytes=0-1048575', 206], [`bytes=1048576-${src.size - 1}`, 206]]);
    await src.close();
  });

  it('inspectModel reads only the header (no weight bytes)', async () => {
    reset();
    const r = await inspectModel(server.url('model.gguf'), { limits: LIMITS, cache: false });
    expect(r.fits).toBe(true);
    expect(r.requirements.weightBytes).toBeGreaterThan(0.9 * r.fileBytes);
    expect(server.bytesSent()).toBeLessThanOrEqual(1 << 20);
  });

  it('retries a dropped probe, and resumes a dropped stream with Range from the last byte', async () => {
    reset({ drops: 1, dropAfter: 300_000 });
    const src = await UrlSource.open(server.url('model.gguf'), { retryDelayMs: 1 });
    expect(server.log.map((r) => r.sent)).toEqual([300_000, 1 << 20]);
    reset({ drops: 2, dropAfter: 300_000 });
    const data = await collect(src.stream(0, src.size));
    expect(Buffer.compare(data, bytes)).toBe(0);
    const end = src.size - 1;
    expect(server.log.map((r) => r.range)).toEqual([`bytes=1048576-${end}`, `bytes=1348576-${end}`, `bytes=1648576-${end}`]);
    await src.close();
  });

  it('works with a server that ignores Range: one streaming GET, read forward', async () => {
    reset({ range: false });
    const src = await UrlSource.open(server.url('model.gguf'));
    expect(src.rangeOk).toBe(false);
    const g = await readGGUF(src);
    const data = await collect(src.stream(g.dataOffset, src.size));
    expect(Buffer.compare(data, bytes.subarray(g.dataOffset))).toBe(0);
    expect(server.log.length).toBe(1); // the probe's response, kept and read forward
    expect(server.bytesSent()).toBe(bytes.byteLength);
    await src.close();
  });

  it('without Range, a header larger than the probe is still read forward from one response', async () => {
    const big = join(dir, 'bigvocab.gguf');
    await writeSyntheticModel(big, { dim: 64, layers: 1, dtype: 'Q8_0', seed: 1, vocab: 120_000 });
    const s2 = await serveModels({ 'big.gguf': big }, { range: false });
    try {
      const src = await UrlSource.open(s2.url('big.gguf'));
      const g = await readGGUF(src);
      expect(g.dataOffset).toBeGreaterThan(2 << 20); // a 2+ MiB header: several reads past the probe
      expect(g.metadata.get('tokenizer.ggml.tokens')).toHaveLength(120_000);
      expect(s2.log).toHaveLength(1);
      await src.close();
    } finally {
      await s2.close();
    }
  });

  it('without Range, a dropped connection restarts from 0 and skips what it has', async () => {
    reset({ range: false, drops: 1, dropAfter: 2_000_000 });
    const src = await UrlSource.open(server.url('model.gguf'), { retryDelayMs: 1 });
    const data = await collect(src.stream(0, src.size));
    expect(Buffer.compare(data, bytes)).toBe(0);
    expect(server.log.length).toBe(2);
    await src.close();
  });

  it('checks the expected size and sha256', async () => {
    reset();
    const wrongSize = await caught(UrlSource.open(server.url('model.gguf'), { size: bytes.byteLength + 1 }));
    expect(wrongSize.code).toBe('IO_ERROR');
    expect(wrongSize.message).toMatch(/bytes but .* were expected/);

    const good = await UrlSource.open(server.url('model.gguf'), { sha256: sha.toUpperCase() });
    expect((await collect(good.stream(1000, 2000))).byteLength).toBe(1000); // reads all, checks, yields the range
    const bad = await UrlSource.open(server.url('model.gguf'), { sha256: '0'.repeat(64) });
    const e = await caught(collect(bad.stream(0, bad.size)));
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).toContain(`SHA-256 ${sha}`);
  });

  it('a stalled connection is dropped after the idle timeout and resumed', async () => {
    reset({ stalls: 1, stallAfter: 500_000 });
    const src = await UrlSource.open(server.url('model.gguf'), { idleTimeoutMs: 300, retryDelayMs: 1 });
    expect(server.log.map((r) => r.sent)).toEqual([500_000, 1 << 20]); // the probe stalled, timed out, was asked again
    reset({ stalls: 1, stallAfter: 500_000 });
    const t0 = performance.now();
    const data = await collect(src.stream(0, src.size));
    expect(Buffer.compare(data, bytes)).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    const end = src.size - 1;
    expect(server.log.map((r) => r.range)).toEqual([`bytes=1048576-${end}`, `bytes=1548576-${end}`]);
    await src.close();
  });

  it('a file that keeps ending early fails after the retries, naming the byte', async () => {
    reset({ truncateAt: 2_500_000 });
    const src = await UrlSource.open(server.url('model.gguf'), { retries: 2, retryDelayMs: 1 });
    const e = await caught(collect(src.stream(0, src.size)));
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).toMatch(/failed at byte 2500000 of \d+ after 3 attempts/);
  });

  it('retries 503s, reports 404s, aborts promptly', async () => {
    reset({ failures: 2 });
    const src = await UrlSource.open(server.url('model.gguf'), { retryDelayMs: 1 });
    expect(server.log.map((r) => r.status)).toEqual([503, 503, 206]);
    const missing = await caught(UrlSource.open(server.url('nope.gguf')));
    expect(missing.message).toMatch(/HTTP 404; check the URL/);

    reset({ bytesPerSecond: 4 << 20 });
    const ac = new AbortController();
    let n = 0;
    const e = await caught((async () => {
      for await (const c of src.stream(0, src.size, { signal: ac.signal })) if ((n += c.byteLength) > 1_200_000) ac.abort();
    })());
    expect(e.code).toBe('ABORTED');
    await src.close();
  });
});

describe('file, blob and bytes sources', () => {
  it('FileSource streams with a bounded ring of reused buffers', async () => {
    const src = await FileSource.open(MODEL);
    const seen = new Set<ArrayBufferLike>();
    const parts: Uint8Array[] = [];
    for await (const c of src.stream(10, src.size, { chunkBytes: 256 << 10 })) {
      seen.add(c.buffer);
      parts.push(c.slice());
    }
    expect(Buffer.compare(Buffer.concat(parts), bytes.subarray(10))).toBe(0);
    expect(parts.length).toBeGreaterThan(10);
    expect(seen.size).toBe(3); // READ_AHEAD + 1 buffers, whatever the file size
    await src.close();
  });

  it('BlobSource, BytesSource and read()-only sources stream the same bytes', async () => {
    const blob = new BlobSource(new Blob([bytes as Uint8Array<ArrayBuffer>]), 'm.gguf');
    expect(Buffer.compare(await collect(streamBytes(blob, 5, 3_000_000)), bytes.subarray(5, 3_000_000))).toBe(0);
    const mem = new BytesSource(bytes);
    expect(Buffer.compare(await collect(streamBytes(mem, 7, bytes.byteLength, { chunkBytes: 100_000 })), bytes.subarray(7))).toBe(0);
    const readOnly: ByteSource = { name: 'r', size: bytes.byteLength, read: async (o, n) => bytes.slice(o, o + n), close: async () => {} };
    expect(Buffer.compare(await collect(streamBytes(readOnly, 0, bytes.byteLength, { chunkBytes: 500_000 })), bytes)).toBe(0);
  });

  it('incremental SHA-256 matches node:crypto for any chunking', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 100_003]) {
      const data = randomBytes(n);
      const h = new Sha256();
      for (let o = 0; o < n; o += 37) h.update(data.subarray(o, o + 37));
      expect(h.digest()).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });
});

describe('split GGUF', () => {
  it('opens every part from the first name and merges them into one model', async () => {
    const src = await openSource(join(dir, 'split-00001-of-00003.gguf'));
    expect(src).toBeInstanceOf(SplitSource);
    const merged = await readModelHeader(src);
    const whole = await readGGUF(new BytesSource(bytes));
    expect(merged.tensors.map((t) => [t.name, t.dims, t.type])).toEqual(whole.tensors.map((t) => [t.name, t.dims, t.type]));
    expect(merged.metadata.get('general.name')).toBe(whole.metadata.get('general.name'));
    // Same seed, same tensor bytes: each tensor read through the split equals the unsplit one.
    for (const t of merged.tensors) {
      const w = whole.tensors.find((x) => x.name === t.name)!;
      expect(Buffer.compare(await src.read(t.offset, t.byteSize), bytes.subarray(w.offset, w.offset + w.byteSize)), t.name).toBe(0);
    }
    await src.close();
  });

  it('over HTTP too, and a lone part says to open the first', async () => {
    reset();
    const src = await openSource(server.url('split-00001-of-00003.gguf'), { cache: false });
    expect((await readModelHeader(src)).tensors.length).toBe((await readGGUF(new BytesSource(bytes))).tensors.length);
    await src.close();
    const part = await FileSource.open(join(dir, 'split-00002-of-00003.gguf'));
    const e = await caught(readModelHeader(part));
    expect(e.code).toBe('INVALID_REQUEST');
    expect(e.message).toMatch(/part 2 of a model split in 3 files/);
    await part.close();
    const wrongOrder = new SplitSource(await Promise.all([1, 3, 2].map((i) => FileSource.open(join(dir, `split-0000${i}-of-00003.gguf`)))));
    expect((await caught(readModelHeader(wrongOrder))).message).toMatch(/has split.no 2, expected 1/);
    await wrongOrder.close();
  });
});
