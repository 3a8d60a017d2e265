import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRopeTable, RopeKernel } from '../../src/gpu/kernels/rope.js';
import { rope, ropeCosSin } from '../reference/ops.js';
import { assertClose, firstDifference } from '../reference/compare.js';
import { randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

/** ggml's rope cache written out independently: f32 storage through Float32Array, not Math.fround. */
function independentTable(ropeDim: number, base: number, maxPos: number): Float32Array {
  const one = new Float32Array(4); // [base, exponent, thetaScale, theta]
  one[0] = base;
  one[1] = -2 / ropeDim;
  one[2] = Math.pow(one[0]!, one[1]!);
  const out = new Float32Array(maxPos * ropeDim);
  let k = 0;
  for (let p = 0; p < maxPos; p++) {
    one[3] = p;
    for (let i = 0; i < ropeDim; i += 2) {
      out[k++] = Math.cos(one[3]!);
      out[k++] = Math.sin(one[3]!);
      one[3] = one[3]! * one[2]!;
    }
  }
  return out;
}

/** Rotation with a given table (the oracle's rope() computes its own angles; used for ropeDims
 *  where those differ from ggml's f32 exponent). Minimal, test-local. */
function ropeWithTable(x: Float32Array, nTokens: number, nHeads: number, headDim: number, ropeDim: number, positions: Uint32Array, table: Float32Array): void {
  const half = ropeDim / 2;
  for (let t = 0; t < nTokens; t++) {
    for (let h = 0; h < nHeads; h++) {
      for (let i = 0; i < half; i++) {
        const b = (t * nHeads + h) * headDim + 2 * i, c = table[(positions[t]! * half + i) * 2]!, s = table[(positions[t]! * half + i) * 2 + 1]!;
        const x0 = x[b]!, x1 = x[b + 1]!;
        x[b] = Math.fround(x0 * c) - Math.fround(x1 * s);
        x[b + 1] = Math.fround(x0 * s) + Math.fround(x1 * c);
      }
    }
  }
}

describe('buildRopeTable', () => {
  for (const [ropeDim, base] of [[64, 10000], [128, 500000], [24, 10000], [6, 1e6], [2, 10000]] as const) {
    it(`ropeDim=${ropeDim} base=${base}: bit-exact with an independent f32 computation`, () => {
      const maxPos = 4100;
      const got = buildRopeTable(ropeDim, base, maxPos);
      expect(got.length).toBe(maxPos * ropeDim);
      expect(firstDifference(got, independentTable(ropeDim, base, maxPos))).toBe(-1);
    });
  }

  it('is within f32 rounding of the exact angles pos * base^(-2i/ropeDim)', () => {
    const ropeDim = 64, base = 10000, maxPos = 4096, half = ropeDim / 2;
    const table = buildRopeTable(ropeDim, base, maxPos);
    for (let p = 0; p < maxPos; p += 7) {
      for (let i = 0; i < half; i++) {
        const angle = p * Math.pow(base, (-2 * i) / ropeDim);
        // thetaScale is one rounding off, then i f32 multiplies: relative error <= (2i + 1) * 2^-24.
        const tol = angle * (2 * i + 2) * 2 ** -24 + 2e-7;
        const c = table[(p * half + i) * 2]!, s = table[(p * half + i) * 2 + 1]!;
        if (!(Math.abs(c - Math.cos(angle)) <= tol && Math.abs(s - Math.sin(angle)) <= tol)) {
          throw new Error(`pos ${p} pair ${i}: (${c}, ${s}) vs exact (${Math.cos(angle)}, ${Math.sin(angle)}), tol ${tol}`);
        }
      }
    }
  });

  it('matches the oracle ropeCosSin(ggml) where its exponent is exact in f32', () => {
    for (const ropeDim of [16, 64, 128]) {
      const table = buildRopeTable(ropeDim, 10000, 3000);
      const cos = new Float32Array(ropeDim / 2), sin = new Float32Array(ropeDim / 2);
      for (const p of [0, 1, 17, 999, 2999]) {
        ropeCosSin(p, ropeDim, 10000, 'ggml', cos, sin);
        const row = table.subarray(p * ropeDim, (p + 1) * ropeDim);
        expect(firstDifference(row.filter((_, j) => j % 2 === 0), cos)).toBe(-1);
        expect(firstDifference(row.filter((_, j) => j % 2 === 1), sin)).toBe(-1);
      }
    }
  });

  it('rejects odd ropeDim', () => {
    expect(() => buildRopeTable(7, 10000, 4)).toThrow(RangeError);
  });
});

describe('rope kernel vs CPU oracle', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  // [nTokens, nHeads, headDim, ropeDim]: ropeDim < headDim, odd head counts, a single token.
  const shapes = [[1, 1, 8, 8], [7, 3, 16, 8], [13, 5, 64, 64], [19, 2, 64, 32], [5, 7, 128, 128], [11, 4, 20, 12]] as const;
  for (const [nTokens, nHeads, headDim, ropeDim] of shapes) {
    it(`tokens=${nTokens} heads=${nHeads} headDim=${headDim} ropeDim=${ropeDim}`, async () => {
      const base = 10000, maxPos = 4100;
      const r = rng(nTokens * 7919 + nHeads * 131 + headDim * 7 + ropeDim);
      const x = randn(r, nTokens * nHeads * headDim, 3);
      const positions = new Uint32Array(nTokens).map((_, i) => (i === 0 ? 4099 : Math.floor(r() * maxPos)));
      const table = buildRopeTable(ropeDim, base, maxPos);
      const want = x.slice();
      if ((ropeDim & (ropeDim - 1)) === 0) rope(want, nTokens, nHeads, headDim, ropeDim, positions, base, 'ggml'); // same table (checked above)
      else ropeWithTable(want, nTokens, nHeads, headDim, ropeDim, positions, table);

      const k = await RopeKernel.create(t.cache, { headDim, nHeads, ropeDim });
      const bx = storage(t, 'x', x), bp = storage(t, 'positions', positions), bt = storage(t, 'table', table);
      const op = k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, positions: bp, table: bt });
      t.step.set(nTokens, 0);
      await run(t, [op(nTokens)]);
      const got = await readF32(t, bx, x.length);
      assertClose(got, want, { atol: 2e-6, rtol: 2e-6, label: `rope ${k.key}`, shape: [nTokens, nHeads, headDim] });
      for (let i = 0; i < x.length; i++) if (i % headDim >= ropeDim && got[i] !== x[i]) throw new Error(`rope touched dim ${i % headDim} >= ropeDim at ${i}`);
      for (const b of [bx, bp, bt]) t.gpu.destroyBuffer(b);
    });
  }

  it('ignores rows past n_tokens; a position past the table gives NaN', async () => {
    const headDim = 8, nHeads = 2, ropeDim = 4;
    const k = await RopeKernel.create(t.cache, { headDim, nHeads, ropeDim });
    const x = new Float32Array(3 * nHeads * headDim).fill(1);
    const bx = storage(t, 'x', x), bp = storage(t, 'positions', new Uint32Array([0, 10, 3])), bt = storage(t, 'table', buildRopeTable(ropeDim, 10000, 10));
    t.step.set(2, 0);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, positions: bp, table: bt })(3)]);
    const got = await readF32(t, bx, x.length);
    expect(Array.from(got.subarray(0, headDim))).toEqual(new Array(headDim).fill(1)); // pos 0: identity
    expect(Number.isNaN(got[nHeads * headDim])).toBe(true);
    expect(got[nHeads * headDim + ropeDim]).toBe(1);
    expect(Array.from(got.subarray(2 * nHeads * headDim))).toEqual(new Array(nHeads * headDim).fill(1));
  });

  it('rejects bad shapes', async () => {
    await expect(RopeKernel.create(t.cache, { headDim: 8, nHeads: 1, ropeDim: 10 })).rejects.toThrow(RangeError);
    await expect(RopeKernel.create(t.cache, { headDim: 7, nHeads: 1, ropeDim: 6 })).rejects.toThrow(RangeError);
    await expect(RopeKernel.create(t.cache, { headDim: 8, nHeads: 1, ropeDim: 3 })).rejects.toThrow(RangeError);
  });
});
