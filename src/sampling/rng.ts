// Seedable random numbers for sampling, plus a bit-exact port of llama2.c's sampler so its
// published generations can be reproduced token for token.

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform float in [0, 1) with 24 random bits (exactly representable in f32). */
  nextFloat(): number;
}

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64 (Steele, Lea & Flood): expands one seed into well-mixed 64-bit words. */
function splitMix64(state: bigint): { next: bigint; out: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return { next, out: z ^ (z >> 31n) };
}

/** xoshiro128** 1.1 (Blackman & Vigna): 128-bit state, 32-bit outputs, pure u32 math.
 *  The state is seeded from SplitMix64(seed), as its authors recommend, so seed 0 is fine and
 *  nearby seeds give unrelated streams. Same seed, same stream, on every platform. */
export function createRng(seed: number | bigint): Rng {
  let sm = BigInt.asUintN(64, BigInt(seed));
  const state = new Uint32Array(4);
  for (let i = 0; i < 2; i++) {
    const r = splitMix64(sm);
    sm = r.next;
    state[2 * i] = Number(r.out & 0xffffffffn);
    state[2 * i + 1] = Number(r.out >> 32n);
  }
  return xoshiro128StarStar(state);
}

/** The bare generator over a caller-provided state [4] u32 (must not be all zero). Exposed for
 *  the published test vectors; use createRng. */
export function xoshiro128StarStar(s: Uint32Array): Rng {
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  };
  return { nextU32, nextFloat: () => (nextU32() >>> 8) / 16777216 };
}

/** SplitMix64 outputs for a seed (test vectors). */
export function splitMix64Outputs(seed: bigint, n: number): bigint[] {
  const out: bigint[] = [];
  let st = seed;
  for (let i = 0; i < n; i++) {
    const r = splitMix64(st);
    st = r.next;
    out.push(r.out);
  }
  return out;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// llama2.c compatibility (karpathy/llama2.c run.c)

/** run.c's xorshift64* generator: random_u32 / random_f32 on a uint64 state (BigInt here; it
 *  runs once per sampled token, so speed is irrelevant). */
export class Llama2cRng implements Rng {
  private state: bigint;

  /** run.c seeds the state with the -s value directly (0 means "use time(NULL)" in run.c). */
  constructor(seed: number | bigint) {
    this.state = BigInt.asUintN(64, BigInt(seed));
  }

  nextU32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s = (s ^ (s << 25n)) & MASK64;
    s ^= s >> 27n;
    this.state = s;
    return Number(((s * 0x2545f4914f6cdd1dn) & MASK64) >> 32n);
  }

  nextFloat(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }
}

/** run.c's Sampler: temperature 0 -> argmax; else logits / temperature, f32 softmax, then
 *  multinomial (topp <= 0 or >= 1) or top-p. All float arithmetic is rounded to f32 like the C. */
export class Llama2cSampler {
  readonly rng: Llama2cRng;
  private readonly temperature: number;
  private readonly topp: number;
  private readonly probs: Float32Array; // [vocab] scratch, the C code mutates logits in place
  private readonly index: Uint32Array; // [vocab] ProbIndex.index scratch for top-p

  constructor(readonly vocabSize: number, temperature: number, topp: number, seed: number | bigint) {
    this.temperature = Math.fround(temperature);
    this.topp = Math.fround(topp);
    this.rng = new Llama2cRng(seed);
    this.probs = new Float32Array(vocabSize);
    this.index = new Uint32Array(vocabSize);
  }

  sample(logits: Float32Array): number {
    const n = this.vocabSize, p = this.probs;
    if (this.temperature === 0) return argmaxF32(logits, n);
    for (let i = 0; i < n; i++) p[i] = logits[i]! / this.temperature;
    softmaxF32(p, n);
    const coin = this.rng.nextFloat(); // drawn before the branch, as in run.c
    if (this.topp <= 0 || this.topp >= 1) return sampleMult(p, n, coin);
    return this.sampleTopp(p, n, coin);
  }

  /** sample_topp: drop tokens below (1 - topp) / (n - 1) (they cannot be in the nucleus), sort
   *  the rest by probability descending (stable, like glibc's merge-sort qsort), cut after the
   *  cumulative probability first exceeds topp, sample within the truncated mass. */
  private sampleTopp(p: Float32Array, n: number, coin: number): number {
    const cutoff = Math.fround(Math.fround(1 - this.topp) / (n - 1));
    let n0 = 0;
    for (let i = 0; i < n; i++) if (p[i]! >= cutoff) this.index[n0++] = i;
    const idx = this.index.subarray(0, n0);
    const sorted = Array.from(idx).sort((a, b) => p[b]! - p[a]!);
    let cumulative = 0, last = n0 - 1;
    for (let i = 0; i < n0; i++) {
      cumulative = Math.fround(cumulative + p[sorted[i]!]!);
      if (cumulative > this.topp) { last = i; break; }
    }
    const r = Math.fround(coin * cumulative);
    let cdf = 0;
    for (let i = 0; i <= last; i++) {
      cdf = Math.fround(cdf + p[sorted[i]!]!);
      if (r < cdf) return sorted[i]!;
    }
    return sorted[last]!; // rounding left r >= cdf
  }
}

function argmaxF32(x: Float32Array, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** run.c softmax: f32 max, expf, f32 running sum, divide. */
function softmaxF32(x: Float32Array, n: number): void {
  let max = x[0]!;
  for (let i = 1; i < n; i++) if (x[i]! > max) max = x[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    x[i] = Math.exp(Math.fround(x[i]! - max));
    sum = Math.fround(sum + x[i]!);
  }
  for (let i = 0; i < n; i++) x[i] = x[i]! / sum;
}

function sampleMult(p: Float32Array, n: number, coin: number): number {
  let cdf = 0;
  for (let i = 0; i < n; i++) {
    cdf = Math.fround(cdf + p[i]!);
    if (coin < cdf) return i;
  }
  return n - 1;
}
