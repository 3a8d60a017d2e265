import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SAMPLE_PARAMS_BYTES, SampleKernel, decodeSampleLogprobs, packSampleParams, sampleUniform,
  type SampleLogprobs, type SampleRowParams, type SampleShape,
} from '../../src/gpu/kernels/sample.js';
import { sampleToken, type SamplingParams } from '../../src/sampling/cpu.js';
import { argmax } from '../reference/ops.js';
import { expectClose, randn, readU32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

// SwiftShader pays per invocation, so the many-row runs use 64 threads per row; the other tests
// run at the production default (256). Each distinct shape is a pipeline compile of ~5 s on
// SwiftShader, so the tests share these four, compiled in parallel up front.
const FAST = 64;
const S8: SampleShape = { vocab: 8, window: 4, candidates: 8, workgroupSize: FAST };
const W64: SampleShape = { vocab: 64, window: 1, candidates: 8, workgroupSize: FAST };
const G777: SampleShape = { vocab: 777, window: 8, logprobs: { top: 5 } };
const BIG: SampleShape = { vocab: 131_072, window: 64 };

/** The CPU oracle's parameters for a GPU row (its penalty window is exactly the row's recent list). */
function cpuParams(p: SampleRowParams, window: number): SamplingParams {
  return {
    temperature: p.temperature, topK: p.topK ?? 0, topP: p.topP ?? 1, minP: p.minP ?? 0,
    repeatPenalty: p.repeatPenalty ?? 1, repeatLastN: window, recentTokens: Array.from(p.recent ?? []),
  };
}

/** The CPU oracle's choice when its one uniform draw is `u`. */
function cpuSample(logits: Float32Array, p: SamplingParams, u: number): number {
  return sampleToken(logits, p, { nextFloat: () => u, nextU32: () => Math.floor(u * 2 ** 32) });
}

/** The oracle's filtered distribution, by sweeping its uniform over a fine grid. */
function cpuDistribution(logits: Float32Array, p: SamplingParams, grid = 1 << 14): Float64Array {
  const probs = new Float64Array(logits.length);
  for (let j = 0; j < grid; j++) probs[cpuSample(logits, p, (j + 0.5) / grid)]! += 1 / grid;
  return probs;
}

/** Chi-square of observed counts against expected probabilities (bins with < 5 expected merged);
 *  throws if a token with probability 0 was drawn. */
function chiSquare(counts: number[], probs: Float64Array, label: string): { stat: number; df: number } {
  const n = counts.reduce((a, b) => a + b, 0);
  let stat = 0, df = -1, restO = 0, restE = 0;
  counts.forEach((c, id) => {
    if (probs[id] === 0 && c > 0) throw new Error(`${label}: token ${id} drawn ${c} times but the filters exclude it`);
    const e = n * probs[id]!;
    if (e >= 5) { stat += (c - e) ** 2 / e; df++; } else { restO += c; restE += e; }
  });
  if (restE > 0) { stat += (restO - restE) ** 2 / Math.max(restE, 1); df++; }
  return { stat, df };
}

describe('sample kernel vs CPU sampler (src/sampling/cpu.ts)', () => {
  let t: TestGpu;
  beforeAll(async () => {
    t = await testGpu();
    await Promise.all([S8, W64, G777, BIG].map((s) => SampleKernel.create(t.cache, s)));
  });
  afterAll(() => t?.gpu.destroy());

  async function gpuSample(shape: SampleShape, logits: Float32Array, rows: readonly SampleRowParams[], nOut = rows.length): Promise<{ ids: Uint32Array; lp: SampleLogprobs[] }> {
    const k = await SampleKernel.create(t.cache, shape);
    const { params, recent } = packSampleParams(rows, shape.window);
    const bl = storage(t, 'logits', logits), bp = storage(t, 'params', new Uint8Array(params)), br = storage(t, 'recent', recent);
    const bi = storage(t, 'ids', new Uint32Array(rows.length).fill(0xdead));
    const bo = shape.logprobs ? storage(t, 'logprobs', rows.length * k.logprobWords * 4) : undefined;
    t.step.set(0, nOut);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, logits: bl, params: bp, recent: br, ids: bi, logprobs: bo })(rows.length)]);
    const ids = await readU32(t, bi, rows.length);
    const lp = bo && shape.logprobs ? decodeSampleLogprobs(await t.gpu.read(bo), rows.length, shape.logprobs.top) : [];
    for (const b of [bl, bp, br, bi, bo]) t.gpu.destroyBuffer(b);
    return { ids, lp };
  }

  const repeatRow = (row: Float32Array, n: number) => { const x = new Float32Array(n * row.length); for (let r = 0; r < n; r++) x.set(row, r * row.length); return x; };
  const rowOf = (x: Float32Array, r: number, vocab: number) => x.subarray(r * vocab, (r + 1) * vocab);

  it('greedy rows equal the argmax oracle, and top_k = 1 does at any temperature', async () => {
    const vocab = G777.vocab, temps = [0, -1, NaN, 0.1, 1, 5, 100];
    const rows = temps.flatMap((temperature, i) => [{ temperature: temperature > 0 ? 0 : temperature, seed: 7, counter: i }, { temperature, topK: 1, seed: 7, counter: i }]);
    const x = randn(rng(1), rows.length * vocab, 3);
    x[3 * vocab + 10] = 50; x[3 * vocab + 700] = 50; // a tie: the first index wins
    const { ids } = await gpuSample(G777, x, rows);
    for (let r = 0; r < rows.length; r++) expect(ids[r], `row ${r}`).toBe(argmax(x, r * vocab, vocab));
    expect(ids[3]).toBe(10);
  });

  it('a seeded row is reproducible and independent of the rest of the batch', async () => {
    const { vocab, window } = G777, r = rng(3);
    const kinds: Omit<SampleRowParams, 'seed' | 'counter'>[] = [
      { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05 }, { temperature: 1.2 }, { temperature: 1, topP: 0.5 },
      { temperature: 0.7, minP: 0.1, repeatPenalty: 1.3, recent: [1, 2, 3, 5, 8, 13] }, { temperature: 0 }, { temperature: 2, topK: 7 },
    ];
    const n = 12;
    const x = randn(r, n * vocab, 2);
    const rows: SampleRowParams[] = Array.from({ length: n }, (_, i) => ({ ...kinds[i % kinds.length]!, seed: 1000n + BigInt(i) * 2n ** 40n, counter: 17 * i }));
    const shape = G777;
    const a = (await gpuSample(shape, x, rows)).ids;
    expect((await gpuSample(shape, x, rows)).ids).toEqual(a);
    // A different batch: reversed order, every other row, plus strangers with other logits.
    const pick = [...Array(n).keys()].filter((i) => i % 2 === 1).reverse();
    const strangers = randn(rng(99), 3 * vocab, 5);
    const parts: Float32Array[] = [];
    const rows2: SampleRowParams[] = [];
    pick.forEach((i, j) => {
      parts.push(rowOf(x, i, vocab)); rows2.push(rows[i]!);
      if (j < 3) { parts.push(rowOf(strangers, j, vocab)); rows2.push({ temperature: 1, seed: j, counter: 0 }); }
    });
    const x2 = new Float32Array(parts.length * vocab);
    parts.forEach((part, j) => x2.set(part, j * vocab));
    const b = (await gpuSample(shape, x2, rows2)).ids;
    let moved = 0;
    for (const [pos, row] of rows2.entries()) {
      if (!rows.includes(row)) continue;
      expect(b[pos], `row ${rows.indexOf(row)} moved to ${pos}`).toBe(a[rows.indexOf(row)]);
      moved++;
    }
    expect(moved).toBe(pick.length);
    // Each agrees with the CPU sampler given the same uniform draw, where both walk the survivors
    // in the same order (min-p alone: the CPU walks by index, the GPU its sorted candidates).
    for (let i = 0; i < n; i++) if (i % kinds.length !== 3) expect(a[i], `row ${i}`).toBe(cpuSample(rowOf(x, i, vocab), cpuParams(rows[i]!, window), sampleUniform(rows[i]!.seed, rows[i]!.counter)));
  });

  // A vocab of 8 with known probabilities; many rows, one draw each.
  const small = Float32Array.from([1.2, 2.0, 0.3, 2.6, -0.5, 1.9, 0.8, 2.3]);
  const configs: [string, Omit<SampleRowParams, 'seed' | 'counter'>][] = [
    ['pure T=1', { temperature: 1 }],
    ['top_k=3 T=0.7', { temperature: 0.7, topK: 3 }],
    ['top_p=0.8 T=1.3', { temperature: 1.3, topP: 0.8 }],
    ['min_p=0.3', { temperature: 1, minP: 0.3 }],
    ['k=5 p=0.9 min_p=0.05 T=0.8 + penalty', { temperature: 0.8, topK: 5, topP: 0.9, minP: 0.05, repeatPenalty: 1.5, recent: [3, 3, 7] }],
  ];
  for (const [label, p] of configs) {
    it(`empirical distribution matches the filtered distribution: ${label}`, async () => {
      const n = 600, window = S8.window;
      const rows = Array.from({ length: n }, (_, i) => ({ ...p, seed: 42, counter: i }));
      const { ids } = await gpuSample(S8, repeatRow(small, n), rows);
      const counts = new Array(8).fill(0);
      for (const id of ids) counts[id]++;
      const cp = cpuParams(rows[0]!, window);
      const { stat, df } = chiSquare(counts, cpuDistribution(small, cp), label);
      expect(stat, `chi2 ${stat.toFixed(1)} df ${df} counts ${counts}`).toBeLessThan(df + 6 * Math.sqrt(2 * df) + 10);
      let agree = 0;
      ids.forEach((id, i) => { if (id === cpuSample(small, cp, sampleUniform(42, i))) agree++; });
      // Same uniform and the same walk order (the GPU walks its sorted candidates here; the CPU
      // sorts only for top-k / top-p): the same token except where rounding straddles a boundary.
      const cpuSorted = (cp.topK > 0 && cp.topK < 8) || cp.topP < 1;
      if (cpuSorted) expect(agree / n).toBeGreaterThan(0.99);
    });
  }

  // Survivors beyond the candidate cap: the exact full-vocab path (radix select, threshold search,
  // index-order draw). Logits come in tied pairs, shuffled over the vocab.
  const vocab64 = (() => {
    const r = rng(64), perm = [...Array(64).keys()].sort(() => r() - 0.5);
    return Float32Array.from(perm.map((i) => -0.1 * Math.floor(i / 2)));
  })();
  const wide: [string, Omit<SampleRowParams, 'seed' | 'counter'>, boolean][] = [
    ['pure', { temperature: 1.5 }, true],
    ['top_p=0.37 (nucleus ends inside a tie)', { temperature: 1, topP: 0.37 }, false],
    ['min_p=0.3', { temperature: 0.9, minP: 0.3 }, true],
    ['top_k=21 (splits a tie)', { temperature: 1, topK: 21 }, false],
    ['top_k=30 top_p=0.66 (nucleus ends inside a tie)', { temperature: 1, topK: 30, topP: 0.66 }, false],
  ];
  for (const [label, p, indexOrder] of wide) {
    it(`exact past the candidate cap (vocab 64, cap 8): ${label}`, async () => {
      const n = 500, window = W64.window;
      const rows = Array.from({ length: n }, (_, i) => ({ ...p, seed: 5, counter: i }));
      const { ids } = await gpuSample(W64, repeatRow(vocab64, n), rows);
      const counts = new Array(64).fill(0);
      for (const id of ids) counts[id]++;
      const cp = cpuParams(rows[0]!, window);
      const { stat, df } = chiSquare(counts, cpuDistribution(vocab64, cp), label);
      expect(stat, `chi2 ${stat.toFixed(1)} df ${df}`).toBeLessThan(df + 6 * Math.sqrt(2 * df) + 10);
      if (indexOrder) { // both walk the survivors in index order: the same token for the same uniform
        let agree = 0;
        ids.forEach((id, i) => { if (id === cpuSample(vocab64, cp, sampleUniform(5, i))) agree++; });
        expect(agree / n).toBeGreaterThan(0.99);
      }
    });
  }

  it('repetition penalty changes the greedy choice when it should (once per distinct token)', async () => {
    const { vocab, window } = S8;
    const base = Float32Array.from([0, 1, -1, 5, 0, -1.2, 0, 4.5]);
    const neg = Float32Array.from([-3, -3, -1, -3, -3, -1.2, -3, -3]);
    const cases: [Float32Array, Partial<SampleRowParams>, number][] = [
      [base, {}, 3],
      [base, { repeatPenalty: 1.5, recent: [3] }, 7], // 5 / 1.5 < 4.5
      [base, { repeatPenalty: 1.1, recent: [3, 3, 3] }, 3], // 5 / 1.1 > 4.5 (not 5 / 1.1^3)
      [base, { repeatPenalty: 1.5, recent: [3, 1, 1, 1, 1] }, 3], // 3 fell out of the window of 4
      [base, { repeatPenalty: 1.5, recent: [3, 7] }, 3], // both penalised: 3.33 > 3
      [base, { repeatPenalty: 1, recent: [3] }, 3],
      [base, { repeatPenalty: 1.5, recent: [3, 1000] }, 7], // out-of-vocab ids are ignored
      [neg, { repeatPenalty: 1.5, recent: [2] }, 5], // negative logits are multiplied: -1.5 < -1.2
      [neg, { repeatPenalty: 0.5, recent: [5] }, 5], // a penalty < 1 boosts: -0.6 > -1
    ];
    const x = new Float32Array(cases.length * vocab);
    cases.forEach(([l], i) => x.set(l, i * vocab));
    const rows = cases.map(([, p]) => ({ temperature: 0, seed: 0, counter: 0, ...p }));
    const { ids } = await gpuSample(S8, x, rows);
    expect(Array.from(ids)).toEqual(cases.map(([, , want]) => want));
    rows.forEach((p, i) => expect(ids[i], `case ${i}`).toBe(cpuSample(cases[i]![0], cpuParams(p, window), 0)));
  });

  it('logprobs match a CPU log-softmax of the penalised, temperature-scaled logits', async () => {
    const { vocab, window } = G777, top = 5;
    const x = randn(rng(11), 6 * vocab, 3);
    x[2 * vocab + 5] = x[2 * vocab + 6] = 9; // tied best: smaller id reported first
    const rows: SampleRowParams[] = [
      { temperature: 0, seed: 1, counter: 0 },
      { temperature: 0.7, topK: 40, topP: 0.9, seed: 1, counter: 1 },
      { temperature: 1.3, repeatPenalty: 1.4, recent: [5, 6, 100], seed: 1, counter: 2 },
      { temperature: 2, minP: 0.05, seed: 1, counter: 3 },
      { temperature: 0.5, topK: 1, seed: 1, counter: 4 },
      { temperature: 0, repeatPenalty: 2, recent: [argmax(x, 5 * vocab, vocab)], seed: 1, counter: 5 },
    ];
    const { ids, lp } = await gpuSample(G777, x, rows);
    for (const r of [0, 4]) expect(ids[r], `greedy row ${r} at 256 threads`).toBe(argmax(x, r * vocab, vocab));
    rows.forEach((p, r) => {
      const pen = Float32Array.from(rowOf(x, r, vocab));
      for (const tok of new Set(Array.from(p.recent ?? []))) if (tok < vocab) pen[tok] = pen[tok]! > 0 ? pen[tok]! / p.repeatPenalty! : pen[tok]! * p.repeatPenalty!;
      const T = p.temperature > 0 ? p.temperature : 1;
      const m = Math.max(...pen);
      const lse = m / T + Math.log(pen.reduce((s, v) => s + Math.exp((v - m) / T), 0));
      const logp = (id: number) => pen[id]! / T - lse;
      const order = [...pen.keys()].sort((a, b) => pen[b]! - pen[a]! || a - b).slice(0, top);
      expect(lp[r]!.top.map((e) => e.id), `row ${r} top ids`).toEqual(order);
      if (r === 5) expect(ids[r]).toBe(order[0]);
      expectClose([lp[r]!.logprob, ...lp[r]!.top.map((e) => e.logprob)], [logp(ids[r]!), ...order.map(logp)], { atol: 2e-5, rtol: 1e-5, label: `row ${r} logprobs` });
    });
  });

  it('NaN never wins and -inf only when nothing finite is left; rows past n_out are untouched', async () => {
    const x = Float32Array.from([
      NaN, 1, NaN, 2, NaN, 0, NaN, -5, // greedy: 3
      -Infinity, -Infinity, 3, -Infinity, NaN, 2.5, NaN, -Infinity, // sampled: 2 or 5 only
      NaN, NaN, -Infinity, NaN, NaN, NaN, NaN, NaN, // only -inf is a number: 2
      Infinity, 0, Infinity, 1, 2, 3, 4, 5, // +inf: the first one
      1, 1, 1, 1, 1, 1, 1, 1, // past n_out
    ]);
    const rows = [0, 1.5, 1, 0, 1].map((temperature, i) => ({ temperature, seed: 9, counter: i }));
    const { ids } = await gpuSample(S8, x, rows, 4);
    expect(ids[0]).toBe(3);
    expect([2, 5]).toContain(ids[1]);
    expect(Array.from(ids.subarray(2))).toEqual([2, 0, 0xdead]);
  });

  it('a 128k vocab row: default-like and unfiltered parameters agree with the CPU sampler', async () => {
    const { vocab, window } = BIG;
    const x = randn(rng(128), 2 * vocab, 2.5);
    const rows: SampleRowParams[] = [
      { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1.1, recent: [...Array(64).keys()].map((i) => i * 997), seed: 3, counter: 5 },
      { temperature: 1, seed: 3, counter: 6 },
    ];
    const { ids } = await gpuSample(BIG, x, rows);
    rows.forEach((p, r) => expect(ids[r], `row ${r}`).toBe(cpuSample(rowOf(x, r, vocab), cpuParams(p, window), sampleUniform(p.seed, p.counter))));
  });

  it('packSampleParams writes the documented 48-byte layout and validates', () => {
    const { params, recent } = packSampleParams([{ temperature: 0.5, topK: 40, topP: 0.9, minP: 0.05, repeatPenalty: 1.1, seed: 2n ** 33n + 7n, counter: 9, recent: [1, 2, 3, 4, 5] }], 3);
    const v = new DataView(params);
    expect(params.byteLength).toBe(SAMPLE_PARAMS_BYTES);
    expect([v.getFloat32(0, true), v.getUint32(4, true), v.getFloat32(8, true), v.getFloat32(12, true), v.getFloat32(16, true)])
      .toEqual([0.5, 40, Math.fround(0.9), Math.fround(0.05), Math.fround(1.1)]);
    expect([v.getUint32(20, true), v.getUint32(24, true), v.getUint32(28, true), v.getUint32(32, true)]).toEqual([7, 2, 9, 3]);
    expect(Array.from(recent)).toEqual([3, 4, 5]);
    expect(() => packSampleParams([{ temperature: 1, repeatPenalty: 0, seed: 0, counter: 0 }], 1)).toThrow(/repeat_penalty/);
    expect(() => packSampleParams([{ temperature: 1, topK: 1.5, seed: 0, counter: 0 }], 1)).toThrow(/top_k/);
    expect(() => packSampleParams([{ temperature: 1, seed: -1, counter: 0 }], 1)).toThrow(/seed/);
  });
});
