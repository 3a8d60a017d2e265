import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvWriteKernel, kvPageBytes, type PagedKvShape } from '../../src/gpu/kernels/kv-write.js';
import { f32Bits, f32ToF16 } from '../reference/quant.js';
import { randn, readU32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

const NO_PAGE = 0xffffffff;

interface Seq { slot: number; start: number; n: number }

function shuffle<T>(r: () => number, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Page table with shuffled, non-contiguous physical pages for each slot's first `len` positions. */
function pageTable(r: () => number, s: PagedKvShape, maxSeqs: number, numPages: number, lens: Map<number, number>): Uint32Array {
  const pt = new Uint32Array(maxSeqs * s.maxPagesPerSeq).fill(NO_PAGE);
  const free = shuffle(r, [...Array(numPages).keys()]);
  for (const [slot, len] of lens) {
    for (let j = 0; j < Math.ceil(len / s.pageSize); j++) pt[slot * s.maxPagesPerSeq + j] = free.pop()!;
  }
  return pt;
}

/** The cache words a row's K (or V) should become: f16 pairs (RNE) or f32 bits. */
function rowWords(x: Float32Array, off: number, n: number, f16: boolean): Uint32Array {
  const out = new Uint32Array(f16 ? n / 2 : n);
  for (let w = 0; w < out.length; w++) {
    out[w] = f16 ? (f32ToF16(x[off + 2 * w]!) | (f32ToF16(x[off + 2 * w + 1]!) << 16)) >>> 0 : f32Bits(x[off + w]!);
  }
  return out;
}

describe('kv_write kernel', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  /** Runs kv_write for rows (slot, position) over a junk-filled cache and checks every cache word. */
  async function check(s: PagedKvShape, maxSeqs: number, numPages: number, rows: { slot: number; pos: number }[], pt: Uint32Array, seed: number, nTokens = rows.length): Promise<void> {
    const r = rng(seed);
    const kvDim = s.nKvHeads * s.headDim, words = s.kvF16 ? kvDim / 2 : kvDim;
    const k = randn(r, rows.length * kvDim, 2), v = randn(r, rows.length * kvDim, 2);
    const cacheWords = (numPages * kvPageBytes(s)) / 4;
    const junkK = new Uint32Array(cacheWords).map(() => (r() * 2 ** 32) >>> 0), junkV = junkK.map((x) => x ^ 0x5a5a5a5a);
    const wantK = junkK.slice(), wantV = junkV.slice();
    for (let i = 0; i < nTokens; i++) {
      const { slot, pos } = rows[i]!;
      const logical = Math.floor(pos / s.pageSize);
      if (slot >= maxSeqs || logical >= s.maxPagesPerSeq) continue;
      const page = pt[slot * s.maxPagesPerSeq + logical]!;
      if (page >= numPages) continue;
      const dst = (page * s.pageSize + (pos % s.pageSize)) * words;
      wantK.set(rowWords(k, i * kvDim, kvDim, s.kvF16), dst);
      wantV.set(rowWords(v, i * kvDim, kvDim, s.kvF16), dst);
    }
    const kern = await KvWriteKernel.create(t.cache, s);
    const bufs = {
      step: t.step.buffer, k: storage(t, 'k', k), v: storage(t, 'v', v),
      positions: storage(t, 'positions', new Uint32Array(rows.map((x) => x.pos))), slots: storage(t, 'slots', new Uint32Array(rows.map((x) => x.slot))),
      pageTable: storage(t, 'page_table', pt), kCache: storage(t, 'k_cache', junkK), vCache: storage(t, 'v_cache', junkV),
    };
    t.step.set(nTokens, 0);
    await run(t, [kern.bind(t.gpu, 'test', bufs)(rows.length)]);
    for (const [name, buf, want] of [['K', bufs.kCache, wantK], ['V', bufs.vCache, wantV]] as const) {
      const got = await readU32(t, buf, cacheWords);
      const i = got.findIndex((g, j) => g !== want[j]);
      if (i >= 0) {
        const row = Math.floor(i / words);
        throw new Error(`${kern.key} ${name} cache: first bad word ${i} [page ${Math.floor(row / s.pageSize)}, row ${row % s.pageSize}, word ${i % words}]: got 0x${got[i]!.toString(16)}, want 0x${want[i]!.toString(16)}`);
      }
    }
    for (const [name, b] of Object.entries(bufs)) if (name !== 'step') t.gpu.destroyBuffer(b);
  }

  // [headDim, nKvHeads, pageSize, kvF16]
  const shapes = [[8, 1, 5, true], [16, 2, 7, false], [64, 3, 16, true], [64, 2, 3, false], [8, 4, 1, true]] as const;
  for (const [headDim, nKvHeads, pageSize, kvF16] of shapes) {
    it(`ragged batch, shuffled pages: headDim=${headDim} kvHeads=${nKvHeads} page=${pageSize} ${kvF16 ? 'f16' : 'f32'}`, async () => {
      const s: PagedKvShape = { headDim, nKvHeads, pageSize, maxPagesPerSeq: Math.ceil(80 / pageSize), kvF16 };
      const r = rng(headDim * 1000 + nKvHeads * 100 + pageSize);
      // Decode token, prefill chunk continuing at a non-zero position, fresh prompt, another decode.
      const seqs: Seq[] = [{ slot: 2, start: 41, n: 1 }, { slot: 0, start: 13, n: 17 }, { slot: 3, start: 0, n: 9 }, { slot: 1, start: 77, n: 1 }];
      const maxSeqs = 5, numPages = 4 * s.maxPagesPerSeq + 3;
      const pt = pageTable(r, s, maxSeqs, numPages, new Map(seqs.map((q) => [q.slot, q.start + q.n])));
      const rows = shuffle(r, seqs.flatMap((q) => Array.from({ length: q.n }, (_, i) => ({ slot: q.slot, pos: q.start + i }))));
      await check(s, maxSeqs, numPages, rows, pt, r() * 1e9);
    });
  }

  it('f16 rounding is round-to-nearest-even, bit-exact with ggml (ties, subnormals, overflow, inf, NaN)', async () => {
    const special = [
      0, -0, 1, -1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 1 + 2 ** -11 + 2 ** -20, 65504, 65519, 65520, -65520, 1e6,
      Infinity, -Infinity, NaN, 2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -25 + 2 ** -40, 3 * 2 ** -25, 5 * 2 ** -25, 1e-8, 1e-40, -1e-40,
      6.1e-5, 6.0e-5, 0.1, 1 / 3, 2049, 2051, 4097, 3.14159,
    ];
    const r = rng(99);
    const bits = new Uint32Array(4096 - special.length).map(() => (r() * 2 ** 32) >>> 0);
    const rand = new Float32Array(bits.buffer).map((x) => (Number.isNaN(x) ? 1.5 : x)); // NaN payloads don't survive JS numbers
    const vals = new Float32Array([...special, ...rand]);
    const s: PagedKvShape = { headDim: 64, nKvHeads: 1, pageSize: 4, maxPagesPerSeq: 16, kvF16: true };
    const rows = Array.from({ length: vals.length / 64 }, (_, i) => ({ slot: 0, pos: i }));
    const pt = new Uint32Array(16).map((_, i) => 15 - i);
    const kvDim = 64, words = 32;
    const kern = await KvWriteKernel.create(t.cache, s);
    const bufs = {
      step: t.step.buffer, k: storage(t, 'k', vals), v: storage(t, 'v', vals.map((x) => -x)),
      positions: storage(t, 'positions', new Uint32Array(rows.map((x) => x.pos))), slots: storage(t, 'slots', new Uint32Array(rows.length)),
      pageTable: storage(t, 'page_table', pt), kCache: storage(t, 'k_cache', 16 * kvPageBytes(s)), vCache: storage(t, 'v_cache', 16 * kvPageBytes(s)),
    };
    t.step.set(rows.length, 0);
    await run(t, [kern.bind(t.gpu, 'test', bufs)(rows.length)]);
    const got = await readU32(t, bufs.kCache, 16 * 4 * words);
    for (let i = 0; i < rows.length; i++) {
      const dst = (pt[Math.floor(i / 4)]! * 4 + (i % 4)) * words;
      const want = rowWords(vals, i * kvDim, kvDim, true);
      for (let w = 0; w < words; w++) {
        if (got[dst + w] !== want[w]) {
          const j = i * kvDim + 2 * w;
          throw new Error(`f16 of (${vals[j]}, ${vals[j + 1]}) [value index ${j}]: got 0x${got[dst + w]!.toString(16)}, want 0x${want[w]!.toString(16)}`);
        }
      }
    }
    for (const [name, b] of Object.entries(bufs)) if (name !== 'step') t.gpu.destroyBuffer(b);
  });

  it('skips rows with an out-of-range slot, logical page or physical page, and rows past n_tokens', async () => {
    const s: PagedKvShape = { headDim: 8, nKvHeads: 2, pageSize: 4, maxPagesPerSeq: 3, kvF16: true };
    const maxSeqs = 2, numPages = 5;
    const pt = new Uint32Array([4, 1, NO_PAGE, 2, 77, 0]); // slot 1 logical page 1 -> page 77 (out of range)
    const rows = [
      { slot: 0, pos: 3 }, { slot: 0, pos: 9 } /* unmapped page */, { slot: 0, pos: 12 } /* past maxPagesPerSeq */,
      { slot: 1, pos: 5 } /* physical page out of range */, { slot: 2, pos: 0 } /* slot past the table */, { slot: 1, pos: 2 },
      { slot: 0, pos: 4 } /* past n_tokens */,
    ];
    await check(s, maxSeqs, numPages, rows, pt, 5, 6);
    await check({ ...s, kvF16: false }, maxSeqs, numPages, rows, pt, 6, 6);
  });

  it('rejects bad shapes and cache buffers', async () => {
    await expect(KvWriteKernel.create(t.cache, { headDim: 7, nKvHeads: 1, pageSize: 4, maxPagesPerSeq: 2, kvF16: true })).rejects.toThrow(RangeError);
    const s: PagedKvShape = { headDim: 8, nKvHeads: 1, pageSize: 4, maxPagesPerSeq: 2, kvF16: true };
    const kern = await KvWriteKernel.create(t.cache, s);
    const b = storage(t, 'x', 64), odd = storage(t, 'odd', kvPageBytes(s) + 4);
    expect(() => kern.bind(t.gpu, 'bad', { step: t.step.buffer, k: b, v: b, positions: b, slots: b, pageTable: b, kCache: odd, vCache: odd })).toThrow(/whole number/);
    t.gpu.destroyBuffer(b);
    t.gpu.destroyBuffer(odd);
  });
});
