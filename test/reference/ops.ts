// Transformer building blocks on the CPU, one function per GPU kernel. Activations are row-major
// Float32Arrays ([nTokens, dim] f32); every op writes f32 (as a GPU buffer would) but reduces in
// double unless it is emulating llama.cpp, so the oracle is at least as accurate as any kernel.
import { GGMLType, ggmlTypeName } from '../../src/model/dtypes.js';
import { dequantize, f16ToF32, QK, Q4_0_BLOCK_BYTES, Q8_0_BLOCK_BYTES, quantizeActQ8_0, roundToBf16, roundToF16, type QuantizedAct } from './quant.js';

/** 'f32': activations stay f32, dots reduce in double (the "true" answer; llama2.c-like).
 *  'llamacpp': emulate llama.cpp's x86 (AVX2/AVX-512) CPU build: activations converted to the
 *  weight's vec_dot_type (Q8_0 via the SIMD quantizer, f16, bf16), f32 accumulation (fused for
 *  the Q8_0 block sums), RoPE angles built in f32, and AVX-512 ggml_v_silu. Tiny models are chaotic enough that a single flipped
 *  activation quant changes near-tie greedy tokens, so every rounding step matters here. */
export type ActMode = 'f32' | 'llamacpp';

// ---------------------------------------------------------------------------------------------
// Weights

/** A weight matrix W with ggml dims [cols, rows]: `rows` rows of `cols` contiguous elements. */
export interface PreparedWeight {
  type: number;
  rows: number; // out
  cols: number; // in
  /** [rows, cols] dequantized values (exact), for F32/F16/BF16. */
  f32: Float32Array | null;
  /** [rows, cols] int8 quants (Q4_0 already minus 8), for Q8_0/Q4_0. */
  qs: Int8Array | null;
  /** [rows, cols/32] f16 block scales as f32, for Q8_0/Q4_0. */
  scales: Float32Array | null;
}

/** Unpacks raw GGUF bytes once so the matmul loops touch only typed arrays. */
export function prepareWeight(type: number, dims: readonly number[], data: Uint8Array): PreparedWeight {
  const cols = dims[0]!;
  const rows = dims.slice(1).reduce((a, b) => a * b, 1);
  if (type === GGMLType.F32 || type === GGMLType.F16 || type === GGMLType.BF16) {
    return { type, rows, cols, f32: dequantize(type, data, cols, rows), qs: null, scales: null };
  }
  if (type !== GGMLType.Q8_0 && type !== GGMLType.Q4_0) throw new Error(`reference: no matmul for ggml type ${ggmlTypeName(type)}`);
  const nBlocks = (rows * cols) / QK;
  const qs = new Int8Array(rows * cols);
  const scales = new Float32Array(nBlocks);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const blockBytes = type === GGMLType.Q8_0 ? Q8_0_BLOCK_BYTES : Q4_0_BLOCK_BYTES;
  for (let b = 0; b < nBlocks; b++) {
    const p = b * blockBytes;
    scales[b] = f16ToF32(dv.getUint16(p, true));
    if (type === GGMLType.Q8_0) {
      for (let j = 0; j < QK; j++) qs[b * QK + j] = dv.getInt8(p + 2 + j);
    } else {
      for (let j = 0; j < QK / 2; j++) {
        const byte = data[p + 2 + j]!;
        qs[b * QK + j] = (byte & 0x0f) - 8;
        qs[b * QK + j + 16] = (byte >>> 4) - 8;
      }
    }
  }
  return { type, rows, cols, f32: null, qs, scales };
}

/** Row `r` of W as f32 (embedding lookup: ggml_get_rows dequantizes exactly). */
export function weightRow(w: PreparedWeight, r: number, out: Float32Array, outOff = 0): void {
  if (w.f32) {
    out.set(w.f32.subarray(r * w.cols, (r + 1) * w.cols), outOff);
    return;
  }
  const qs = w.qs!, sc = w.scales!;
  for (let i = 0; i < w.cols; i++) out[outOff + i] = sc[(r * w.cols + i) / QK | 0]! * qs[r * w.cols + i]!;
}

// ---------------------------------------------------------------------------------------------
// Matmul: y[t, o] = sum_i W[o, i] * x[t, i];  x [nTokens, cols] f32 -> y [nTokens, rows] f32

export function matmul(y: Float32Array, x: Float32Array, w: PreparedWeight, nTokens: number, mode: ActMode): void {
  const { rows, cols } = w;
  const xt = new Float32Array(cols); // one activation row, converted to the vec_dot type
  const act: QuantizedAct = { qs: new Int8Array(cols), d: new Float32Array(cols / QK) };
  for (let t = 0; t < nTokens; t++) {
    const xOff = t * cols, yOff = t * rows;
    if (w.f32) {
      if (mode === 'f32' || w.type === GGMLType.F32) {
        for (let o = 0; o < rows; o++) y[yOff + o] = dotF64(w.f32, o * cols, x, xOff, cols);
      } else {
        // ggml converts the activation row to f16/bf16; the products are then exact in f32.
        const round = w.type === GGMLType.F16 ? roundToF16 : roundToBf16;
        for (let i = 0; i < cols; i++) xt[i] = round(x[xOff + i]!);
        for (let o = 0; o < rows; o++) y[yOff + o] = dotF32(w.f32, o * cols, xt, 0, cols);
      }
    } else if (mode === 'f32') {
      for (let o = 0; o < rows; o++) y[yOff + o] = dotQuantF64(w, o, x, xOff);
    } else {
      quantizeActQ8_0(x, xOff, cols, act, 'x86');
      for (let o = 0; o < rows; o++) y[yOff + o] = dotQuantQ8(w, o, act);
    }
  }
}

export function dotF64(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[aOff + i]! * b[bOff + i]!;
  return s;
}

/** Sequential f32 accumulation, like a scalar C loop `float s; s += a*b`. */
export function dotF32(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s = Math.fround(s + Math.fround(a[aOff + i]! * b[bOff + i]!));
  return s;
}

/** Quantized weight row `o` times an f32 activation, in double: sum_b d_b * sum_j q_j x_j. */
function dotQuantF64(w: PreparedWeight, o: number, x: Float32Array, xOff: number): number {
  const qs = w.qs!, sc = w.scales!, nb = w.cols / QK;
  let s = 0;
  for (let b = 0; b < nb; b++) {
    const q0 = (o * nb + b) * QK, x0 = xOff + b * QK;
    let bs = 0;
    for (let j = 0; j < QK; j++) bs += qs[q0 + j]! * x[x0 + j]!;
    s += sc[o * nb + b]! * bs;
  }
  return s;
}

/** ggml_vec_dot_q8_0_q8_0 / q4_0_q8_0: exact integer dot per block, then
 *  sumf += sumi * (f16 dw * f16 dx) in f32, fused (one rounding) as the x86 SIMD kernels do. */
function dotQuantQ8(w: PreparedWeight, o: number, act: QuantizedAct): number {
  const qs = w.qs!, sc = w.scales!, nb = w.cols / QK, aq = act.qs;
  let sumf = 0;
  for (let b = 0; b < nb; b++) {
    const q0 = (o * nb + b) * QK, a0 = b * QK;
    let sumi = 0;
    for (let j = 0; j < QK; j++) sumi += qs[q0 + j]! * aq[a0 + j]!;
    sumf = Math.fround(sumf + sumi * Math.fround(sc[o * nb + b]! * act.d[b]!));
  }
  return sumf;
}

// ---------------------------------------------------------------------------------------------
// Norm, activation, positional encoding

/** RMSNorm as ggml_rms_norm + ggml_mul: the sum of f32 squares accumulates in double
 *  (ggml_float), mean and scale = 1/sqrtf(mean + eps) are f32, y = (x * scale) * w. llama2.c's
 *  float-accumulated version differs only in the sum. x, y: [nTokens, dim] f32; w: [dim]. */
export function rmsnorm(y: Float32Array, x: Float32Array, w: Float32Array, nTokens: number, dim: number, eps: number): void {
  for (let t = 0; t < nTokens; t++) {
    const off = t * dim;
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += Math.fround(x[off + i]! * x[off + i]!);
    const scale = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(Math.fround(sum / dim) + eps))));
    for (let i = 0; i < dim; i++) y[off + i] = Math.fround(x[off + i]! * scale) * w[i]!;
  }
}

/** out = silu(gate) * up, silu(g) = g / (1 + e^-g); all [n] f32, made of rows of rowLen. With
 *  'llamacpp', each row's runs of 16 use ggml_v_silu's AVX-512 exp (a polynomial within ~1.5 ulp)
 *  like ggml_vec_swiglu_f32, and the row's tail uses expf. */
export function swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n: number, mode: ActMode = 'f32', rowLen = n): void {
  const nSimd = mode === 'llamacpp' ? rowLen - (rowLen % 16) : 0;
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    const e = i % rowLen < nSimd ? expAvx512(-g) : Math.fround(Math.exp(-g));
    out[i] = Math.fround(g / Math.fround(1 + e)) * up[i]!;
  }
}

const fma32 = (a: number, b: number, c: number) => Math.fround(a * b + c);
const hexf = (mant: number, bits: number, exp: number) => (mant / 2 ** bits) * 2 ** exp;
const EXP_C = [hexf(0x1ffffec, 24, -1), hexf(0x1fffdb6, 24, -2), hexf(0x1555e66, 24, -3), hexf(0x1573e2e, 24, -5), hexf(0x10e4020, 24, -7)];
const LOG2E = hexf(0x1715476, 24, 0), LN2_HI = hexf(0x162e4, 16, -1), LN2_LO = hexf(0x17f7d1c, 24, -20);

/** ggml_v_expf, AVX-512 flavour (from ARM's optimized-routines): n = round(x / ln2) by the
 *  1.5 * 2^23 trick, b = x - n ln2 in two parts, a degree-5 polynomial, then scalef by 2^n. */
export function expAvx512(x: number): number {
  const r = 12582912; // 0x1.8p23
  const z = fma32(x, LOG2E, r);
  const n = Math.fround(z - r);
  const b = fma32(-n, LN2_LO, fma32(-n, LN2_HI, x));
  if (Math.abs(n) > 192) return n > 0 ? Infinity : 0;
  const u = Math.fround(b * b);
  const [c0, c1, c2, c3, c4] = EXP_C as [number, number, number, number, number];
  const j = fma32(fma32(fma32(c4, b, c3), u, fma32(c2, b, c1)), u, fma32(c0, b, 1));
  return Math.fround(j * 2 ** n);
}

/** 'exact': angle = pos * theta^(-2i/ropeDim) in double (llama2.c computes the same in f32).
 *  'ggml': ggml's rope cache, theta_i = pos * theta_scale^i built by repeated f32 multiplication. */
export type RopeAngles = 'exact' | 'ggml';

/** cos/sin for one position: [ropeDim/2] each. */
export function ropeCosSin(pos: number, ropeDim: number, theta: number, style: RopeAngles, cos: Float32Array, sin: Float32Array): void {
  const thetaScale = Math.fround(Math.pow(theta, -2 / ropeDim));
  let a = Math.fround(pos);
  for (let i = 0; i < ropeDim / 2; i++) {
    const angle = style === 'exact' ? pos * Math.pow(theta, (-2 * i) / ropeDim) : a;
    cos[i] = Math.cos(angle);
    sin[i] = Math.sin(angle);
    a = Math.fround(a * thetaScale);
  }
}

/** RoPE, "normal" llama layout (ggml mode 0, llama2.c): rotates adjacent pairs (x[2i], x[2i+1])
 *  of the first ropeDim dims of every head, in place. x: [nTokens, nHeads * headDim] f32;
 *  positions: [nTokens]. */
export function rope(x: Float32Array, nTokens: number, nHeads: number, headDim: number, ropeDim: number,
  positions: ArrayLike<number>, theta: number, style: RopeAngles = 'exact'): void {
  const cos = new Float32Array(ropeDim / 2), sin = new Float32Array(ropeDim / 2);
  for (let t = 0; t < nTokens; t++) {
    ropeCosSin(positions[t]!, ropeDim, theta, style, cos, sin);
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * headDim;
      for (let i = 0; i < ropeDim / 2; i++) {
        const x0 = x[base + 2 * i]!, x1 = x[base + 2 * i + 1]!, c = cos[i]!, s = sin[i]!;
        x[base + 2 * i] = Math.fround(x0 * c) - Math.fround(x1 * s);
        x[base + 2 * i + 1] = Math.fround(x0 * s) + Math.fround(x1 * c);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax, attention, argmax

/** In-place softmax of x[off .. off+n), max-subtracted, sum in double. */
export function softmax(x: Float32Array, off: number, n: number): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[off + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.fround(Math.exp(x[off + i]! - max));
    x[off + i] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let i = 0; i < n; i++) x[off + i] = x[off + i]! * inv;
}

export interface AttentionShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/** How attention rounds: 'exact' reduces in double. The two ggml modes emulate llama.cpp's CPU
 *  graph over an f16 KV cache: 'ggml' is the plain graph (q and the softmax probabilities are
 *  converted to f16, the F16 vec_dot type), 'ggml-flash' is ggml_flash_attn_ext (q in f16, online
 *  softmax, values accumulated in an f16 buffer), which llama.cpp now enables by default on CPU. */
export type AttnRounding = 'exact' | 'ggml' | 'ggml-flash';

/** Causal GQA attention for one query token over cache rows 0..nPos-1.
 *  q: [nHeads * headDim] at qOff; kCache, vCache: [>= nPos, nKvHeads * headDim] (already in
 *  their storage precision); out: [nHeads * headDim] at outOff. Query head h reads kv head
 *  h / (nHeads / nKvHeads); scores are scaled by 1/sqrt(headDim). */
export function attendOne(out: Float32Array, outOff: number, q: Float32Array, qOff: number,
  kCache: Float32Array, vCache: Float32Array, nPos: number, s: AttentionShape, roundingOrF16Dots: AttnRounding | boolean = 'exact'): void {
  // A boolean is the original form of the last argument: true meant the plain-graph f16 dots.
  const rounding = roundingOrF16Dots === true ? 'ggml' : roundingOrF16Dots === false ? 'exact' : roundingOrF16Dots;
  const { nHeads, nKvHeads, headDim } = s;
  const kvDim = nKvHeads * headDim, group = nHeads / nKvHeads;
  const scale = Math.fround(1 / Math.sqrt(headDim));
  const att = new Float32Array(nPos); // [nPos] scores, then probabilities
  const qh = new Float32Array(headDim); // one head of q, in the dot's input precision
  const acc = new Float64Array(headDim);
  const f16 = rounding !== 'exact';
  for (let h = 0; h < nHeads; h++) {
    const kvOff = ((h / group) | 0) * headDim;
    for (let i = 0; i < headDim; i++) qh[i] = f16 ? roundToF16(q[qOff + h * headDim + i]!) : q[qOff + h * headDim + i]!;
    if (rounding === 'ggml-flash') {
      flashHeadF16(out, outOff + h * headDim, qh, kCache, vCache, nPos, kvDim, kvOff, headDim, scale);
      continue;
    }
    // Products of two f16 values are exact; ggml sums short rows in double (ggml_float).
    for (let t = 0; t < nPos; t++) att[t] = Math.fround(Math.fround(dotF64(qh, 0, kCache, t * kvDim + kvOff, headDim)) * scale);
    softmax(att, 0, nPos);
    acc.fill(0);
    for (let t = 0; t < nPos; t++) {
      const p = f16 ? roundToF16(att[t]!) : att[t]!;
      const v0 = t * kvDim + kvOff;
      if (f16) for (let i = 0; i < headDim; i++) acc[i] = Math.fround(acc[i]! + Math.fround(p * vCache[v0 + i]!));
      else for (let i = 0; i < headDim; i++) acc[i] += p * vCache[v0 + i]!;
    }
    for (let i = 0; i < headDim; i++) out[outOff + h * headDim + i] = acc[i]!;
  }
}

/** One head of ggml_compute_forward_flash_attn_ext_f16 with an f16 V: running max M, running
 *  sum S, and the value sum VKQ kept in f16 and rescaled whenever the max grows. The multiply-adds
 *  are fused (one f32 rounding), as the compiler contracts them in the SIMD build. qh is f16-exact. */
function flashHeadF16(out: Float32Array, outOff: number, qh: Float32Array, kCache: Float32Array, vCache: Float32Array,
  nPos: number, kvDim: number, kvOff: number, headDim: number, scale: number): void {
  const vkq = new Float32Array(headDim); // [headDim] VKQ16: every value stays f16-exact
  let M = -Infinity, S = 0;
  for (let t = 0; t < nPos; t++) {
    const s = Math.fround(Math.fround(dotF64(qh, 0, kCache, t * kvDim + kvOff, headDim)) * scale);
    let ms = 1, vs = 1;
    if (s > M) {
      ms = Math.fround(Math.exp(Math.fround(M - s))); // expf(Mold - M): the difference is an f32 first; 0 on the first row
      M = s;
      for (let i = 0; i < headDim; i++) vkq[i] = roundToF16(vkq[i]! * ms);
    } else {
      vs = Math.fround(Math.exp(Math.fround(s - M)));
    }
    const v0 = t * kvDim + kvOff;
    for (let i = 0; i < headDim; i++) vkq[i] = roundToF16(Math.fround(vCache[v0 + i]! * vs + vkq[i]!));
    S = Math.fround(S * ms + vs);
  }
  const inv = S === 0 ? 0 : Math.fround(1 / S);
  for (let i = 0; i < headDim; i++) out[outOff + i] = vkq[i]! * inv;
}

/** Causal self-attention of one sequence starting at position 0: token t sees rows 0..t.
 *  q: [nTokens, nHeads*headDim], k, v: [nTokens, nKvHeads*headDim] -> out like q. */
export function causalAttention(out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, nTokens: number, s: AttentionShape): void {
  const qDim = s.nHeads * s.headDim;
  for (let t = 0; t < nTokens; t++) attendOne(out, t * qDim, q, t * qDim, k, v, t + 1, s);
}

/** Index of the largest of x[off .. off+n); the first one on ties (llama2.c, llama.cpp greedy). */
export function argmax(x: ArrayLike<number>, off = 0, n = x.length - off): number {
  let best = 0, bestV = x[off]!;
  for (let i = 1; i < n; i++) {
    if (x[off + i]! > bestV) { bestV = x[off + i]!; best = i; }
  }
  return best;
}
