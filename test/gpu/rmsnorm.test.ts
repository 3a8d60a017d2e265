import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RmsNormKernel } from '../../src/gpu/kernels/rmsnorm.js';
import { rmsnorm } from '../reference/ops.js';
import { expectClose, randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

describe('rmsnorm kernel vs CPU oracle', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  // Ragged and odd sizes on purpose: rows not a multiple of anything, dims below and above the workgroup.
  const shapes = [[1, 1], [3, 7], [5, 64], [17, 130], [2, 333], [9, 1024]] as const;
  for (const [rows, dim] of shapes) {
    it(`rows=${rows} dim=${dim}`, async () => {
      const r = rng(rows * 1000 + dim);
      const x = randn(r, rows * dim, 2);
      const w = randn(r, dim);
      const k = await RmsNormKernel.create(t.cache, { dim, eps: 1e-5, rows: 'tokens' });
      const bx = storage(t, 'x', x), bw = storage(t, 'w', w), by = storage(t, 'y', rows * dim * 4);
      const op = k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, w: bw, y: by });
      t.step.set(rows, 0);
      await run(t, [op(rows)]);
      const got = await readF32(t, by, rows * dim);
      const want = new Float32Array(rows * dim);
      for (let i = 0; i < rows; i++) want.set(rmsnorm(x.subarray(i * dim, (i + 1) * dim), w, 1e-5), i * dim);
      expectClose(got, want, { atol: 1e-5, rtol: 1e-5, label: `rmsnorm ${rows}x${dim}`, cols: dim });
      for (const b of [bx, bw, by]) t.gpu.destroyBuffer(b);
    });
  }

  it('ignores rows past n_tokens', async () => {
    const dim = 8;
    const k = await RmsNormKernel.create(t.cache, { dim, eps: 1e-5, rows: 'tokens' });
    const bx = storage(t, 'x', new Float32Array(2 * dim).fill(1)), bw = storage(t, 'w', new Float32Array(dim).fill(1));
    const by = storage(t, 'y', new Float32Array(2 * dim).fill(-7));
    t.step.set(1, 0);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, w: bw, y: by })(2)]);
    const got = await readF32(t, by, 2 * dim);
    expect(Array.from(got.subarray(dim))).toEqual(new Array(dim).fill(-7));
    expect(got[0]).toBeCloseTo(1 / Math.sqrt(1 + 1e-5), 6);
  });
});
