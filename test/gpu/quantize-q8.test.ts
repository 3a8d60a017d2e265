import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QuantizeQ8Kernel, type Q8Flavor } from '../../src/gpu/kernels/quantize-q8.js';
import { firstDifference } from '../reference/compare.js';
import { quantizeActQ8_0 } from '../reference/quant.js';
import { randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

// Bit-exact against the oracle: quants as bytes, scales as f32 bit patterns.
function expectExact(got: { q: Int8Array; d: Float32Array }, x: Float32Array, rows: number, k: number, label: string, flavor: Q8Flavor = 'x86'): void {
  const want = { q: new Int8Array(rows * k), d: new Float32Array((rows * k) / 32) };
  for (let r = 0; r < rows; r++) {
    const a = quantizeActQ8_0(x, r * k, k, undefined, flavor);
    want.q.set(a.qs, r * k);
    want.d.set(a.d, (r * k) / 32);
  }
  const dq = firstDifference(got.q, want.q);
  if (dq >= 0) throw new Error(`${label}: first quant mismatch at index ${dq} [row ${Math.floor(dq / k)}, col ${dq % k}]: got ${got.q[dq]}, expected ${want.q[dq]} (x = ${x[dq]})`);
  const gb = new Uint32Array(got.d.buffer, got.d.byteOffset, got.d.length), wb = new Uint32Array(want.d.buffer);
  const dd = firstDifference(gb, wb);
  if (dd >= 0) throw new Error(`${label}: first scale mismatch at block ${dd}: got ${got.d[dd]}, expected ${want.d[dd]}`);
}

describe('quantize_q8 kernel vs CPU oracle quantizeActQ8_0 (bit-exact; x86 flavour by default, generic on request)', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  async function quantize(x: Float32Array, rows: number, k: number, opts: { nTokens?: number; nOut?: number; from?: 'tokens' | 'out'; flavor?: Q8Flavor } = {}) {
    const kern = await QuantizeQ8Kernel.create(t.cache, { k, rows: opts.from ?? 'tokens', flavor: opts.flavor });
    const bx = storage(t, 'x', x), bq = storage(t, 'xq', new Int8Array(rows * k).fill(0x55)), bd = storage(t, 'xd', new Float32Array((rows * k) / 32).fill(-7));
    t.step.set(opts.nTokens ?? rows, opts.nOut ?? 0);
    await run(t, [kern.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, xq: bq, xd: bd })(rows)]);
    const q = new Int8Array(await t.gpu.read(bq, 0, rows * k));
    const d = await readF32(t, bd, (rows * k) / 32);
    for (const b of [bx, bq, bd]) t.gpu.destroyBuffer(b);
    return { q, d };
  }

  // Block magnitudes over a wide range (f16 subnormal scales below ~0.0078, large ones up to 1e6),
  // so the divisions and the f16 rounding of d see many exponents and mantissas.
  function wideRows(seed: number, rows: number, k: number): Float32Array {
    const r = rng(seed);
    const x = randn(r, rows * k);
    for (let b = 0; b < (rows * k) / 32; b++) {
      const scale = 2 ** (r() * 44 - 24) * (0.5 + r());
      for (let j = 0; j < 32; j++) x[b * 32 + j]! *= scale;
    }
    return x;
  }

  const shapes = [[1, 32], [3, 96], [7, 160], [17, 4096], [64, 512]] as const;
  for (const flavor of ['x86', 'generic'] as const) {
    for (const [rows, k] of flavor === 'x86' ? shapes : shapes.slice(0, 4)) {
      it(`${flavor} random rows=${rows} k=${k}`, async () => {
        const x = wideRows(rows * 7919 + k, rows, k);
        expectExact(await quantize(x, rows, k, { flavor }), x, rows, k, `q8 ${flavor} ${rows}x${k}`, flavor);
      });
    }
  }

  it('x86: exact .5 ties of x * 127/amax round half to even; zero and tiny blocks', async () => {
    const k = 32 * 5;
    const x = new Float32Array(k);
    const r = rng(6);
    // block 0: amax 127 -> id = 1: x = m + 0.5 ties of both parities and signs
    for (let j = 0; j < 32; j++) x[j] = (j % 2 ? -1 : 1) * (Math.floor(r() * 126) + 0.5);
    x[31] = 127;
    // block 1: amax 254 -> id = 0.5: odd integers give ties
    for (let j = 0; j < 32; j++) x[32 + j] = (j % 3 ? 1 : -1) * (2 * Math.floor(r() * 126) + 1);
    x[32 + 9] = -254;
    // block 2: all zero -> d = 0, q = 0
    // block 3: amax 12.7: id = 127/12.7 not exact, ties only by rounding coincidence
    for (let j = 0; j < 32; j++) x[96 + j] = (j - 16) * 0.35;
    x[96] = 12.7;
    // block 4: amax ~1e-37: 127/amax overflows f32, so every quant is 0 (as the oracle's int8 store)
    for (let j = 0; j < 32; j++) x[128 + j] = (j - 15.5) * 1e-38;
    const got = await quantize(x, 1, k);
    expectExact(got, x, 1, k, 'q8 x86 ties');
    // The flavours really differ on ties: block 0 rounds 0.5 up/down to even, not away from zero.
    const generic = quantizeActQ8_0(x, 0, k, undefined, 'generic');
    expect(firstDifference(got.q.subarray(0, 32), generic.qs.subarray(0, 32))).toBeGreaterThanOrEqual(0);
  });

  it('generic: exact .5 ties round half away from zero; zero blocks', async () => {
    const k = 32 * 6;
    const x = new Float32Array(k);
    const r = rng(5);
    // block 0: amax 127 -> d = 1, id = 1: x = m + 0.5 ties both signs
    for (let j = 0; j < 32; j++) x[j] = (j % 2 ? -1 : 1) * (Math.floor(r() * 126) + 0.5);
    x[31] = 127;
    // block 1: amax 63.5 -> d = 0.5, id = 2: quarter-steps give ties at x * 2 = m + 0.5
    for (let j = 0; j < 32; j++) x[32 + j] = (j % 3 ? 1 : -1) * (Math.floor(r() * 120) * 0.5 + 0.25);
    x[32 + 5] = -63.5;
    // block 2: all zero -> d = 0, q = 0
    // block 3: amax 12.7 (d = 0.1 f32, id not exact): ties only by rounding coincidence
    for (let j = 0; j < 32; j++) x[96 + j] = (j - 16) * 0.35;
    x[96] = 12.7;
    // block 4: amax 254 -> d = 2, id = 0.5: odd integers give ties
    for (let j = 0; j < 32; j++) x[128 + j] = (j % 2 ? -1 : 1) * (2 * Math.floor(r() * 126) + 1);
    x[128 + 7] = 254;
    // block 5: tiny values (f16-subnormal d)
    for (let j = 0; j < 32; j++) x[160 + j] = (j - 15.5) * 1e-6;
    expectExact(await quantize(x, 1, k, { flavor: 'generic' }), x, 1, k, 'q8 generic ties', 'generic');
  });

  it('rows from n_out, and leaves rows past the step count alone', async () => {
    const k = 64, rows = 4;
    const x = randn(rng(11), rows * k);
    const got = await quantize(x, rows, k, { nTokens: 4, nOut: 2, from: 'out' });
    expectExact({ q: got.q.subarray(0, 2 * k), d: got.d.subarray(0, 4) }, x.subarray(0, 2 * k), 2, k, 'q8 out rows');
    expect(Array.from(got.q.subarray(2 * k)).every((v) => v === 0x55)).toBe(true);
    expect(Array.from(got.d.subarray(4))).toEqual(new Array(4).fill(-7));
  });

  it('rejects k that is not a multiple of 32', async () => {
    await expect(QuantizeQ8Kernel.create(t.cache, { k: 48, rows: 'tokens' })).rejects.toThrow(RangeError);
    await expect(QuantizeQ8Kernel.create(t.cache, { k: 64, rows: 'tokens', flavor: 'arm' as Q8Flavor })).rejects.toThrow(RangeError);
  });
});
