import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgmaxKernel } from '../../src/gpu/kernels/argmax.js';
import { argmax } from '../reference/ops.js';
import { randn, readU32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

describe('argmax kernel vs CPU oracle', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  /** Runs argmax over `rows` rows of `logits` with n_out = rows; returns the ids. */
  async function gpuArgmax(logits: Float32Array, rows: number, vocab: number, nOut = rows): Promise<Uint32Array> {
    const k = await ArgmaxKernel.create(t.cache, { vocab });
    const bl = storage(t, 'logits', logits), bi = storage(t, 'ids', new Uint32Array(rows).fill(0xdead));
    t.step.set(0, nOut);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, logits: bl, ids: bi })(rows)]);
    const ids = await readU32(t, bi, rows);
    t.gpu.destroyBuffer(bl);
    t.gpu.destroyBuffer(bi);
    return ids;
  }

  function expectIds(got: Uint32Array, logits: Float32Array, rows: number, vocab: number, label: string): void {
    for (let r = 0; r < rows; r++) {
      const want = argmax(logits, r * vocab, vocab);
      if (got[r] !== want) throw new Error(`${label}: first mismatch at row ${r}: got ${got[r]}, expected ${want}`);
    }
  }

  const shapes = [[1, 1], [3, 7], [5, 255], [4, 256], [6, 257], [9, 1000], [2, 4099]] as const;
  for (const [rows, vocab] of shapes) {
    it(`random rows=${rows} vocab=${vocab}`, async () => {
      const logits = randn(rng(rows * 100 + vocab), rows * vocab, 5);
      expectIds(await gpuArgmax(logits, rows, vocab), logits, rows, vocab, `argmax ${rows}x${vocab}`);
    });
  }

  it('ties give the first index; all-equal rows give 0', async () => {
    const vocab = 600, rows = 6;
    const x = randn(rng(5), rows * vocab);
    const set = (r: number, i: number, v: number) => { x[r * vocab + i] = v; };
    for (const i of [5, 300, 599]) set(0, i, 9);          // three-way tie across threads
    for (const i of [599, 256, 257]) set(1, i, 9);        // first is not the one scanned first by thread 0
    x.fill(3, 2 * vocab, 3 * vocab);                      // all equal
    x.fill(-Infinity, 3 * vocab, 4 * vocab);              // all -inf
    set(4, 599, 50);                                       // last index
    x.fill(0, 5 * vocab, 6 * vocab); set(5, 10, -0);       // -0 ties +0: still the first index
    const got = await gpuArgmax(x, rows, vocab);
    expect(Array.from(got)).toEqual([5, 256, 0, 0, 599, 0]);
    expectIds(got, x, rows, vocab, 'ties');
  });

  it('NaN never wins; an all-NaN row gives 0', async () => {
    const vocab = 300;
    const x = new Float32Array(4 * vocab).fill(-1);
    x[0] = NaN; x[7] = 2; x[8] = NaN;                           // NaN before and after the max
    x.fill(NaN, vocab, 2 * vocab);                              // all NaN
    x.fill(NaN, 2 * vocab, 3 * vocab); x[2 * vocab + 299] = -Infinity; // only -inf is a number
    x[3 * vocab + 3] = Infinity; x[3 * vocab + 4] = NaN; x[3 * vocab + 5] = Infinity;
    expect(Array.from(await gpuArgmax(x, 4, vocab))).toEqual([7, 0, 299, 3]);
  });

  it('vocab of 100k (the first of far-apart ties)', async () => {
    const vocab = 100_000, rows = 4;
    const x = randn(rng(100), rows * vocab, 3);
    x[0 * vocab + 99_999] = 20;
    x[1 * vocab + 50_000] = 20; x[1 * vocab + 99_999] = 20; x[1 * vocab + 77] = 19.999998;
    x[2 * vocab + 0] = 20;
    const got = await gpuArgmax(x, rows, vocab);
    expect(Array.from(got.subarray(0, 3))).toEqual([99_999, 50_000, 0]);
    expectIds(got, x, rows, vocab, 'argmax 100k');
  });

  it('only the first n_out rows are written', async () => {
    const vocab = 10, rows = 3;
    const x = randn(rng(9), rows * vocab);
    const got = await gpuArgmax(x, rows, vocab, 2);
    expect(got[2]).toBe(0xdead);
    expectIds(got, x, 2, vocab, 'n_out');
  });

  it('rows from n_tokens when asked; rows spread over a 2-D grid', async () => {
    const vocab = 5, rows = 7;
    const x = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) x[r * vocab + (r % vocab)] = 1;
    const k = await ArgmaxKernel.create(t.cache, { vocab, rows: 'tokens' });
    const bl = storage(t, 'logits', x), bi = storage(t, 'ids', new Uint32Array(rows).fill(0xdead));
    const op = k.bind(t.gpu, 'test', { step: t.step.buffer, logits: bl, ids: bi });
    expect(op(70_000).dispatch).toEqual([35_000, 2, 1]); // what grid1d gives past 65535 rows
    t.step.set(rows, 0);
    // The same row mapping exercised cheaply: 7 rows as a 3 x 3 grid (the last 2 workgroups idle).
    await run(t, [{ ...op(rows), dispatch: [3, 3, 1] }]);
    expect(Array.from(await readU32(t, bi, rows))).toEqual([0, 1, 2, 3, 4, 0, 1]);
    t.gpu.destroyBuffer(bl);
    t.gpu.destroyBuffer(bi);
  });
});
