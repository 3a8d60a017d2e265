import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingKernel } from '../../src/gpu/kernels/embedding.js';
import { GGMLType, ggmlTypeName } from '../../src/model/dtypes.js';
import { firstDifference } from '../reference/compare.js';
import { prepareWeight, weightRow } from '../reference/ops.js';
import { f32ToBf16, f32ToF16, quantizeQ4_0, quantizeQ8_0, rowBytes } from '../reference/quant.js';
import { randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

const { F32, F16, BF16, Q8_0, Q4_0 } = GGMLType;

/** Raw GGUF bytes of a random [vocab, dim] table. Values span several magnitudes so F16 and the
 *  block scales include subnormals. */
function makeTable(type: number, dim: number, vocab: number, seed: number): Uint8Array {
  const r = rng(seed);
  const v = randn(r, dim * vocab);
  for (let row = 0; row < vocab; row++) {
    const s = 10 ** (r() * 8 - 7); // 1e-7 .. 10
    for (let i = 0; i < dim; i++) v[row * dim + i]! *= s;
  }
  switch (type) {
    case F32: return new Uint8Array(v.buffer);
    case F16: return new Uint8Array(Uint16Array.from(v, (e) => f32ToF16(e)).buffer);
    case BF16: return new Uint8Array(Uint16Array.from(v, (e) => f32ToBf16(e)).buffer);
    case Q8_0: return quantizeQ8_0(v);
    default: return quantizeQ4_0(v);
  }
}

function oracle(type: number, table: Uint8Array, dim: number, vocab: number, tokens: Uint32Array): Float32Array {
  const w = prepareWeight(type, [dim, vocab], table);
  const out = new Float32Array(tokens.length * dim);
  tokens.forEach((tok, t) => weightRow(w, tok, out, t * dim));
  return out;
}

/** Bit-exact, naming the first differing element. */
function expectExact(got: Float32Array, want: Float32Array, dim: number, label: string): void {
  const i = firstDifference(new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length));
  if (i >= 0) throw new Error(`${label}: first mismatch at index ${i} [token ${Math.floor(i / dim)}, col ${i % dim}]: got ${got[i]}, expected ${want[i]}`);
}

describe('embedding kernel vs CPU oracle (exact dequantization)', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  /** Runs one dispatch per part [rowStart, rowStart + rowCount) and returns out [nTokens, dim]. */
  async function embed(type: number, table: Uint8Array, dim: number, vocab: number, tokens: Uint32Array, parts: [number, number][] = [[0, vocab]], nTokens = tokens.length): Promise<Float32Array> {
    const bt = storage(t, 'tokens', tokens), out = storage(t, 'out', new Float32Array(tokens.length * dim).fill(-7));
    const bufs = [bt, out];
    const ops = [];
    const rb = rowBytes(type, dim);
    for (const [rowStart, rowCount] of parts) {
      const k = await EmbeddingKernel.create(t.cache, { dtype: type, dim, vocab, rowStart, rowCount });
      const bw = storage(t, 'table', table.subarray(rowStart * rb, (rowStart + rowCount) * rb));
      bufs.push(bw);
      ops.push(k.bind(t.gpu, 'embed', { step: t.step.buffer, tokens: bt, table: bw, out })(tokens.length));
    }
    t.step.set(nTokens, 0);
    await run(t, ops);
    const got = await readF32(t, out, tokens.length * dim);
    for (const b of bufs) t.gpu.destroyBuffer(b);
    return got;
  }

  const cases = [[F32, 33], [F16, 33], [BF16, 70], [Q8_0, 96], [Q4_0, 64], [Q8_0, 32], [F16, 130]] as const;
  for (const [type, dim] of cases) {
    it(`${ggmlTypeName(type)} dim=${dim}`, async () => {
      const vocab = 41;
      const table = makeTable(type, dim, vocab, type * 100 + dim);
      const r = rng(dim);
      const tokens = Uint32Array.from({ length: 9 }, () => Math.floor(r() * vocab));
      tokens[0] = 0; tokens[1] = vocab - 1; tokens[2] = tokens[3]!; // first, last and a repeat
      const got = await embed(type, table, dim, vocab, tokens);
      expectExact(got, oracle(type, table, dim, vocab, tokens), dim, `embedding ${ggmlTypeName(type)} dim=${dim}`);
    });
  }

  it('a table split by rows (ROW_START / ROW_COUNT parts) equals the whole', async () => {
    for (const [type, dim] of [[Q8_0, 64], [F16, 31]] as const) {
      const vocab = 50;
      const table = makeTable(type, dim, vocab, 77);
      const tokens = Uint32Array.from([49, 0, 16, 17, 15, 33, 34, 16, 2]);
      const got = await embed(type, table, dim, vocab, tokens, [[0, 16], [16, 18], [34, 16]]);
      expectExact(got, oracle(type, table, dim, vocab, tokens), dim, `split ${ggmlTypeName(type)}`);
      // One part alone writes only its own tokens.
      const part = await embed(type, table, dim, vocab, tokens, [[16, 18]]);
      tokens.forEach((tok, i) => {
        const row = Array.from(part.subarray(i * dim, (i + 1) * dim));
        if (tok < 16 || tok >= 34) expect(row.every((v) => v === -7)).toBe(true);
        else expect(row.includes(-7)).toBe(false);
      });
    }
  });

  it('leaves rows past n_tokens alone', async () => {
    const dim = 32, vocab = 8;
    const table = makeTable(Q4_0, dim, vocab, 5);
    const tokens = Uint32Array.from([1, 2, 3, 4]);
    const got = await embed(Q4_0, table, dim, vocab, tokens, [[0, vocab]], 2);
    expectExact(got.subarray(0, 2 * dim), oracle(Q4_0, table, dim, vocab, tokens.subarray(0, 2)), dim, 'first rows');
    expect(Array.from(got.subarray(2 * dim)).every((v) => v === -7)).toBe(true);
  });

  it('guards shapes with RangeError', async () => {
    await expect(EmbeddingKernel.create(t.cache, { dtype: Q8_0, dim: 40, vocab: 4 })).rejects.toThrow(RangeError);
    await expect(EmbeddingKernel.create(t.cache, { dtype: F32, dim: 8, vocab: 4, rowStart: 2, rowCount: 3 })).rejects.toThrow(RangeError);
    await expect(EmbeddingKernel.create(t.cache, { dtype: 14, dim: 256, vocab: 4 })).rejects.toThrow(/Q6_K/);
  });
});
