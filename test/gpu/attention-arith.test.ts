// attention.wgsl's exact arithmetic, checked on this device through the shader's `probe` entry
// point: the rounding-error tricks that make the online softmax bit-exact (TwoSum; correctly
// rounded exp, reciprocal, fma and VKQ update; an f16 dot product exact before its one rounding)
// hold here, not simplified away by the WGSL compiler or the driver.
// The kernel itself against the CPU oracle: attention.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttentionKernel, type AttentionShape } from '../../src/gpu/kernels/attention.js';
import { f32Bits, roundToF16 } from '../reference/quant.js';
import { readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

describe('attention.wgsl exact arithmetic (probe entry point, on this device)', () => {
  let t: TestGpu;
  let pipeline: GPUComputePipeline;
  beforeAll(async () => {
    t = await testGpu();
    const s: AttentionShape = { headDim: 8, nHeads: 1, nKvHeads: 1, pageSize: 1, maxPagesPerSeq: 1, kvF16: true };
    pipeline = await t.cache.get({ ...AttentionKernel.spec(s), entryPoint: 'probe' });
  });
  afterAll(() => t?.gpu.destroy());

  /** Runs probe op `op` over n elements of input x. */
  async function probe(op: number, x: Float32Array, n: number): Promise<Float32Array> {
    const inp = storage(t, 'x', x), out = storage(t, 'out', Math.max(4, n * 4));
    const bindGroup = t.gpu.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: t.step.buffer } }, { binding: 1, resource: { buffer: inp } }, { binding: 7, resource: { buffer: out } }],
    });
    t.step.set(n, op);
    await run(t, [{ label: `probe ${op}`, pipeline, bindGroup, dispatch: [Math.ceil(n / 64), 1, 1] }]);
    const got = await readF32(t, out, n);
    t.gpu.destroyBuffer(inp);
    t.gpu.destroyBuffer(out);
    return got;
  }

  /** a*b + c rounded once to f32: a*b is exact in double, s + err = a*b + c exactly, and fround(s)
   *  is the answer unless s is an f32 midpoint, where err breaks the tie. */
  function fmaF32(a: number, b: number, c: number): number {
    const p = a * b; // exact: 24 + 24 bits
    const s = p + c;
    const bb = s - p;
    const err = (p - (s - bb)) + (c - bb); // s + err = p + c exactly
    // fround(s) is RN(p + c) unless s is an f32 midpoint and err decides the direction.
    const f = Math.fround(s);
    if (err === 0 || f === s || Math.fround(2 * s - f) !== 2 * s - f) return f; // s is no f32 midpoint
    return Math.fround(s + err * 2 ** 20); // a midpoint: nudge it towards the exact value
  }

  it('(a + b) - a is not simplified: TwoSum recovers the rounding error', async () => {
    const got = await probe(4, new Float32Array([1, 2 ** -30, 3, 2 ** -40, 1e8, 3.5, -1, 1]), 4);
    expect(Array.from(got)).toEqual([2 ** -30, 2 ** -40, 3.5, 0]); // 1e8 + 3.5 rounds to 1e8
  });

  it('exp_rn is the correctly rounded expf (Math.fround(Math.exp(x))) on x <= 0', async () => {
    const r = rng(1);
    const n = 1 << 17;
    const x = new Float32Array(n);
    const ranges = [2 ** -20, 2 ** -9, 0.02, 1, 8, 30, 87.33];
    for (let i = 0; i < n; i++) x[i] = -r() * ranges[i % ranges.length]!;
    x.set([0, -0, -1e-30, -(2 ** -25), -0.5, -Math.LN2, -87.33654022216797, -14.567090034484863]);
    const got = await probe(0, x, n);
    const bad: string[] = [];
    for (let i = 0; i < n; i++) {
      const want = Math.fround(Math.exp(x[i]!));
      // -14.567090034484863 is a hard case: exp(x) lies 2^-29 ulp above a tie (glibc's expf misses it too).
      if (got[i] !== want && x[i] !== -14.567090034484863) bad.push(`exp(${x[i]}) = ${got[i]}, want ${want}`);
    }
    expect(bad.slice(0, 5), `${bad.length} mismatches`).toEqual([]);
    // Below 2^-126: 0 where the f32 result is 0, else a nonzero stand-in; NaN stays NaN.
    const edge = await probe(0, new Float32Array([-87.3365478515625, -100, -103.97207641601562, -103.97208404541016, -1e30, -Infinity, NaN]), 7);
    expect(Array.from(edge.subarray(0, 6), (v) => f32Bits(v) !== 0)).toEqual([true, true, true, false, false, false]);
    expect(Array.from(edge.subarray(0, 6)).every((v) => v >= 0 && v < 2 ** -126)).toBe(true);
    expect(edge[6]).toBeNaN();
  });

  it('recip_rn, fma_rn and the VKQ update are correctly rounded', async () => {
    const r = rng(2);
    const n = 1 << 15;
    const x = new Float32Array(n).map((_, i) => (i < 512 ? i + 1 : Math.fround(1 + r() * (i % 2 ? 3 : 400))));
    const recip = await probe(1, x, n);
    for (let i = 0; i < n; i++) if (recip[i] !== Math.fround(1 / x[i]!)) expect.fail(`1/${x[i]} = ${recip[i]}`);

    // S = fma(S, ms, 1) as in the online softmax, plus products cancelling c almost exactly.
    const f = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      const a = Math.fround(1 + r() * 300), b = Math.fround(r() * (i % 3 ? 1 : 1e-6));
      f.set([a, b, i % 2 ? 1 : Math.fround(-a * b * (1 + (r() - 0.5) * 1e-6))], 3 * i);
    }
    const fma = await probe(2, f, n);
    for (let i = 0; i < n; i++) {
      const want = fmaF32(f[3 * i]!, f[3 * i + 1]!, f[3 * i + 2]!);
      if (fma[i] !== want) expect.fail(`fma(${f[3 * i]}, ${f[3 * i + 1]}, ${f[3 * i + 2]}) = ${fma[i]}, want ${want}`);
    }

    // f16(fma(v, vs, a)) for f16 v, a: random, cancelling, tiny vs (incl. the subnormal stand-in) and zeros.
    const m = new Float32Array(3 * n);
    const tiny = [2 ** -70, 2 ** -126, 1e-45, 0];
    for (let i = 0; i < n; i++) {
      const v = roundToF16((r() - 0.5) * 8), vs = i % 11 === 0 ? tiny[(i / 11) % 4]! : Math.fround(r() ** 3);
      const a = i % 7 === 0 ? roundToF16(-v * vs) : i % 13 === 0 ? (i % 2 ? -0 : 0) : roundToF16((r() - 0.5) * 16);
      m.set([v, vs, a], 3 * i);
    }
    const mad = await probe(3, m, n);
    for (let i = 0; i < n; i++) {
      const want = roundToF16(fmaF32(m[3 * i]!, m[3 * i + 1]!, m[3 * i + 2]!));
      if (f32Bits(mad[i]!) !== f32Bits(want)) expect.fail(`f16(fma(${m[3 * i]}, ${m[3 * i + 1]}, ${m[3 * i + 2]})) = ${mad[i]}, want ${want}`);
    }
  });

  it('the f16 dot product is exact before its one rounding, over the whole f16 exponent range', async () => {
    const r = rng(3);
    const n = 4096;
    const x = new Float32Array(32 * n);
    const scales = [1, 1e-4, 200, 6e-8, 3e-5];
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < 32; d++) x[32 * i + d] = (r() - 0.5) * scales[(i + d) % scales.length]! * (r() < 0.1 ? 100 : 1);
      if (i % 5 === 0) x[32 * i + 16] = -x[32 * i + 17]! * (x[32 * i + 1]! / (x[32 * i]! || 1)); // near cancellation
    }
    const got = await probe(5, x, n);
    for (let i = 0; i < n; i++) {
      let sum = 0n; // in units of 2^-48: f16 values are multiples of 2^-24
      for (let d = 0; d < 16; d++) sum += BigInt(roundToF16(x[32 * i + d]!) * 2 ** 24) * BigInt(roundToF16(x[32 * i + 16 + d]!) * 2 ** 24);
      const want = bigToF32(sum, 48);
      if (f32Bits(got[i]!) !== f32Bits(want)) expect.fail(`dot ${i}: ${got[i]}, want ${want}`);
    }
  });
});

/** s * 2^-frac rounded to f32 (nearest, ties to even). */
function bigToF32(s: bigint, frac: number): number {
  if (s === 0n) return 0;
  const neg = s < 0n, m = neg ? -s : s;
  const len = m.toString(2).length;
  let keep = len > 24 ? m >> BigInt(len - 24) : m << BigInt(24 - len);
  if (len > 24) {
    const sh = BigInt(len - 24), rem = m - (keep << sh), half = 1n << (sh - 1n);
    if (rem > half || (rem === half && keep & 1n)) keep++;
  }
  const v = Number(keep) * 2 ** (len - 1 - frac - 23);
  return neg ? -v : v;
}
