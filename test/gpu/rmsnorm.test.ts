import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RmsNormKernel } from '../../src/gpu/kernels/rmsnorm.js';
import { firstDifference } from '../reference/compare.js';
import { rmsnorm } from '../reference/ops.js';
import { randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

/** Bit-exact (f32 bit patterns), naming the first differing element. */
function expectBits(got: Float32Array, want: Float32Array, cols: number, label: string): void {
  const i = firstDifference(new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length));
  if (i >= 0) throw new Error(`${label}: first difference at index ${i} [row ${Math.floor(i / cols)}, col ${i % cols}]: got ${got[i]}, expected ${want[i]}`);
}

// The oracle is ggml_rms_norm + ggml_mul as llama.cpp's CPU computes them (double sum of f32
// squares, f32 mean, IEEE sqrtf and division); the kernel reproduces each rounding (see
// shaders/rmsnorm.wgsl), so the comparison is bit for bit.
describe('rmsnorm kernel vs CPU oracle rmsnorm (bit-exact)', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  async function check(x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number, label: string): Promise<void> {
    const k = await RmsNormKernel.create(t.cache, { dim, eps, rows: 'tokens' });
    const bx = storage(t, 'x', x), bw = storage(t, 'w', w), by = storage(t, 'y', rows * dim * 4);
    t.step.set(rows, 0);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, w: bw, y: by })(rows)]);
    const got = await readF32(t, by, rows * dim);
    // EPS is an f32 override constant, as llama.cpp's eps op parameter is a float.
    const want = new Float32Array(rows * dim);
    rmsnorm(want, x, w, rows, dim, Math.fround(eps));
    expectBits(got, want, dim, label);
    for (const b of [bx, bw, by]) t.gpu.destroyBuffer(b);
  }

  // Ragged and odd sizes on purpose: dims below and above the workgroup, powers of two (exact
  // division by DIM) and not (the mean's correction step matters).
  const shapes = [[1, 1], [3, 7], [5, 64], [17, 130], [2, 333], [9, 1024], [40, 128], [40, 288]] as const;
  for (const [rows, dim] of shapes) {
    it(`rows=${rows} dim=${dim}`, async () => {
      const r = rng(rows * 1000 + dim);
      const x = randn(r, rows * dim, 2);
      const w = randn(r, dim);
      await check(x, w, rows, dim, 1e-5, `rmsnorm ${rows}x${dim}`);
    });
  }

  it('rows of very different magnitudes, the model eps (1e-6), exact zero rows', async () => {
    const rows = 24, dim = 96;
    const r = rng(77);
    const x = randn(r, rows * dim);
    for (let i = 0; i < rows; i++) {
      const s = i === 3 ? 0 : 2 ** (r() * 40 - 20);
      for (let j = 0; j < dim; j++) x[i * dim + j]! *= s;
    }
    await check(x, randn(r, dim), rows, dim, 9.999999974752427e-7, 'rmsnorm magnitudes');
  });

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
    for (const b of [bx, bw, by]) t.gpu.destroyBuffer(b);
  });
});
