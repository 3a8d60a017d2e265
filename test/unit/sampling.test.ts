// CPU sampling (src/sampling): the PRNGs against published vectors, llama.cpp sampler-chain
// semantics, and the llama2.c-compatible sampler (its end-to-end check against run.c's published
// generations lives in reference-model.test.ts).
import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, type SamplingParams } from '../../src/sampling/cpu.js';
import { createRng, Llama2cRng, Llama2cSampler, splitMix64Outputs, xoshiro128StarStar, type Rng } from '../../src/sampling/rng.js';

const base: SamplingParams = { temperature: 1, topK: 0, topP: 1, minP: 0, repeatPenalty: 1 };

/** Counts of sampleToken outcomes over n draws. */
function histogram(logits: Float32Array, params: SamplingParams, n: number, rng: Rng = createRng(1)): number[] {
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(logits, params, rng)]!++;
  return counts;
}

const softmax = (l: number[], t = 1) => {
  const m = Math.max(...l), e = l.map((x) => Math.exp((x - m) / t)), z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
};

describe('rng', () => {
  it('xoshiro128** and SplitMix64 reproduce their reference implementations', () => {
    const x = xoshiro128StarStar(new Uint32Array([1, 2, 3, 4]));
    expect(Array.from({ length: 10 }, () => x.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
    expect(splitMix64Outputs(1234567n, 5)).toEqual([6457827717110365317n, 3203168211198807973n, 9817491932198370423n, 4593380528125082431n, 16408922859458223821n]);
  });

  it('createRng is deterministic per seed, differs across seeds and gives floats in [0, 1)', () => {
    const a = createRng(42), b = createRng(42), c = createRng(43);
    const sa = Array.from({ length: 100 }, () => a.nextFloat());
    expect(Array.from({ length: 100 }, () => b.nextFloat())).toEqual(sa);
    expect(Array.from({ length: 100 }, () => c.nextFloat())).not.toEqual(sa);
    const r = createRng(0); // seed 0 is a fine seed here (SplitMix expands it)
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const f = r.nextFloat();
      expect(f >= 0 && f < 1).toBe(true);
      sum += f;
    }
    expect(sum / 10000).toBeCloseTo(0.5, 1);
  });

  it("Llama2cRng is run.c's xorshift64*: the state shifts by 12/25/27 and the output is the high half of state * 0x2545F4914F6CDD1D", () => {
    const r = new Llama2cRng(1);
    // From state 1: 1 ^ 1>>12 = 1; 1 ^ 1<<25 = 0x2000001; ^ >>27 leaves it; high 32 bits of the product.
    const state = 0x2000001n;
    expect(r.nextU32()).toBe(Number(((state * 0x2545f4914f6cdd1dn) & ((1n << 64n) - 1n)) >> 32n));
    const f = new Llama2cRng(133742).nextFloat();
    expect(f * 16777216).toBe(Math.floor(f * 16777216)); // 24 bits, exact in f32
  });
});

describe('sampleToken', () => {
  const logits = Float32Array.from([1, 3, 0.5, 3, -2, 2.5]);

  it('is greedy (first index on ties) when temperature <= 0, whatever the rng', () => {
    expect(argmax(logits)).toBe(1);
    expect(sampleToken(logits, { ...base, temperature: 0 }, createRng(5))).toBe(1);
    expect(sampleToken(logits, { ...base, temperature: -1, topK: 3, topP: 0.5 }, createRng(6))).toBe(1);
  });

  it('repetition penalty: positive logits divided, negative multiplied, each distinct recent token once, within repeatLastN', () => {
    const l = Float32Array.from([2, 1.9, -1, -1.1]);
    const greedy = (p: Partial<SamplingParams>) => sampleToken(l, { ...base, temperature: 0, ...p }, createRng(1));
    expect(greedy({ repeatPenalty: 1.1, recentTokens: [0] })).toBe(1); // 2/1.1 < 1.9
    expect(greedy({ repeatPenalty: 1.1, recentTokens: [0, 0, 0] })).toBe(1); // not 2/1.1^3: once per token
    expect(greedy({ repeatPenalty: 1.1, recentTokens: [0, 5, 6], repeatLastN: 2 })).toBe(0); // 0 is outside the window
    expect(greedy({ repeatPenalty: 1.1, recentTokens: [0, 1], repeatLastN: -1 })).toBe(0); // 1.818 vs 1.727
    const neg = Float32Array.from([-1, -1.05]);
    expect(sampleToken(neg, { ...base, temperature: 0, repeatPenalty: 1.1, recentTokens: [0] }, createRng(1))).toBe(1); // -1.1 < -1.05
    expect(Array.from(l)).toEqual(Array.from(Float32Array.from([2, 1.9, -1, -1.1]))); // caller's logits untouched
  });

  it('samples from softmax(logits / T) when no filter is on', () => {
    const l = [0, 1, 2, 0.5];
    for (const t of [1, 0.5]) {
      const n = 40000, counts = histogram(Float32Array.from(l), { ...base, temperature: t }, n);
      softmax(l, t).forEach((p, i) => expect(Math.abs(counts[i]! / n - p)).toBeLessThan(0.01));
    }
  });

  it('top-k keeps the k largest logits (ties: lower ids)', () => {
    const counts = histogram(logits, { ...base, topK: 2 }, 2000);
    expect(counts.map((c, i) => (c > 0 ? i : -1)).filter((i) => i >= 0)).toEqual([1, 3]);
    const big = new Float32Array(50000).map((_, i) => Math.sin(i) * 5);
    const top3 = Array.from(big.keys()).sort((a, b) => big[b]! - big[a]! || a - b).slice(0, 3);
    const seen = histogram(big, { ...base, topK: 3 }, 200).flatMap((c, i) => (c ? [i] : []));
    expect(seen.sort()).toEqual(top3.sort());
  });

  it('top-p keeps the smallest prefix reaching p, computed before temperature', () => {
    // probs of [2, 1, 0, -1]: 0.644, 0.237, 0.087, 0.032
    const l = Float32Array.from([0, 2, -1, 1]);
    const kept = (p: Partial<SamplingParams>) => histogram(l, { ...base, ...p }, 3000).flatMap((c, i) => (c ? [i] : []));
    expect(kept({ topP: 0.6 })).toEqual([1]);
    expect(kept({ topP: 0.85 })).toEqual([1, 3]);
    expect(kept({ topP: 0.95 })).toEqual([0, 1, 3]);
    expect(kept({ topP: 0.85, temperature: 100 })).toEqual([1, 3]); // a high temperature does not widen the nucleus
    expect(kept({ topP: 0.01 })).toEqual([1]);
  });

  it('min-p keeps tokens with p >= minP * p_max', () => {
    const l = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.14), Math.log(0.06)]);
    const kept = histogram(l, { ...base, minP: 0.25 }, 3000).flatMap((c, i) => (c ? [i] : []));
    expect(kept).toEqual([0, 1, 2]); // 0.14 >= 0.125 > 0.06
  });

  it('is deterministic for a seed and rejects invalid parameters', () => {
    const p = { ...base, topK: 4, topP: 0.9, minP: 0.05 };
    expect(histogram(logits, p, 50, createRng(9))).toEqual(histogram(logits, p, 50, createRng(9)));
    expect(() => sampleToken(logits, { ...base, topP: -0.1 }, createRng(1))).toThrow(/top_p/);
    expect(sampleToken(logits, { ...base, topP: 0 }, createRng(1))).toBe(1); // keeps only the most likely
    expect(() => sampleToken(logits, { ...base, repeatPenalty: 0 }, createRng(1))).toThrow(/repeat_penalty/);
    expect(() => sampleToken(logits, { ...base, topK: 1.5 }, createRng(1))).toThrow(/top_k/);
  });
});

describe('Llama2cSampler', () => {
  it('temperature 0 is argmax and draws nothing', () => {
    const s = new Llama2cSampler(4, 0, 0.9, 1);
    expect(s.sample(Float32Array.from([0, 2, 2, 1]))).toBe(1);
    expect(s.rng.nextU32()).toBe(new Llama2cRng(1).nextU32()); // the state was not advanced
  });

  it('top-p draws only inside the nucleus; topp >= 1 is plain multinomial', () => {
    const l = Float32Array.from([0, 2, -1, 1]); // probs 0.087, 0.644, 0.032, 0.237
    const draw = (topp: number) => {
      const s = new Llama2cSampler(4, 1, topp, 7);
      const seen = new Set<number>();
      for (let i = 0; i < 2000; i++) seen.add(s.sample(l));
      return [...seen].sort();
    };
    expect(draw(0.6)).toEqual([1]); // 0.644 > 0.6 already
    expect(draw(0.85)).toEqual([1, 3]);
    expect(draw(1)).toEqual([0, 1, 2, 3]);
  });
});
