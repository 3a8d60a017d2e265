import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MatmulKernel, needsQ8Activations } from '../../src/gpu/kernels/matmul.js';
import { QuantizeQ8Kernel } from '../../src/gpu/kernels/quantize-q8.js';
import type { Op } from '../../src/gpu/ops.js';
import { GGMLType, ggmlTypeName } from '../../src/model/dtypes.js';
import { firstDifference } from '../reference/compare.js';
import { matmul, prepareWeight } from '../reference/ops.js';
import { f32ToBf16, f32ToF16, quantizeQ4_0, quantizeQ8_0, rowBytes } from '../reference/quant.js';
import { randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

const { F32, F16, BF16, Q8_0, Q4_0 } = GGMLType;

/** Raw GGUF bytes of a random [n, k] weight of type `type`. */
function makeWeight(type: number, k: number, n: number, seed: number): Uint8Array {
  const v = randn(rng(seed), k * n, 0.5);
  switch (type) {
    case F32: return new Uint8Array(v.buffer);
    case F16: return new Uint8Array(Uint16Array.from(v, (e) => f32ToF16(e)).buffer);
    case BF16: return new Uint8Array(Uint16Array.from(v, (e) => f32ToBf16(e)).buffer);
    case Q8_0: return quantizeQ8_0(v);
    default: return quantizeQ4_0(v);
  }
}

/** Bit-exact comparison (f32 bit patterns), naming the first differing element and counting them. */
function expectBits(got: Float32Array, want: Float32Array, cols: number, label: string): void {
  const gb = new Uint32Array(got.buffer, got.byteOffset, got.length), wb = new Uint32Array(want.buffer, want.byteOffset, want.length);
  const i = firstDifference(gb, wb);
  if (i < 0) return;
  let bad = 0, worst = 0;
  for (let j = 0; j < want.length; j++) if (gb[j] !== wb[j]) { bad++; worst = Math.max(worst, Math.abs(got[j]! - want[j]!)); }
  throw new Error(`${label}: not bit-exact: first difference at index ${i} [row ${Math.floor(i / cols)}, col ${i % cols}]: got ${got[i]}, expected ${want[i]}; ${bad} of ${want.length} differ, max |diff| ${worst.toExponential(3)}`);
}

interface RunOpts {
  dot4?: boolean;
  from?: 'tokens' | 'out';
  nTokens?: number;
  nOut?: number;
  tt?: number;
  lanes?: number;
  /** Split W by output rows at these row indices (one pipeline + dispatch per part). */
  splits?: number[];
}

// Every variant is compared bit for bit with the oracle's llama.cpp mode (x86-flavour Q8_0
// activations from quantize_q8, fused Q8_0 block sums, f16/bf16 activations with sequential f32
// sums, double-accumulated F32 products; see shaders/matmul.wgsl).
describe('matmul kernel vs CPU oracle matmul(.., \'llamacpp\') (bit-exact)', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  async function gpuMatmul(type: number, wBytes: Uint8Array, x: Float32Array, rows: number, k: number, n: number, o: RunOpts = {}): Promise<Float32Array> {
    const from = o.from ?? 'tokens';
    const y = storage(t, 'y', new Float32Array(rows * n).fill(-7));
    const bufs: GPUBuffer[] = [y];
    const ops: Op[] = [];
    const io: { x?: GPUBuffer; xq?: GPUBuffer; xd?: GPUBuffer } = {};
    const bx = storage(t, 'x', x);
    bufs.push(bx);
    if (needsQ8Activations(type)) {
      io.xq = storage(t, 'xq', rows * k);
      io.xd = storage(t, 'xd', (rows * k) / 8);
      bufs.push(io.xq, io.xd);
      const q = await QuantizeQ8Kernel.create(t.cache, { k, rows: from });
      ops.push(q.bind(t.gpu, 'q8', { step: t.step.buffer, x: bx, xq: io.xq, xd: io.xd })(rows));
    } else {
      io.x = bx;
    }
    const bounds = [0, ...(o.splits ?? []), n];
    for (let p = 0; p + 1 < bounds.length; p++) {
      const [n0, n1] = [bounds[p]!, bounds[p + 1]!];
      const rb = rowBytes(type, k);
      const w = storage(t, `w${p}`, wBytes.subarray(n0 * rb, n1 * rb));
      bufs.push(w);
      const kern = await MatmulKernel.create(t.cache, { dtype: type, k, n: n1 - n0, nOffset: n0, yStride: n, rows: from, dot4: o.dot4, tt: o.tt, lanes: o.lanes });
      ops.push(kern.bind(t.gpu, `mm${p}`, { step: t.step.buffer, ...io, w, y })(rows));
    }
    t.step.set(o.nTokens ?? rows, o.nOut ?? 0);
    await run(t, ops);
    const got = await readF32(t, y, rows * n);
    for (const b of bufs) t.gpu.destroyBuffer(b);
    return got;
  }

  /** GPU vs oracle, bit for bit. */
  async function check(type: number, rows: number, k: number, n: number, o: RunOpts = {}): Promise<Float32Array> {
    const seed = type * 1e6 + rows * 1e4 + k * 10 + n;
    const wBytes = makeWeight(type, k, n, seed);
    const x = randn(rng(seed + 1), rows * k, 2);
    const got = await gpuMatmul(type, wBytes, x, rows, k, n, o);
    const want = new Float32Array(rows * n);
    matmul(want, x, prepareWeight(type, [k, n], wBytes), rows, 'llamacpp');
    expectBits(got, want, n, `matmul[${ggmlTypeName(type)}${o.dot4 ? ',DOT4' : ''}] rows=${rows} k=${k} n=${n}${o.tt ? ` tt=${o.tt}` : ''}${o.lanes ? ` lanes=${o.lanes}` : ''}`);
    return got;
  }

  // The manual-unpack variant on every shape; the DOT4 one (when the language feature exists) on a subset.
  const quantShapes = [[1, 32, 5], [3, 96, 37], [7, 160, 64], [17, 4096, 9], [64, 256, 70], [1, 4096, 130]] as const;
  for (const type of [Q8_0, Q4_0]) {
    for (const dot4 of [false, true]) {
      for (const [rows, k, n] of dot4 ? [quantShapes[0], quantShapes[2], quantShapes[3], quantShapes[4]] : quantShapes) {
        it(`${ggmlTypeName(type)}${dot4 ? ' DOT4' : ''} rows=${rows} k=${k} n=${n}`, async () => {
          if (dot4 && !t.gpu.features.dot4I8Packed) return; // the variant needs the language feature
          await check(type, rows, k, n, { dot4 });
        });
      }
    }
  }

  const floatShapes = [[1, 7, 5], [3, 33, 10], [7, 96, 13], [17, 129, 37], [64, 64, 9], [1, 1001, 70]] as const;
  for (const type of [F32, F16, BF16]) {
    for (const [rows, k, n] of floatShapes) {
      it(`${ggmlTypeName(type)} rows=${rows} k=${k} n=${n}`, () => check(type, rows, k, n).then(() => undefined));
    }
  }

  it('ROWS_FROM_OUT: rows = n_out; rows past it untouched', async () => {
    for (const type of [Q8_0, F16]) {
      const k = 64, n = 11, rows = 5;
      const wBytes = makeWeight(type, k, n, 3);
      const x = randn(rng(4), rows * k);
      const got = await gpuMatmul(type, wBytes, x, rows, k, n, { from: 'out', nTokens: 5, nOut: 2 });
      const want = new Float32Array(2 * n);
      matmul(want, x.subarray(0, 2 * k), prepareWeight(type, [k, n], wBytes), 2, 'llamacpp');
      expectBits(got.subarray(0, 2 * n), want, n, `out rows ${ggmlTypeName(type)}`);
      expect(Array.from(got.subarray(2 * n)).every((v) => v === -7)).toBe(true);
    }
  });

  it('a weight split by output rows equals the whole, bit for bit', async () => {
    for (const [type, k] of [[Q4_0, 96], [F16, 97]] as const) {
      const rows = 9, n = 37;
      const wBytes = makeWeight(type, k, n, 8);
      const x = randn(rng(9), rows * k);
      const whole = await gpuMatmul(type, wBytes, x, rows, k, n);
      const three = await gpuMatmul(type, wBytes, x, rows, k, n, { splits: [5, 30] });
      expect(firstDifference(three, whole)).toBe(-1);
      expect(whole.includes(-7)).toBe(false);
    }
  });

  it('tile sizes: results do not depend on tt or lanes (sequential folds), all bit-exact', async () => {
    const a = await check(Q8_0, 19, 128, 23, { tt: 1, lanes: 4 });
    const b = await check(Q8_0, 19, 128, 23, { tt: 3, lanes: 4 });
    const c = await check(Q8_0, 19, 128, 23, { lanes: 1 });
    expect(firstDifference(a, b)).toBe(-1);
    expect(firstDifference(a, c)).toBe(-1);
    await check(F16, 5, 130, 23, { lanes: 64 });
    await check(F16, 5, 130, 23, { lanes: 2, tt: 5 });
    await check(F32, 5, 130, 23, { lanes: 64 });
  });

  it('vocab-sized n: dispatch stays within 65535 per dimension', async () => {
    // Compile only (no 500 MB weight): a 128k x 4096 Q8_0 output head.
    const kern = await MatmulKernel.create(t.cache, { dtype: Q8_0, k: 4096, n: 128256, rows: 'out' });
    for (const rows of [1, 16, 512]) {
      const d = kern.dispatch(rows);
      expect(Math.max(...d)).toBeLessThanOrEqual(65535);
      expect(d[0] * d[1] * d[2]).toBeGreaterThanOrEqual(kern.workgroups(rows));
    }
    expect(kern.workgroups(512)).toBeGreaterThan(65535);
  });

  it('workgroups numbered over x and y (as grid1d spreads them) cover every output', async () => {
    // The same linearisation as a >65535 dispatch, with a small grid: [7, ceil(total / 7)].
    const rows = 10, k = 64, n = 45;
    const wBytes = makeWeight(Q8_0, k, n, 12);
    const x = randn(rng(13), rows * k);
    const kern = await MatmulKernel.create(t.cache, { dtype: Q8_0, k, n, rows: 'tokens', lanes: 16 });
    const q = await QuantizeQ8Kernel.create(t.cache, { k, rows: 'tokens' });
    const bx = storage(t, 'x', x), xq = storage(t, 'xq', rows * k), xd = storage(t, 'xd', (rows * k) / 8);
    const w = storage(t, 'w', wBytes), y = storage(t, 'y', new Float32Array(rows * n).fill(-7));
    const op = kern.bind(t.gpu, 'mm', { step: t.step.buffer, xq, xd, w, y })(rows);
    const total = kern.workgroups(rows);
    t.step.set(rows, 0);
    await run(t, [q.bind(t.gpu, 'q8', { step: t.step.buffer, x: bx, xq, xd })(rows), { ...op, dispatch: [7, Math.ceil(total / 7), 1] }]);
    const got = await readF32(t, y, rows * n);
    const want = new Float32Array(rows * n);
    matmul(want, x, prepareWeight(Q8_0, [k, n], wBytes), rows, 'llamacpp');
    expectBits(got, want, n, 'matmul 2-D grid');
    for (const b of [bx, xq, xd, w, y]) t.gpu.destroyBuffer(b);
  });

  it('guards shapes with RangeError', async () => {
    await expect(MatmulKernel.create(t.cache, { dtype: Q8_0, k: 48, n: 4, rows: 'tokens' })).rejects.toThrow(RangeError);
    await expect(MatmulKernel.create(t.cache, { dtype: 12, k: 256, n: 4, rows: 'tokens' })).rejects.toThrow(/Q4_K/);
    await expect(MatmulKernel.create(t.cache, { dtype: F32, k: 8, n: 4, nOffset: 2, yStride: 5, rows: 'tokens' })).rejects.toThrow(RangeError);
    await expect(MatmulKernel.create(t.cache, { dtype: F32, k: 8, n: 4, tt: 9, rows: 'tokens' })).rejects.toThrow(RangeError);
    const kern = await MatmulKernel.create(t.cache, { dtype: Q8_0, k: 64, n: 4, rows: 'tokens' });
    const w = storage(t, 'w', 8);
    expect(() => kern.bind(t.gpu, 'small', { step: t.step.buffer, w, y: w })).toThrow(RangeError);
    t.gpu.destroyBuffer(w);
  });
});
