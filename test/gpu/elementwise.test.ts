import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddKernel } from '../../src/gpu/kernels/add.js';
import { GatherRowsKernel } from '../../src/gpu/kernels/gather-rows.js';
import { SwigluKernel, type SwigluExp } from '../../src/gpu/kernels/swiglu.js';
import { loadShaderSource, preprocess } from '../../src/gpu/shaders.js';
import { firstDifference } from '../reference/compare.js';
import { swiglu } from '../reference/ops.js';
import { bitsToF32, f32Bits } from '../reference/quant.js';
import { expectClose, randn, readF32, rng, run, storage, testGpu, type TestGpu } from './helpers.js';

/** Bit-exact (f32 bit patterns), naming the first differing element and its input. */
function expectBits(got: Float32Array, want: Float32Array, label: string, input?: (i: number) => string): void {
  const i = firstDifference(new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(want.buffer, want.byteOffset, want.length));
  if (i < 0) return;
  let bad = 0;
  for (let j = 0; j < want.length; j++) if (f32Bits(got[j]!) !== f32Bits(want[j]!)) bad++;
  throw new Error(`${label}: first difference at index ${i}${input ? ` (${input(i)})` : ''}: got ${got[i]}, expected ${want[i]}; ${bad} of ${want.length} differ`);
}

// Ragged and odd sizes on purpose: element counts not a multiple of the 256-wide workgroup.
const shapes = [[1, 1], [3, 7], [5, 300], [17, 130], [2, 1000], [33, 257]] as const;

describe('element-wise kernels vs CPU oracle', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());
  const free = (...bs: GPUBuffer[]) => { for (const b of bs) t.gpu.destroyBuffer(b); };

  // Bit for bit against the oracle's llama.cpp mode: AVX-512 exp polynomial on each row's first
  // ffn - ffn % 16 columns, expf on the rest (several shapes have only a tail), IEEE division.
  for (const [rows, ffn] of [...shapes, [4, 384], [3, 172]] as const) {
    for (const inPlace of [false, true]) {
      it(`swiglu rows=${rows} ffn=${ffn}${inPlace ? ' in place' : ''}`, async () => {
        const r = rng(rows * 7919 + ffn);
        const n = rows * ffn;
        const gate = randn(r, n, 4), up = randn(r, n);
        // Extremes: silu must not overflow to NaN (exp(+large)) at either end.
        if (n > 4) { gate[0] = -100; gate[1] = 100; gate[2] = -1e30; gate[3] = 90; }
        const k = await SwigluKernel.create(t.cache, { ffnDim: ffn, rows: 'tokens' });
        const bg = storage(t, 'gate', gate), bu = storage(t, 'up', up);
        const bo = inPlace ? bg : storage(t, 'out', n * 4);
        t.step.set(rows, 0);
        await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, gate: bg, up: bu, out: bo })(rows)]);
        const want = new Float32Array(n);
        swiglu(want, gate, up, n, 'llamacpp', ffn);
        expectBits(await readF32(t, bo, n), want, `swiglu ${rows}x${ffn}`, (i) => `gate ${gate[i]}, up ${up[i]}, col ${i % ffn}`);
        free(bg, bu, bo);
      });
    }
  }

  // A dense sweep of gate over [-100, 100] (and tiny values), through both exps: the AVX-512
  // polynomial (every column of ffn = 4096) and the correctly rounded expf ('expf' variant).
  for (const exp of ['avx512', 'expf'] as const satisfies readonly SwigluExp[]) {
    it(`swiglu gate sweep, ${exp} exp`, async () => {
      const rows = 16, ffn = 4096, n = rows * ffn;
      const r = rng(exp === 'avx512' ? 1 : 2);
      const gate = new Float32Array(n), up = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        gate[i] = i % 7 === 0 ? (r() - 0.5) * 2 ** -(r() * 30) : (r() - 0.5) * 200;
        up[i] = 1 + r();
      }
      const k = await SwigluKernel.create(t.cache, { ffnDim: ffn, exp });
      const bg = storage(t, 'gate', gate), bu = storage(t, 'up', up), bo = storage(t, 'out', n * 4);
      t.step.set(rows, 0);
      await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, gate: bg, up: bu, out: bo })(rows)]);
      const want = new Float32Array(n);
      swiglu(want, gate, up, n, exp === 'avx512' ? 'llamacpp' : 'f32', exp === 'avx512' ? ffn : 1);
      expectBits(await readF32(t, bo, n), want, `swiglu sweep ${exp}`, (i) => `gate ${gate[i]}, up ${up[i]}`);
      free(bg, bu, bo);
    });
  }

  it('swiglu uses n_out with rows: out and ignores rows past the count', async () => {
    const ffn = 5;
    const k = await SwigluKernel.create(t.cache, { ffnDim: ffn, rows: 'out' });
    const bg = storage(t, 'gate', new Float32Array(3 * ffn).fill(1)), bu = storage(t, 'up', new Float32Array(3 * ffn).fill(2));
    const bo = storage(t, 'out', new Float32Array(3 * ffn).fill(-7));
    t.step.set(3, 2);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, gate: bg, up: bu, out: bo })(3)]);
    const got = await readF32(t, bo, 3 * ffn);
    expect(Array.from(got.subarray(2 * ffn))).toEqual(new Array(ffn).fill(-7));
    expect(got[0]).toBeCloseTo(2 / (1 + Math.exp(-1)), 6);
    free(bg, bu, bo);
  });

  for (const [rows, dim] of shapes) {
    it(`add rows=${rows} dim=${dim}`, async () => {
      const r = rng(rows * 31 + dim);
      const x = randn(r, rows * dim, 3), y = randn(r, rows * dim, 3);
      const k = await AddKernel.create(t.cache, { dim, rows: 'tokens' });
      const bx = storage(t, 'x', x), by = storage(t, 'y', y);
      t.step.set(rows, 0);
      await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, y: by })(rows)]);
      const want = y.map((v, i) => v + x[i]!);
      expectClose(await readF32(t, by, rows * dim), want, { atol: 0, label: `add ${rows}x${dim}`, cols: dim });
      free(bx, by);
    });
  }

  it('add over more than 65535 workgroups (2-D grid) and rows past n_tokens untouched', async () => {
    const rows = 257, dim = 65536, n = rows * dim; // 65792 workgroups of 256
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) { x[i] = i % 1009; y[i] = (i % 13) * 0.5; }
    const k = await AddKernel.create(t.cache, { dim });
    const bx = storage(t, 'x', x), by = storage(t, 'y', y);
    const op = k.bind(t.gpu, 'test', { step: t.step.buffer, x: bx, y: by })(rows);
    expect(op.dispatch[1]).toBeGreaterThan(1);
    t.step.set(rows - 1, 0);
    await run(t, [op]);
    const want = y.map((v, i) => (i < (rows - 1) * dim ? v + x[i]! : v));
    expectClose(await readF32(t, by, n), want, { atol: 0, label: 'add 2-D grid', cols: dim });
    free(bx, by);
  });

  it('swiglu rejects an unknown exp', async () => {
    await expect(SwigluKernel.create(t.cache, { ffnDim: 16, exp: 'neon' as SwigluExp })).rejects.toThrow(RangeError);
  });

  it('add refuses x aliasing y', async () => {
    const k = await AddKernel.create(t.cache, { dim: 4 });
    const b = storage(t, 'xy', 16);
    expect(() => k.bind(t.gpu, 'test', { step: t.step.buffer, x: b, y: b })).toThrow(/alias/);
    free(b);
  });

  const gathers = [[5, 3, 7], [1, 1, 1], [40, 17, 130], [9, 9, 333], [64, 3, 1024]] as const;
  for (const [nTokens, nOut, dim] of gathers) {
    it(`gather_rows n_tokens=${nTokens} n_out=${nOut} dim=${dim}`, async () => {
      const r = rng(nTokens * 13 + nOut * 7 + dim);
      const src = randn(r, nTokens * dim);
      const idx = Uint32Array.from({ length: nOut }, (_, j) => (j === nOut - 1 ? nTokens - 1 : Math.floor(r() * nTokens)));
      const k = await GatherRowsKernel.create(t.cache, { dim });
      const bs = storage(t, 'src', src), bi = storage(t, 'idx', idx), bd = storage(t, 'dst', new Float32Array((nOut + 1) * dim).fill(-7));
      t.step.set(nTokens, nOut);
      await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, src: bs, idx: bi, dst: bd })(nOut)]);
      const want = new Float32Array((nOut + 1) * dim).fill(-7);
      for (let j = 0; j < nOut; j++) want.set(src.subarray(idx[j]! * dim, (idx[j]! + 1) * dim), j * dim);
      expectClose(await readF32(t, bd, (nOut + 1) * dim), want, { atol: 0, label: `gather ${nTokens}->${nOut}x${dim}`, cols: dim });
      free(bs, bi, bd);
    });
  }

  it('gather_rows zero-fills rows whose index is >= n_tokens', async () => {
    const dim = 3;
    const k = await GatherRowsKernel.create(t.cache, { dim });
    const bs = storage(t, 'src', Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const bi = storage(t, 'idx', Uint32Array.from([2, 3, 0, 1000]));
    const bd = storage(t, 'dst', new Float32Array(4 * dim).fill(-7));
    t.step.set(3, 4);
    await run(t, [k.bind(t.gpu, 'test', { step: t.step.buffer, src: bs, idx: bi, dst: bd })(4)]);
    expect(Array.from(await readF32(t, bd, 4 * dim))).toEqual([7, 8, 9, 0, 0, 0, 1, 2, 3, 0, 0, 0]);
    free(bs, bi, bd);
  });
});

// ---------------------------------------------------------------------------------------------
// lib_dequant's exact arithmetic (fma_rn, div_rn, sqrt_rn, two_prod), which swiglu, rmsnorm,
// matmul and quantize_q8 build on, against exactly rounded JS results, including near-tie cases.

/** The f32 neighbour of f32 x towards +inf (up) or -inf. */
function nextF32(x: number, up: boolean): number {
  if (x === 0) return up ? 2 ** -149 : -(2 ** -149);
  const b = f32Bits(x);
  return bitsToF32((x > 0) === up ? b + 1 : b - 1);
}

/** RN_f32(a * b + c) for f32 a, b, c (no overflow): a * b is exact in double; the double sum is
 *  corrected when it lands exactly on an f32 tie that the exact sum is not on. */
function fmaF32(a: number, b: number, c: number): number {
  const p = a * b, s = p + c;
  const bb = s - p, err = (p - (s - bb)) + (c - bb); // s + err = p + c exactly
  const r = Math.fround(s);
  if (err === 0 || r === s) return r;
  const other = nextF32(r, s > r);
  if (s - r !== other - s) return r; // not a tie
  return (err > 0) === (other > r) ? other : r;
}

describe('lib_dequant exact arithmetic vs exactly rounded JS', () => {
  let t: TestGpu;
  beforeAll(async () => { t = await testGpu(); });
  afterAll(() => t?.gpu.destroy());

  it('fma_rn, div_rn, sqrt_rn and two_prod are exactly rounded (random and near-tie inputs)', async () => {
    const lib = preprocess(await loadShaderSource('lib_dequant'), new Set());
    const code = `@group(0) @binding(0) var<storage, read> inp: array<f32>; // [n, 3] a, b, c
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // [n, 5]
@group(0) @binding(2) var<uniform> opaque: vec4<u32>;
${lib}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  ex_never = opaque.x == 0xffffffffu;
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= arrayLength(&inp) / 3u) { return; }
  let a = inp[3u * i];
  let b = inp[3u * i + 1u];
  let c = inp[3u * i + 2u];
  out[5u * i] = fma_rn(a, b, c);
  out[5u * i + 1u] = div_rn(a, b);
  out[5u * i + 2u] = sqrt_rn(abs(c));
  let p = two_prod(a, b);
  out[5u * i + 3u] = p.y;
  // Constant operands (a polynomial step): optimizers fold float arithmetic with constants.
  out[5u * i + 4u] = fma_rn(0x1.555e66p-3f, b, 0x1.fffdb6p-2f);
}`;
    const dev = t.gpu.device;
    const pipeline = await dev.createComputePipelineAsync({ layout: 'auto', compute: { module: dev.createShaderModule({ code }), entryPoint: 'main' } });
    const r = rng(99);
    const n = 1 << 15;
    const inp = new Float32Array(3 * n);
    const f = Math.fround;
    const rnd = (lo: number, hi: number) => f((0.5 + r()) * 2 ** Math.floor(lo + r() * (hi - lo))) * (r() < 0.5 ? -1 : 1);
    for (let i = 0; i < n; i++) {
      let a = rnd(-30, 30), b = rnd(-30, 30), c = rnd(-40, 40);
      switch (i % 6) {
        case 1: c = -f(a * b); break; // cancellation: the result is the product's rounding error
        case 2: c = f(-a * b * (1 + (r() - 0.5) * 2 ** -20)); break; // near cancellation
        case 3: { // a / b near a quotient midpoint
          const q = f(1 + r()), u = 2 ** -23;
          a = f(b * (q + u / 2) * (1 + (r() - 0.5) * 2 ** -40));
          void q;
          break;
        }
        case 4: { // sqrt(c) near a midpoint: c = RN((m + 1/2)^2 u^2)
          const m = 2 ** 23 + Math.floor(r() * 2 ** 23), e = Math.floor(r() * 40) - 20;
          c = f((m + 0.5) ** 2 * 2 ** (2 * (e - 23)));
          break;
        }
        case 5: c = f((2 ** 24 - 1 - Math.floor(r() * 64)) ** 2 * 2 ** (Math.floor(r() * 20) - 48)); break; // (near) perfect squares
      }
      inp[3 * i] = a; inp[3 * i + 1] = b; inp[3 * i + 2] = c;
    }
    const bi = storage(t, 'inp', inp), bo = storage(t, 'out', 20 * n);
    const bu = t.gpu.createBufferFrom('opaque', new Uint32Array(4), GPUBufferUsage.UNIFORM);
    const bindGroup = dev.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [bi, bo, bu].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    await run(t, [{ label: 'exact-arith', pipeline, bindGroup, dispatch: [n / 64, 1, 1] }]);
    const got = await readF32(t, bo, 5 * n);
    const names = ['fma_rn(a, b, c)', 'div_rn(a, b)', 'sqrt_rn(|c|)', 'two_prod(a, b).e', 'fma_rn(C2, b, C1)'];
    const [C2, C1] = [0x1555e66 * 2 ** -27, 0x1fffdb6 * 2 ** -26];
    for (let op = 0; op < 5; op++) {
      const g = new Float32Array(n), w = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const [a, b, c] = [inp[3 * i]!, inp[3 * i + 1]!, inp[3 * i + 2]!];
        g[i] = got[5 * i + op]!;
        w[i] = [fmaF32(a, b, c), a / b, Math.sqrt(Math.abs(c)), a * b - f(a * b), fmaF32(C2, b, C1)][op]!;
      }
      expectBits(g, w, names[op]!, (i) => `a ${inp[3 * i]}, b ${inp[3 * i + 1]}, c ${inp[3 * i + 2]}`);
    }
    for (const b of [bi, bo, bu]) t.gpu.destroyBuffer(b);
  });
});
