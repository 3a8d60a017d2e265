import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddKernel } from '../../src/gpu/kernels/add.js';
import { GatherRowsKernel } from '../../src/gpu/kernels/gather-rows.js';
import { SwigluKernel } from '../../src/gpu/kernels/swiglu.js';
import { swiglu } from '../reference/ops.js';
import { expectClose, randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

// Ragged and odd sizes on purpose: element counts not a multiple of the 256-wide workgroup.
const shapes = [[1, 1], [3, 7], [5, 300], [17, 130], [2, 1000], [33, 257]] as const;

describe('element-wise kernels vs CPU oracle', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());
  const free = (...bs: GPUBuffer[]) => { for (const b of bs) t.gpu.destroyBuffer(b); };

  for (const [rows, ffn] of shapes) {
    for (const inPlace of [false, true]) {
      it(`swiglu rows=${rows} ffn=${ffn}${inPlace ? ' in place' : ''}`, async () => {
        const r = rng(rows * 7919 + ffn);
        const n = rows * ffn;
        const gate = randn(r, n, 4), up = randn(r, n);
        // Extremes: silu must not overflow to NaN (exp(+large)) at either end.
        if (n > 4) { gate[0] = -100; gate[1] = 100; gate[2] = -1e30; gate[3] = 90; }
        const k = await SwigluKernel.create(t.cache, { ffnDim: ffn, rows: 'tokens' });
        const bg = storage(t, 'gate', gate), bu = storage(t, 'up', up);
        const bo = inPlace ? bg : storage(t, 'out', n * 4);
        t.step.set(rows, 0);
        await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, gate: bg, up: bu, out: bo })(rows)]);
        const want = new Float32Array(n);
        swiglu(want, gate, up, n);
        expectClose(await readF32(t, bo, n), want, { atol: 1e-6, rtol: 2e-6, label: `swiglu ${rows}x${ffn}`, cols: ffn });
        free(bg, bu, bo);
      });
    }
  }

  it('swiglu uses n_out with rows: out and ignores rows past the count', async () => {
    const ffn = 5;
    const k = await SwigluKernel.create(t.cache, { ffnDim: ffn, rows: 'out' });
    const bg = storage(t, 'gate', new Float32Array(3 * ffn).fill(1)), bu = storage(t, 'up', new Float32Array(3 * ffn).fill(2));
    const bo = storage(t, 'out', new Float32Array(3 * ffn).fill(-7));
    t.step.set(3, 2);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, gate: bg, up: bu, out: bo })(3)]);
    const got = await readF32(t, bo, 3 * ffn);
    expect(Array.from(got.subarray(2 * ffn))).toEqual(new Array(ffn).fill(-7));
    expect(got[0]).toBeCloseTo(2 / (1 + Math.exp(-1)), 6);
    free(bg, bu, bo);
  });

  for (const [rows, dim] of shapes) {
    it(`add rows=${rows} dim=${dim}`, async () => {
      const r = rng(rows * 31 + dim);
      const x = randn(r, rows * dim, 3), y = randn(r, rows * dim, 3);
      const k = await AddKernel.create(t.cache, { dim, rows: 'tokens' });
      const bx = storage(t, 'x', x), by = storage(t, 'y', y);
      t.step.set(rows, 0);
      await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, y: by })(rows)]);
      const want = y.map((v, i) => v + x[i]!);
      expectClose(await readF32(t, by, rows * dim), want, { atol: 0, label: `add ${rows}x${dim}`, cols: dim });
      free(bx, by);
    });
  }

  it('add over more than 65535 workgroups (2-D grid) and rows past n_tokens untouched', async () => {
    const rows = 257, dim = 65536, n = rows * dim; // 65792 workgroups of 256
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) { x[i] = i % 1009; y[i] = (i % 13) * 0.5; }
    const k = await AddKernel.create(t.cache, { dim });
    const bx = storage(t, 'x', x), by = storage(t, 'y', y);
    const op = k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, y: by })(rows);
    expect(op.dispatch[1]).toBeGreaterThan(1);
    t.step.set(rows - 1, 0);
    await run(t, [op]);
    const want = y.map((v, i) => (i < (rows - 1) * dim ? v + x[i]! : v));
    expectClose(await readF32(t, by, n), want, { atol: 0, label: 'add 2-D grid', cols: dim });
    free(bx, by);
  });

  it('add refuses x aliasing y', async () => {
    const k = await AddKernel.create(t.cache, { dim: 4 });
    const b = storage(t, 'xy', 16);
    expect(() => k.bind(t.gpu, 'test', { step: t.step.buffer, x: b, y: b })).toThrow(/alias/);
    free(b);
  });

  const gathers = [[5, 3, 7], [1, 1, 1], [40, 17, 130], [9, 9, 333], [64, 3, 1024]] as const;
  for (const [nTokens, nOut, dim] of gathers) {
    it(`gather_rows n_tokens=${nTokens} n_out=${nOut} dim=${dim}`, async () => {
      const r = rng(nTokens * 13 + nOut * 7 + dim);
      const src = randn(r, nTokens * dim);
      const idx = Uint32Array.from({ length: nOut }, (_, j) => (j === nOut - 1 ? nTokens - 1 : Math.floor(r() * nTokens)));
      const k = await GatherRowsKernel.create(t.cache, { dim });
      const bs = storage(t, 'src', src), bi = storage(t, 'idx', idx), bd = storage(t, 'dst', new Float32Array((nOut + 1) * dim).fill(-7));
      t.step.set(nTokens, nOut);
      await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, src: bs, idx: bi, dst: bd })(nOut)]);
      const want = new Float32Array((nOut + 1) * dim).fill(-7);
      for (let j = 0; j < nOut; j++) want.set(src.subarray(idx[j]! * dim, (idx[j]! + 1) * dim), j * dim);
      expectClose(await readF32(t, bd, (nOut + 1) * dim), want, { atol: 0, label: `gather ${nTokens}->${nOut}x${dim}`, cols: dim });
      free(bs, bi, bd);
    });
  }

  it('gather_rows zero-fills rows whose index is >= n_tokens', async () => {
    const dim = 3;
    const k = await GatherRowsKernel.create(t.cache, { dim });
    const bs = storage(t, 'src', Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const bi = storage(t, 'idx', Uint32Array.from([2, 3, 0, 1000]));
    const bd = storage(t, 'dst', new Float32Array(4 * dim).fill(-7));
    t.step.set(3, 4);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, src: bs, idx: bi, dst: bd })(4)]);
    expect(Array.from(await readF32(t, bd, 4 * dim))).toEqual([7, 8, 9, 0, 0, 0, 1, 2, 3, 0, 0, 0]);
    free(bs, bi, bd);
  });
});
