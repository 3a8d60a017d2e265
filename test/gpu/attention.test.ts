// Paged attention (with kv_write) against the CPU oracle on random and ragged batches, f16 and
// f32 caches, big grids and bad shapes. The shader's exact arithmetic: attention-arith.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttentionKernel, attentionScale, type AttentionShape } from '../../src/gpu/kernels/attention.js';
import { KvWriteKernel, kvPageBytes } from '../../src/gpu/kernels/kv-write.js';
import { attendOne, type AttnRounding } from '../reference/ops.js';
import { assertClose } from '../reference/compare.js';
import { f32Bits, f32ToF16, roundToF16 } from '../reference/quant.js';
import { randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

const NO_PAGE = 0xffffffff;

/** A sequence in the batch: `n` new tokens at positions start..start+n-1 of page-table row `slot`. */
interface Seq { slot: number; start: number; n: number }
interface Row { slot: number; pos: number }
/** Optional data makers (default: standard normal K, V and q). */
interface Makers { kv?: (slot: number, len: number, kvDim: number) => { k: Float32Array; v: Float32Array }; q?: (rows: number, qDim: number) => Float32Array }

function shuffle<T>(r: () => number, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** A paged cache scenario: history K/V per slot, a shuffled page table, junk in every page, the
 *  positions before each seq's `start` written by the CPU, the batch rows (slot, position). */
function scenario(s: AttentionShape, seqs: Seq[], seed: number, rows?: Row[], make: Makers = {}) {
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
    hist.set(q.slot, make.kv ? make.kv(q.slot, len, kvDim) : { k: randn(r, len * kvDim), v: randn(r, len * kvDim) });
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
  const q = make.q ? make.q(batch.length, qDim) : randn(r, batch.length * qDim);
  return { batch, pt, kCache, vCache, k, v, q, hist, qDim, kvDim };
}
type Scenario = ReturnType<typeof scenario>;

/** Oracle: each row's sequence gathered contiguously in cache precision, causal attention.
 *  'exact' (double reductions) with q rounded as the cache's vec-dot type; the ggml modes round q
 *  themselves. (The f16 kernel emulates flashOracle below, 'ggml-flash' but for one rounding.) */
function oracle(s: AttentionShape, sc: Scenario, mode: AttnRounding = 'exact'): Float32Array {
  const out = new Float32Array(sc.batch.length * sc.qDim);
  const rnd = (x: Float32Array) => (s.kvF16 ? x.map(roundToF16) : x);
  const q = mode === 'exact' ? rnd(sc.q) : sc.q;
  const gathered = new Map<number, { k: Float32Array; v: Float32Array }>();
  for (const [slot, h] of sc.hist) gathered.set(slot, { k: rnd(h.k), v: rnd(h.v) });
  sc.batch.forEach((row, i) => {
    const g = gathered.get(row.slot)!;
    attendOne(out, i * sc.qDim, q, i * sc.qDim, g.k, g.v, row.pos + 1, s, mode);
  });
  return out;
}

/** llama.cpp's CPU flash attention (ggml_compute_forward_flash_attn_ext_f16 with f16 K/V), per row
 *  and head: the oracle's 'ggml-flash' mode, except that expf's argument is rounded to f32 first, as
 *  C computes `expf(Mold - M)` and `expf(s - M)` on floats (test/reference/ops.ts takes the exp of
 *  the exact double difference, which differs whenever M - s is not an f32). */
function flashOracle(s: AttentionShape, sc: Scenario): Float32Array {
  const { nHeads, nKvHeads, headDim } = s;
  const out = new Float32Array(sc.batch.length * sc.qDim);
  const kvDim = nKvHeads * headDim, group = nHeads / nKvHeads;
  const scale = attentionScale(headDim);
  const fr = Math.fround;
  const gathered = new Map<number, { k: Float32Array; v: Float32Array }>();
  for (const [slot, h] of sc.hist) gathered.set(slot, { k: h.k.map(roundToF16), v: h.v.map(roundToF16) });
  const qh = new Float32Array(headDim), vkq = new Float32Array(headDim);
  sc.batch.forEach((row, i) => {
    const { k, v } = gathered.get(row.slot)!;
    for (let h = 0; h < nHeads; h++) {
      const kvOff = Math.floor(h / group) * headDim, o = i * sc.qDim + h * headDim;
      for (let d = 0; d < headDim; d++) qh[d] = roundToF16(sc.q[o + d]!);
      vkq.fill(0);
      let M = -Infinity, S = 0;
      for (let p = 0; p <= row.pos; p++) {
        let dot = 0; // ggml_vec_dot_f16 below its SIMD width: exact f16 products summed in double
        for (let d = 0; d < headDim; d++) dot += qh[d]! * k[p * kvDim + kvOff + d]!;
        const score = fr(fr(dot) * scale);
        let ms = 1, vs = 1;
        if (score > M) {
          ms = fr(Math.exp(fr(M - score)));
          M = score;
          for (let d = 0; d < headDim; d++) vkq[d] = roundToF16(vkq[d]! * ms);
        } else {
          vs = fr(Math.exp(fr(score - M)));
        }
        // The two FMAs: the products are exact in double, the sums too unless they span more than
        // 53 bits (then a double rounding may differ from the FMA's single one: ~2^-29 of cases).
        for (let d = 0; d < headDim; d++) vkq[d] = roundToF16(fr(v[p * kvDim + kvOff + d]! * vs + vkq[d]!));
        S = fr(S * ms + vs);
      }
      const inv = S === 0 ? 0 : fr(1 / S);
      for (let d = 0; d < headDim; d++) out[o + d] = vkq[d]! * inv;
    }
  });
  return out;
}

/** Bit-for-bit equality (so +0 != -0, and NaN only equals NaN); names the first mismatches. */
function expectBitExact(got: Float32Array, want: Float32Array, label: string, cols: number): void {
  expect(got.length).toBe(want.length);
  const bad: string[] = [];
  let n = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(g) && Number.isNaN(w)) continue;
    if (f32Bits(g) !== f32Bits(w)) {
      if (++n <= 5) bad.push(`[row ${Math.floor(i / cols)}, col ${i % cols}] got ${g} want ${w} (${f32Bits(g) - f32Bits(w)} ulp)`);
    }
  }
  expect(n, `${label}: ${n} of ${want.length} values differ from the oracle: ${bad.join('; ')}`).toBe(0);
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

  function shapeOf(headDim: number, nHeads: number, nKvHeads: number, pageSize: number, kvF16: boolean, maxLen: number, opt: { flash?: boolean; workgroupSize?: number } = {}): AttentionShape {
    return { headDim, nHeads, nKvHeads, pageSize, kvF16, maxPagesPerSeq: Math.ceil(maxLen / pageSize) + 1, ...opt };
  }

  /** f16 cache (flash emulation): bit-exact with 'ggml-flash'; f32 cache or flash off: close to 'exact'. */
  function check(s: AttentionShape, sc: Scenario, got: Float32Array, key: string): void {
    if (s.kvF16 && s.flash !== false) expectBitExact(got, flashOracle(s, sc), key, sc.qDim);
    else assertClose(got, oracle(s, sc), { atol: 5e-6, rtol: 2e-5, label: key, shape: [sc.batch.length, s.nHeads, s.headDim] });
  }

  it('ragged batch: decode token, prefill chunk at a non-zero position, fresh prompt, 300-position decode (f16 cache)', async () => {
    const s = shapeOf(16, 4, 2, 7, true, 300);
    const seqs: Seq[] = [{ slot: 2, start: 40, n: 1 }, { slot: 0, start: 23, n: 12 }, { slot: 4, start: 0, n: 10 }, { slot: 1, start: 299, n: 1 }];
    const sc = scenario(s, seqs, 1);
    const { got, key } = await gpuAttention(s, sc);
    expectBitExact(got, flashOracle(s, sc), key, sc.qDim);
    // test/reference/ops.ts's 'ggml-flash' takes expf of the unrounded difference M - s: where that
    // changes ms or vs by an ulp, S moves by an ulp or an f16 rounding of VKQ flips (2^-11 relative).
    assertClose(got, oracle(s, sc, 'ggml-flash'), { atol: 2e-3, rtol: 2e-3, label: `${key} vs ops.ts ggml-flash`, shape: [sc.batch.length, s.nHeads, s.headDim] });
    // The flash numerics (f16 accumulator) are only close to exact attention, and to llama.cpp's
    // non-flash graph (f16 probabilities).
    assertClose(got, oracle(s, sc), { atol: 3e-3, rtol: 3e-3, label: `${key} vs exact`, shape: [sc.batch.length, s.nHeads, s.headDim] });
    assertClose(got, oracle(s, sc, 'ggml'), { atol: 3e-3, rtol: 3e-3, label: `${key} vs ggml non-flash`, shape: [sc.batch.length, s.nHeads, s.headDim] });
  });

  // [headDim, nHeads, nKvHeads, pageSize, kvF16, workgroupSize]: GQA 1, 2, 4 and MQA; head dims 8, 16,
  // 64; both caches; chunks of 64 positions (the default) and of 8 or 13 (many chunk boundaries).
  const shapes = [
    [8, 3, 3, 5, false, 64], [8, 4, 1, 16, true, 64], [16, 6, 3, 13, false, 13], [16, 4, 4, 3, true, 8],
    [64, 4, 2, 16, true, 64], [64, 4, 1, 5, false, 64], [64, 2, 1, 64, true, 13], [16, 2, 1, 1, false, 64],
  ] as const;
  for (const [headDim, nHeads, nKvHeads, pageSize, kvF16, wg] of shapes) {
    it(`headDim=${headDim} heads=${nHeads}/${nKvHeads} page=${pageSize} wg=${wg} ${kvF16 ? 'f16 (flash, bit-exact)' : 'f32'}`, async () => {
      const s = shapeOf(headDim, nHeads, nKvHeads, pageSize, kvF16, 310, wg === 64 ? {} : { workgroupSize: wg });
      // A 70-token fresh prompt (rows spanning two chunks), a chunk continuing at 250 up to 303, decodes.
      const seqs: Seq[] = [{ slot: 3, start: 0, n: 70 }, { slot: 1, start: 250, n: 53 }, { slot: 0, start: 129, n: 1 }, { slot: 5, start: 7, n: 1 }];
      const sc = scenario(s, seqs, headDim * 100 + nHeads * 10 + nKvHeads + pageSize * 1000);
      const { got, key } = await gpuAttention(s, sc);
      check(s, sc, got, key);
    });
  }

  it('f16 cache with flash off: plain online softmax, close to exact attention', async () => {
    const s = shapeOf(16, 4, 2, 5, true, 140, { flash: false });
    const sc = scenario(s, [{ slot: 0, start: 60, n: 10 }, { slot: 2, start: 0, n: 5 }, { slot: 1, start: 130, n: 1 }], 21);
    const { got, key } = await gpuAttention(s, sc);
    expect(key).not.toContain('FLASH');
    assertClose(got, oracle(s, sc), { atol: 5e-6, rtol: 2e-5, label: key, shape: [sc.batch.length, s.nHeads, s.headDim] });
  });

  it('score sequences with rising maxima, ties, falling runs, huge jumps and underflowing weights (f16, bit-exact)', async () => {
    // With q = (4, 0, ...) and scale 1/4 the score of position p is k[p][0] (k[p][1] adds small noise):
    // every branch of the online softmax, chosen per position across 5 chunks.
    const s = shapeOf(16, 2, 1, 8, true, 300);
    const len = 300;
    const r = rng(5);
    const kv = (_slot: number, n: number, kvDim: number) => {
      const k = new Float32Array(n * kvDim), v = randn(r, n * kvDim);
      let m = 0;
      for (let p = 0; p < n; p++) {
        let sc: number;
        if (p < 40) sc = p * 0.375; // rising: a new maximum every position (ms < 1, VKQ rescaled)
        else if (p < 70) sc = m; // ties with the maximum: vs = exp(0) = 1
        else if (p < 110) sc = m - (p - 69) * 0.25; // falling
        else if (p === 110) sc = m + 100; // jump: ms = exp(-100) underflows, VKQ -> 0
        else if (p < 130) sc = m - [95, 120, 88, 104, 0.5][(p - 111) % 5]!; // weights exp(-95) (an f32 subnormal), 0, ...
        else if (p === 130) sc = m + 1 / 16; // a barely larger maximum
        else sc = m - Math.floor(r() * 48) / 8 + (r() < 0.1 ? 0.75 : 0); // random, some new maxima and ties
        sc = roundToF16(sc);
        m = Math.max(m, sc);
        k[p * kvDim] = sc;
        if (p >= 131 && r() < 0.5) k[p * kvDim + 1] = roundToF16(r() * 0.01); // not always exactly on the grid
      }
      // V elements 0..3 are exactly zero at the jump and negative or zero after it: the VKQ zeros then
      // take the sign of v * (an underflowed weight).
      for (let p = 110; p < 130; p++) for (let d = 0; d < 4; d++) v[p * kvDim + d] = p === 110 ? (d % 2 ? -0 : 0) : d === 3 ? 0 : -Math.abs(v[p * kvDim + d]!);
      return { k, v };
    };
    const q = (rows: number, qDim: number) => {
      const x = randn(r, rows * qDim);
      for (let i = 0; i < rows; i++) { x.fill(0, i * qDim, i * qDim + 16); x[i * qDim] = 4; } // head 0: the crafted scores
      return x;
    };
    const rows = [0, 1, 39, 40, 63, 64, 69, 100, 110, 111, 112, 115, 127, 128, 129, 130, 131, 191, 192, 256, 299].map((pos) => ({ slot: 0, pos }));
    const sc = scenario(s, [{ slot: 0, start: len, n: 0 }], 9, rows, { kv, q });
    const { got, key } = await gpuAttention(s, sc);
    const want = flashOracle(s, sc);
    expectBitExact(got, want, key, sc.qDim);
    // The underflow cases did happen: zeros of both signs in head 0's first elements.
    const zeros = rows.flatMap((_, i) => Array.from(want.subarray(i * sc.qDim, i * sc.qDim + 4))).filter((x) => x === 0);
    expect(zeros.some((x) => Object.is(x, -0)) && zeros.some((x) => Object.is(x, 0))).toBe(true);
  });

  it('maps a 2-D grid with overshoot (x + y * num_workgroups.x), as grid1d makes past 65535', async () => {
    for (const kvF16 of [false, true]) {
      const s = shapeOf(16, 3, 1, 4, kvF16, 40);
      const sc = scenario(s, [{ slot: 0, start: 30, n: 9 }, { slot: 1, start: 0, n: 5 }], 11); // 14 rows x 3 heads = 42 workgroups
      const { got, key } = await gpuAttention(s, sc, sc.batch.length, [9, 5, 1]); // 45 >= 42
      check(s, sc, got, key);
    }
  });

  it('more than 65535 workgroups (grid over x and y)', async () => {
    // 1025 rows x 64 heads = 65600 workgroups. SwiftShader's time is per workgroup and SIMD-4 group (it
    // runs every group through all the code, taken or not): short contexts and 4-thread workgroups.
    const s = shapeOf(8, 64, 2, 2, true, 5, { workgroupSize: 4 });
    const rows = Array.from({ length: 1025 }, (_, i) => ({ slot: i % 3, pos: (i * 7) % 5 }));
    const sc = scenario(s, [{ slot: 0, start: 5, n: 0 }, { slot: 1, start: 5, n: 0 }, { slot: 2, start: 5, n: 0 }], 77, rows);
    const { got, key, dispatch } = await gpuAttention(s, sc);
    expect(dispatch[1]).toBeGreaterThan(1);
    check(s, sc, got, key);
  });

  it('rows past n_tokens are untouched; a position on an unmapped page makes its row NaN', async () => {
    for (const flash of [true, false]) {
      const s = shapeOf(8, 2, 1, 4, true, 12, { flash });
      const sc = scenario(s, [{ slot: 0, start: 5, n: 2 }, { slot: 1, start: 0, n: 3 }], 3);
      const last = sc.batch.length - 1; // run with n_tokens = last: the last row must stay untouched
      const want = flash ? flashOracle(s, sc) : oracle(s, sc);
      sc.pt[1 * s.maxPagesPerSeq + 0] = 999; // slot 1's only page, now out of range (kv_write skips it too); slot 0 is unaffected
      const { got } = await gpuAttention(s, sc, last);
      for (let i = 0; i < last; i++) {
        const row = got.subarray(i * sc.qDim, (i + 1) * sc.qDim), wantRow = want.subarray(i * sc.qDim, (i + 1) * sc.qDim);
        if (sc.batch[i]!.slot === 1) expect(row.every(Number.isNaN), `row ${i} (slot 1) should be NaN`).toBe(true);
        else if (flash) expectBitExact(row, wantRow, `row ${i}`, sc.qDim);
        else assertClose(row, wantRow, { atol: 5e-6, rtol: 2e-5, label: `row ${i}` });
      }
      expect(sc.batch.slice(0, last).filter((x) => x.slot === 1).length).toBeGreaterThan(0);
      expect(Array.from(got.subarray(last * sc.qDim))).toEqual(new Array(sc.qDim).fill(-7));
    }
  });

  it('rejects bad shapes', async () => {
    const ok = shapeOf(8, 4, 2, 4, true, 16);
    await expect(AttentionKernel.create(t.cache, { ...ok, nHeads: 6, nKvHeads: 4 })).rejects.toThrow(RangeError);
    await expect(AttentionKernel.create(t.cache, { ...ok, headDim: 9 })).rejects.toThrow(RangeError);
    await expect(AttentionKernel.create(t.cache, { ...ok, pageSize: 0 })).rejects.toThrow(RangeError);
    await expect(AttentionKernel.create(t.cache, { ...ok, workgroupSize: 257 })).rejects.toThrow(RangeError);
  });

  it('scale is llama.cpp\'s 1.0f / sqrtf(headDim)', () => {
    // Equal to the oracle's f32(1 / sqrt(d)) for the dims tested here; not for every d (e.g. 96).
    for (const d of [8, 16, 64, 128]) expect(attentionScale(d)).toBe(Math.fround(1 / Math.sqrt(d)));
    expect(attentionScale(96)).toBe(Math.fround(1 / Math.fround(Math.sqrt(96))));
  });
});
