import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttentionKernel, type AttentionShape } from '../../src/gpu/kernels/attention.js';
import { KvWriteKernel, kvPageBytes } from '../../src/gpu/kernels/kv-write.js';
import { attendOne } from '../reference/ops.js';
import { assertClose } from '../reference/compare.js';
import { f32Bits, f32ToF16, roundToF16 } from '../reference/quant.js';
import { randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

const NO_PAGE = 0xffffffff;

/** A sequence in the batch: `n` new tokens at positions start..start+n-1 of page-table row `slot`. */
interface Seq { slot: number; start: number; n: number }
interface Row { slot: number; pos: number }

function shuffle<T>(r: () => number, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** A paged cache scenario: history K/V per slot, a shuffled page table, junk in every page, the
 *  positions before each seq's `start` written by the CPU, the batch rows (slot, position). */
function scenario(s: AttentionShape, seqs: Seq[], seed: number, rows?: Row[]) {
  const r = rng(seed);
  const kvDim = s.nKvHeads * s.headDim, qDim = s.nHeads * s.headDim;
  const maxSeqs = Math.max(...seqs.map((q) => q.slot)) + 2;
  const neededPages = seqs.reduce((a, q) => a + Math.ceil((q.start + q.n) / s.pageSize), 0);
  const numPages = neededPages + 3;
  const pt = new Uint32Array(maxSeqs * s.maxPagesPerSeq).fill(NO_PAGE);
  const free = shuffle(r, [...Array(numPages).keys()]);
  const hist = new Map<number, { k: Float32Array; v: Float32Array }>();
  for (const q of seqs) {
    const len = q.start + q.n;
    if (Math.ceil(len / s.pageSize) > s.maxPagesPerSeq) throw new Error('test: maxPagesPerSeq too small');
    for (let j = 0; j < Math.ceil(len / s.pageSize); j++) pt[q.slot * s.maxPagesPerSeq + j] = free.pop()!;
    hist.set(q.slot, { k: randn(r, len * kvDim), v: randn(r, len * kvDim) });
  }
  const words = s.kvF16 ? kvDim / 2 : kvDim;
  const cacheWords = (numPages * kvPageBytes(s)) / 4;
  const kCache = new Uint32Array(cacheWords).map(() => (r() * 2 ** 32) >>> 0), vCache = kCache.map((x) => x ^ 0x3c3c3c3c);
  const encode = (x: Float32Array, off: number, dst: Uint32Array, at: number) => {
    for (let w = 0; w < words; w++) {
      dst[at + w] = s.kvF16 ? (f32ToF16(x[off + 2 * w]!) | (f32ToF16(x[off + 2 * w + 1]!) << 16)) >>> 0 : f32Bits(x[off + w]!);
    }
  };
  for (const q of seqs) {
    const h = hist.get(q.slot)!;
    for (let p = 0; p < q.start; p++) {
      const at = (pt[q.slot * s.maxPagesPerSeq + Math.floor(p / s.pageSize)]! * s.pageSize + (p % s.pageSize)) * words;
      encode(h.k, p * kvDim, kCache, at);
      encode(h.v, p * kvDim, vCache, at);
    }
  }
  const batch = rows ?? shuffle(r, seqs.flatMap((q) => Array.from({ length: q.n }, (_, i) => ({ slot: q.slot, pos: q.start + i }))));
  const k = new Float32Array(batch.length * kvDim), v = new Float32Array(batch.length * kvDim);
  batch.forEach((row, i) => {
    k.set(hist.get(row.slot)!.k.subarray(row.pos * kvDim, (row.pos + 1) * kvDim), i * kvDim);
    v.set(hist.get(row.slot)!.v.subarray(row.pos * kvDim, (row.pos + 1) * kvDim), i * kvDim);
  });
  const q = randn(r, batch.length * qDim);
  return { batch, pt, kCache, vCache, k, v, q, hist, qDim, kvDim };
}
type Scenario = ReturnType<typeof scenario>;

/** Oracle: each row's sequence gathered contiguously (in cache precision), plain causal attention.
 *  With an f16 cache q is rounded to f16 as the kernel does; llamacpp additionally rounds the
 *  probabilities to f16 (llama.cpp's non-flash graph), which the kernel does not. */
function oracle(s: AttentionShape, sc: Scenario, llamacpp = false): Float32Array {
  const out = new Float32Array(sc.batch.length * sc.qDim);
  const rnd = (x: Float32Array) => (s.kvF16 ? x.map(roundToF16) : x);
  const q = llamacpp ? sc.q : rnd(sc.q);
  const gathered = new Map<number, { k: Float32Array; v: Float32Array }>();
  for (const [slot, h] of sc.hist) gathered.set(slot, { k: rnd(h.k), v: rnd(h.v) });
  sc.batch.forEach((row, i) => {
    const g = gathered.get(row.slot)!;
    attendOne(out, i * sc.qDim, q, i * sc.qDim, g.k, g.v, row.pos + 1, s, llamacpp && s.kvF16);
  });
  return out;
}

describe('paged attention (with kv_write) vs CPU oracle', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  /** kv_write of the batch rows then attention, in one pass; returns out [rows, nHeads*headDim]. */
  async function gpuAttention(s: AttentionShape, sc: Scenario, nTokens = sc.batch.length, grid?: [number, number, number]): Promise<{ got: Float32Array; key: string; dispatch: readonly number[] }> {
    const kw = await KvWriteKernel.create(t.cache, s);
    const at = await AttentionKernel.create(t.cache, s);
    const b = {
      k: storage(t, 'k', sc.k), v: storage(t, 'v', sc.v), q: storage(t, 'q', sc.q),
      positions: storage(t, 'positions', new Uint32Array(sc.batch.map((x) => x.pos))), slots: storage(t, 'slots', new Uint32Array(sc.batch.map((x) => x.slot))),
      pageTable: storage(t, 'page_table', sc.pt), kCache: storage(t, 'k_cache', sc.kCache), vCache: storage(t, 'v_cache', sc.vCache),
      out: storage(t, 'out', new Float32Array(sc.batch.length * sc.qDim).fill(-7)),
    };
    const step = t.step.buffer;
    const write = kw.bind(t.gpu, 'test', { step, ...b });
    const attend = at.bind(t.gpu, 'test', { step, ...b });
    t.step.set(nTokens, 0);
    const op = { ...attend(sc.batch.length), ...(grid ? { dispatch: grid } : {}) };
    await run(t, [write(sc.batch.length), op]);
    const got = await readF32(t, b.out, sc.batch.length * sc.qDim);
    for (const buf of Object.values(b)) t.gpu.destroyBuffer(buf);
    return { got, key: at.key, dispatch: op.dispatch };
  }

  function shapeOf(headDim: number, nHeads: number, nKvHeads: number, pageSize: number, kvF16: boolean, maxLen: number): AttentionShape {
    return { headDim, nHeads, nKvHeads, pageSize, kvF16, maxPagesPerSeq: Math.ceil(maxLen / pageSize) + 1 };
  }

  it('ragged batch: decode token, prefill chunk at a non-zero position, fresh prompt, 300-position decode (f16 cache)', async () => {
    const s = shapeOf(16, 4, 2, 7, true, 300);
    const seqs: Seq[] = [{ slot: 2, start: 40, n: 1 }, { slot: 0, start: 23, n: 12 }, { slot: 4, start: 0, n: 10 }, { slot: 1, start: 299, n: 1 }];
    const sc = scenario(s, seqs, 1);
    const { got, key } = await gpuAttention(s, sc);
    assertClose(got, oracle(s, sc), { atol: 5e-6, rtol: 2e-5, label: key, shape: [sc.batch.length, s.nHeads, s.headDim] });
    // llama.cpp's non-flash graph also rounds the probabilities to f16: close, not equal.
    assertClose(got, oracle(s, sc, true), { atol: 3e-3, rtol: 3e-3, label: `${key} vs llama.cpp emulation`, shape: [sc.batch.length, s.nHeads, s.headDim] });
  });

  // [headDim, nHeads, nKvHeads, pageSize, kvF16]: GQA 1, 2, 4 and MQA; head dims 8, 16, 64; both caches.
  const shapes = [
    [8, 3, 3, 5, false], [8, 4, 1, 16, true], [16, 6, 3, 13, false], [16, 4, 4, 3, true],
    [64, 8, 2, 16, true], [64, 4, 1, 5, false], [64, 2, 1, 64, true], [16, 2, 1, 1, false],
  ] as const;
  for (const [headDim, nHeads, nKvHeads, pageSize, kvF16] of shapes) {
    it(`headDim=${headDim} heads=${nHeads}/${nKvHeads} page=${pageSize} ${kvF16 ? 'f16' : 'f32'}`, async () => {
      const s = shapeOf(headDim, nHeads, nKvHeads, pageSize, kvF16, 310);
      // A 70-token fresh prompt (rows spanning two chunks), a chunk continuing at 250 up to 303, decodes.
      const seqs: Seq[] = [{ slot: 3, start: 0, n: 70 }, { slot: 1, start: 250, n: 53 }, { slot: 0, start: 129, n: 1 }, { slot: 5, start: 7, n: 1 }];
      const sc = scenario(s, seqs, headDim * 100 + nHeads * 10 + nKvHeads + pageSize * 1000);
      const { got, key } = await gpuAttention(s, sc);
      assertClose(got, oracle(s, sc), { atol: 5e-6, rtol: 2e-5, label: key, shape: [sc.batch.length, s.nHeads, s.headDim] });
    });
  }

  it('maps a 2-D grid with overshoot (x + y * num_workgroups.x), as grid1d makes past 65535', async () => {
    const s = shapeOf(16, 3, 1, 4, false, 40);
    const sc = scenario(s, [{ slot: 0, start: 30, n: 9 }, { slot: 1, start: 0, n: 5 }], 11); // 14 rows x 3 heads = 42 workgroups
    const { got, key } = await gpuAttention(s, sc, sc.batch.length, [9, 5, 1]); // 45 >= 42
    assertClose(got, oracle(s, sc), { atol: 5e-6, rtol: 2e-5, label: key, shape: [sc.batch.length, s.nHeads, s.headDim] });
  });

  it('more than 65535 workgroups (grid over x and y)', async () => {
    // 1025 rows x 64 heads = 65600 workgroups; short contexts keep SwiftShader's time down.
    const s = shapeOf(8, 64, 2, 2, true, 5);
    const rows = Array.from({ length: 1025 }, (_, i) => ({ slot: i % 3, pos: (i * 7) % 5 }));
    const sc = scenario(s, [{ slot: 0, start: 5, n: 0 }, { slot: 1, start: 5, n: 0 }, { slot: 2, start: 5, n: 0 }], 77, rows);
    const { got, key, dispatch } = await gpuAttention(s, sc);
    expect(dispatch[1]).toBeGreaterThan(1);
    assertClose(got, oracle(s, sc), { atol: 5e-6, rtol: 2e-5, label: key, shape: [rows.length, s.nHeads, s.headDim] });
  });

  it('rows past n_tokens are untouched; a position on an unmapped page makes its row NaN', async () => {
    const s = shapeOf(8, 2, 1, 4, true, 12);
    const sc = scenario(s, [{ slot: 0, start: 5, n: 2 }, { slot: 1, start: 0, n: 3 }], 3);
    const last = sc.batch.length - 1; // run with n_tokens = last: the last row must stay untouched
    const want = oracle(s, sc);
    sc.pt[1 * s.maxPagesPerSeq + 0] = 999; // slot 1's only page, now out of range (kv_write skips it too); slot 0 is unaffected
    const { got } = await gpuAttention(s, sc, last);
    for (let i = 0; i < last; i++) {
      const row = got.subarray(i * sc.qDim, (i + 1) * sc.qDim);
      if (sc.batch[i]!.slot === 1) expect(row.every(Number.isNaN), `row ${i} (slot 1) should be NaN`).toBe(true);
      else assertClose(row, want.subarray(i * sc.qDim, (i + 1) * sc.qDim), { atol: 5e-6, rtol: 2e-5, label: `row ${i}` });
    }
    expect(sc.batch.slice(0, last).filter((x) => x.slot === 1).length).toBeGreaterThan(0);
    expect(Array.from(got.subarray(last * sc.qDim))).toEqual(new Array(sc.qDim).fill(-7));
  });

  it('rejects bad shapes', async () => {
    const ok = shapeOf(8, 4, 2, 4, true, 16);
    await expect(AttentionKernel.create(t.cache, { ...ok, nHeads: 6, nKvHeads: 4 })).rejects.toThrow(RangeError);
    await expect(AttentionKernel.create(t.cache, { ...ok, headDim: 9 })).rejects.toThrow(RangeError);
    await expect(AttentionKernel.create(t.cache, { ...ok, pageSize: 0 })).rejects.toThrow(RangeError);
  });
});
