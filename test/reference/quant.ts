// Bit-exact number formats and ggml block quantization, in plain TS. The oracle for every GPU
// dequant/matmul kernel, so each function mirrors the ggml C it names, including its f32 rounding
// (Math.fround wherever C would store or compute a float). f32 -> f16 and the Q8_0 quantizer are
// the GGUF export's own (scripts/train/quant.ts), shared rather than copied: scripts must not import
// tests, and src/ has no use for encoders.
import { GGMLType, ggmlTypeName } from '../../src/model/dtypes.js';
import { f32ToF16, quantizeBlockQ8_0 } from '../../scripts/train/quant.js';

export { encodeQ8_0 as quantizeQ8_0, f32ToF16, roundHalfAway } from '../../scripts/train/quant.js';

export const QK = 32; // QK8_0 == QK4_0: elements per block
export const Q8_0_BLOCK_BYTES = 34; // f16 d + 32 x int8
export const Q4_0_BLOCK_BYTES = 18; // f16 d + 16 bytes of nibbles

// One shared scratch word for float <-> bits reinterpretation (no per-call allocation).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

export function bitsToF32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

// ---------------------------------------------------------------------------------------------
// f16 (IEEE binary16) and bf16

/** Decodes binary16 bits arithmetically (sign, 5-bit exponent, 10-bit mantissa). */
export function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

// All 65536 values, built on first use: f16 conversions sit in the attention inner loops.
let F16_TABLE: Float32Array | null = null;

export function f16ToF32(h: number): number {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) F16_TABLE[i] = decodeF16(i);
  }
  return F16_TABLE[h & 0xffff]!;
}

export function roundToF16(x: number): number {
  return f16ToF32(f32ToF16(x));
}

export function bf16ToF32(h: number): number {
  return bitsToF32((h & 0xffff) << 16);
}

/** ggml_compute_fp32_to_bf16: round-to-nearest-even on the top 16 bits, NaN forced quiet,
 *  subnormals kept (current ggml no longer flushes them). */
export function f32ToBf16(x: number): number {
  const b = f32Bits(x);
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 64) & 0xffff;
  return ((b + (0x7fff + ((b >>> 16) & 1))) >>> 16) & 0xffff;
}

export function roundToBf16(x: number): number {
  return bf16ToF32(f32ToBf16(x));
}

// ---------------------------------------------------------------------------------------------
// Dequantization. A weight row of `n` elements starts at byte `rowOffset(type, n, row)`.

export function rowBytes(type: number, n: number): number {
  switch (type) {
    case GGMLType.F32: return n * 4;
    case GGMLType.F16: case GGMLType.BF16: return n * 2;
    case GGMLType.Q8_0: return (n / QK) * Q8_0_BLOCK_BYTES;
    case GGMLType.Q4_0: return (n / QK) * Q4_0_BLOCK_BYTES;
  }
  throw new Error(`reference: no dequantizer for ggml type ${ggmlTypeName(type)}`);
}

/** Dequantizes `n` elements starting at byte `off` of `data` into `out[outOff..]` (f32, exact). */
export function dequantizeRow(type: number, data: Uint8Array, off: number, n: number, out: Float32Array, outOff = 0): void {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (type) {
    case GGMLType.F32:
      for (let i = 0; i < n; i++) out[outOff + i] = dv.getFloat32(off + 4 * i, true);
      return;
    case GGMLType.F16:
      for (let i = 0; i < n; i++) out[outOff + i] = f16ToF32(dv.getUint16(off + 2 * i, true));
      return;
    case GGMLType.BF16:
      for (let i = 0; i < n; i++) out[outOff + i] = bf16ToF32(dv.getUint16(off + 2 * i, true));
      return;
    case GGMLType.Q8_0:
      for (let b = 0; b < n / QK; b++) {
        const p = off + b * Q8_0_BLOCK_BYTES;
        const d = f16ToF32(dv.getUint16(p, true));
        for (let j = 0; j < QK; j++) out[outOff + b * QK + j] = d * dv.getInt8(p + 2 + j);
      }
      return;
    case GGMLType.Q4_0:
      for (let b = 0; b < n / QK; b++) {
        const p = off + b * Q4_0_BLOCK_BYTES;
        const d = f16ToF32(dv.getUint16(p, true));
        for (let j = 0; j < QK / 2; j++) {
          const byte = data[p + 2 + j]!;
          out[outOff + b * QK + j] = d * ((byte & 0x0f) - 8); // low nibble: element j
          out[outOff + b * QK + j + 16] = d * ((byte >>> 4) - 8); // high nibble: element j+16
        }
      }
      return;
  }
  throw new Error(`reference: no dequantizer for ggml type ${ggmlTypeName(type)}`);
}

/** A whole tensor [rows, n] to f32. */
export function dequantize(type: number, data: Uint8Array, n: number, rows = 1): Float32Array {
  const out = new Float32Array(n * rows);
  const rb = rowBytes(type, n);
  for (let r = 0; r < rows; r++) dequantizeRow(type, data, r * rb, n, out, r * n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Quantizers (ggml-quants.c *_ref), to make test data and to emulate llama.cpp activations.

function checkBlocks(n: number, what: string): void {
  if (n % QK !== 0) throw new Error(`${what}: length ${n} is not a multiple of ${QK}`);
}

/** quantize_row_q4_0_ref: d = (signed value of max |x|) / -8, q = min(15, trunc(x/d + 8.5)). */
export function quantizeQ4_0(x: ArrayLike<number>): Uint8Array {
  checkBlocks(x.length, 'quantizeQ4_0');
  const out = new Uint8Array((x.length / QK) * Q4_0_BLOCK_BYTES);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / QK; b++) {
    const off = b * QK;
    let amax = 0, max = 0;
    for (let j = 0; j < QK; j++) {
      const v = Math.fround(x[off + j]!);
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    dv.setUint16(b * Q4_0_BLOCK_BYTES, f32ToF16(d), true);
    const q = (v: number) => Math.min(15, Math.trunc(Math.fround(Math.fround(v * id) + 8.5)));
    for (let j = 0; j < QK / 2; j++) {
      out[b * Q4_0_BLOCK_BYTES + 2 + j] = q(x[off + j]!) | (q(x[off + j + 16]!) << 4);
    }
  }
  return out;
}

/** An activation row quantized the way llama.cpp's CPU matmul does for Q8_0/Q4_0 weights. */
export interface QuantizedAct {
  qs: Int8Array; // [n] int8
  d: Float32Array; // [n/32] block scales, already rounded through f16 (as block_q8_0 stores them)
}

/** Which C code quantizes the activations: 'generic' is quantize_row_q8_0's scalar path
 *  (id = 1/d, roundf: half away from zero); 'x86' is its AVX/AVX2/AVX-512 path and the repacked
 *  gemv/gemm quantizers (id = 127/amax, _mm_round_ps nearest-even). They differ by one quant step
 *  on some ties, which is enough to flip a near-tie greedy token, so llama.cpp emulation uses 'x86'. */
export type ActQuantFlavor = 'generic' | 'x86';

/** quantize_row_q8_0: the vec_dot_type conversion of an f32 activation row for Q8_0/Q4_0 weights.
 *  The block scale is stored as f16, so the returned `d` is f16-rounded. */
export function quantizeActQ8_0(x: ArrayLike<number>, off = 0, n = x.length - off, out?: QuantizedAct, flavor: ActQuantFlavor = 'generic'): QuantizedAct {
  checkBlocks(n, 'quantizeActQ8_0');
  const r = out ?? { qs: new Int8Array(n), d: new Float32Array(n / QK) };
  for (let b = 0; b < n / QK; b++) {
    const d = flavor === 'generic' ? quantizeBlockQ8_0(x, off + b * QK, r.qs, b * QK) : quantizeBlockQ8x86(x, off + b * QK, r.qs, b * QK);
    r.d[b] = roundToF16(d);
  }
  return r;
}

function quantizeBlockQ8x86(x: ArrayLike<number>, off: number, qs: Int8Array, qsOff: number): number {
  let amax = 0;
  for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[off + j]!));
  const id = amax ? Math.fround(127 / amax) : 0;
  for (let j = 0; j < QK; j++) qs[qsOff + j] = roundHalfEven(Math.fround(x[off + j]! * id));
  return Math.fround(amax / 127);
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
