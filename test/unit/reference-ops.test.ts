// The CPU oracle's building blocks checked against independent double-precision formulas, and the
// comparison helpers' messages (GPU kernel tests depend on both).
import { describe, expect, it } from 'vitest';
import { GGMLType } from '../../src/model/dtypes.js';
import { assertClose, coords, firstDifference, firstMismatch } from '../reference/compare.js';
import { argmax, attendOne, causalAttention, expAvx512, matmul, prepareWeight, rmsnorm, rope, softmax, swiglu, type AttentionShape } from '../reference/ops.js';
import { f32ToBf16, f32ToF16, quantizeQ4_0, quantizeQ8_0, roundToF16 } from '../reference/quant.js';

function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** Raw GGUF bytes of a [rows, cols] f32 matrix in each weight type. */
function encode(type: number, w: Float32Array): Uint8Array {
  if (type === GGMLType.F32) return new Uint8Array(w.slice().buffer);
  if (type === GGMLType.Q8_0) return quantizeQ8_0(w);
  if (type === GGMLType.Q4_0) return quantizeQ4_0(w);
  const h = Uint16Array.from(w, type === GGMLType.F16 ? f32ToF16 : f32ToBf16);
  return new Uint8Array(h.buffer);
}

describe('matmul', () => {
  const rows = 48, cols = 96, n = 3;
  const x = randn(n * cols, 1); // [n, cols]
  const wf = randn(rows * cols, 2, 0.1); // [rows, cols]
  for (const [name, type] of Object.entries({ F32: GGMLType.F32, F16: GGMLType.F16, BF16: GGMLType.BF16, Q8_0: GGMLType.Q8_0, Q4_0: GGMLType.Q4_0 })) {
    it(`${name}: 'f32' mode equals the double dot with the dequantized weight; 'llamacpp' stays close`, () => {
      const w = prepareWeight(type, [cols, rows], encode(type, wf));
      const deq = new Float32Array(rows * cols); // [rows, cols]
      for (let o = 0; o < rows; o++) for (let i = 0; i < cols; i++) deq[o * cols + i] = w.f32 ? w.f32[o * cols + i]! : w.scales![(o * cols + i) / 32 | 0]! * w.qs![o * cols + i]!;
      const want = new Float32Array(n * rows); // [n, rows]
      for (let t = 0; t < n; t++) for (let o = 0; o < rows; o++) {
        let s = 0;
        for (let i = 0; i < cols; i++) s += deq[o * cols + i]! * x[t * cols + i]!;
        want[t * rows + o] = s;
      }
      const y = new Float32Array(n * rows);
      matmul(y, x, w, n, 'f32');
      assertClose(y, want, { atol: 1e-6, rtol: 1e-6, label: `matmul ${name} f32`, shape: [n, rows] });
      matmul(y, x, w, n, 'llamacpp');
      // Activation rounding: Q8_0 ~ amax/254 per element, f16 2^-11, bf16 2^-8 relative.
      const rtol = { F32: 1e-6, F16: 2e-3, BF16: 2e-2, Q8_0: 2e-2, Q4_0: 2e-2 }[name]!;
      assertClose(y, want, { atol: 0.05, rtol, label: `matmul ${name} llamacpp`, shape: [n, rows] });
    });
  }
});

describe('norm, activation, rope, softmax, argmax', () => {
  it('rmsnorm: y = x / sqrt(mean(x^2) + eps) * w', () => {
    const x = Float32Array.from([1, 2, 3, 4, -1, -2, -3, -4]), w = Float32Array.from([1, 0.5, 2, 1]);
    const y = new Float32Array(8);
    rmsnorm(y, x, w, 2, 4, 1e-5);
    const r = 1 / Math.sqrt(7.5 + 1e-5);
    assertClose(y, [r, 2 * r * 0.5, 3 * r * 2, 4 * r, -r, -r, -6 * r, -4 * r], { atol: 1e-6, label: 'rmsnorm' });
  });

  it('swiglu and the AVX-512 exp emulation stay within 2 f32 ulp of the exact values', () => {
    for (let v = -87; v < 88; v += 0.37) {
      const x = Math.fround(v), e = Math.exp(x);
      expect(Math.abs(expAvx512(x) - e)).toBeLessThanOrEqual(2 * 2 ** -23 * e);
    }
    const g = randn(40, 3, 3), u = randn(40, 4), out = new Float32Array(40);
    for (const mode of ['f32', 'llamacpp'] as const) {
      swiglu(out, g, u, 40, mode, 20);
      assertClose(out, Array.from(g, (gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]!), { rtol: 1e-6, atol: 1e-7, label: `swiglu ${mode}` });
    }
  });

  it('rope rotates adjacent pairs of the first ropeDim dims by pos * theta^(-2i/ropeDim)', () => {
    const nHeads = 2, headDim = 8, ropeDim = 4, theta = 10000, pos = 7;
    const x = randn(nHeads * headDim, 5);
    const y = x.slice();
    rope(y, 1, nHeads, headDim, ropeDim, [pos], theta);
    for (let h = 0; h < nHeads; h++) {
      for (let i = 0; i < ropeDim / 2; i++) {
        const a = pos * theta ** (-2 * i / ropeDim), b = h * headDim + 2 * i;
        const [x0, x1] = [x[b]!, x[b + 1]!];
        expect(y[b]).toBeCloseTo(x0 * Math.cos(a) - x1 * Math.sin(a), 5);
        expect(y[b + 1]).toBeCloseTo(x0 * Math.sin(a) + x1 * Math.cos(a), 5);
      }
      for (let i = ropeDim; i < headDim; i++) expect(y[h * headDim + i]).toBe(x[h * headDim + i]); // not rotated
    }
    const z = x.slice();
    rope(z, 1, nHeads, headDim, ropeDim, [0], theta);
    expect(Array.from(z)).toEqual(Array.from(x)); // position 0 is the identity
    const g = x.slice();
    rope(g, 1, nHeads, headDim, ropeDim, [pos], theta, 'ggml');
    assertClose(g, y, { atol: 1e-5, label: 'rope ggml angles' });
  });

  it('softmax sums to one and argmax takes the first maximum', () => {
    const x = Float32Array.from([1, 3, 3, -Infinity, 2]);
    expect(argmax(x)).toBe(1);
    softmax(x, 0, 5);
    expect(x.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(x[3]).toBe(0);
    expect(argmax([0, 5, 1, 5], 2, 2)).toBe(1); // relative to the window
  });
});

describe('attention', () => {
  const s: AttentionShape = { nHeads: 4, nKvHeads: 2, headDim: 8 };
  const qDim = 32, kvDim = 16, n = 6;
  const q = randn(n * qDim, 6), k = randn(n * kvDim, 7), v = randn(n * kvDim, 8);

  /** Naive double-precision causal GQA attention. */
  function naive(): Float32Array {
    const out = new Float32Array(n * qDim);
    for (let t = 0; t < n; t++) for (let h = 0; h < s.nHeads; h++) {
      const kh = Math.floor(h / 2);
      const sc = Array.from({ length: t + 1 }, (_, p) => {
        let d = 0;
        for (let i = 0; i < 8; i++) d += q[t * qDim + h * 8 + i]! * k[p * kvDim + kh * 8 + i]!;
        return d / Math.sqrt(8);
      });
      const m = Math.max(...sc), e = sc.map((x) => Math.exp(x - m)), z = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < 8; i++) out[t * qDim + h * 8 + i] = e.reduce((acc, ei, p) => acc + (ei / z) * v[p * kvDim + kh * 8 + i]!, 0);
    }
    return out;
  }

  it('causal GQA attention matches a naive double implementation; the first token just copies its value', () => {
    const out = new Float32Array(n * qDim);
    causalAttention(out, q, k, v, n, s);
    assertClose(out, naive(), { atol: 1e-6, label: 'attention', shape: [n, s.nHeads, s.headDim] });
    for (let i = 0; i < 8; i++) expect(out[8 + i]).toBeCloseTo(v[i]!, 6); // head 1 reads kv head 0
  });

  it("the ggml f16 emulations ('ggml', 'ggml-flash') agree with exact attention to f16 precision", () => {
    const kh = k.map(roundToF16), vh = v.map(roundToF16);
    const want = new Float32Array(n * qDim);
    causalAttention(want, q, kh, vh, n, s);
    for (const r of ['ggml', 'ggml-flash'] as const) {
      const out = new Float32Array(n * qDim);
      for (let t = 0; t < n; t++) attendOne(out, t * qDim, q, t * qDim, kh, vh, t + 1, s, r);
      assertClose(out, want, { atol: 3e-3, rtol: 3e-3, label: `attention ${r}`, shape: [n, s.nHeads, s.headDim] });
    }
  });
});

describe('compare helpers', () => {
  it('names the first bad element with coordinates, both values, the tolerance and the worst element', () => {
    const want = new Float32Array(12).fill(1);
    const got = want.slice();
    got[5] = 1.01;
    got[9] = 3;
    expect(firstMismatch(got, want, { atol: 1e-3, rtol: 0 })?.index).toBe(5);
    expect(() => assertClose(got, want, { atol: 1e-3, rtol: 0, label: 'matmul Q8_0', shape: [3, 4] })).toThrow(
      /matmul Q8_0: first mismatch at index 5 \[1, 1\] of shape \[3, 4\]: actual 1\.00999.*expected 1 .*2 of 12 elements .*max \|diff\| 2\.000e\+0 at index 9 \[2, 1\]/,
    );
    expect(() => assertClose([1, 2], [1], {})).toThrow(/length mismatch: actual 2, expected 1/);
    expect(firstMismatch([NaN, Infinity], [NaN, Infinity])).toBeNull();
    expect(firstMismatch([1], [NaN])?.index).toBe(0);
    expect(coords(7, [2, 2, 2])).toBe('[1, 1, 1]');
    expect(firstDifference([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(firstDifference([1, 2], [1, 2, 3])).toBe(2);
    expect(firstDifference([1, 2], [1, 2])).toBe(-1);
  });
});
