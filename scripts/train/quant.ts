// f32 -> F16 and Q8_0 encoders for the GGUF export, bit-exact with ggml (ggml_compute_fp32_to_fp16
// and quantize_row_q8_0_ref), including its f32 rounding (Math.fround wherever C stores or
// computes a float). The test oracle (test/reference/quant.ts) re-exports them rather than keeping
// a copy: scripts must not import test code, and src/ only decodes, so this is their one home;
// test/unit/quant.test.ts's bit-level checks thereby cover the export too.
const QK8_0 = 32; // elements per Q8_0 block
const Q8_0_BYTES = 34; // f16 d + 32 x int8

// One shared scratch word for float -> bits reinterpretation (no per-call allocation).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> f16 bits, round-to-nearest-even, with subnormals, overflow to inf and quiet NaN.
 *  `x` is first rounded to f32, as the C callers pass a float. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // re-biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) {
    // Normal: drop 13 mantissa bits. A carry out of the mantissa bumps the exponent, and
    // 0x7bff + 1 == 0x7c00 is inf, which is exactly the IEEE overflow result.
    const h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    return sign | (rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h);
  }
  if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
  // Subnormal result: value / 2^-24 = (1.mant) >> shift.
  mant |= 0x800000;
  const shift = 14 - e;
  const h = mant >>> shift;
  const rest = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return sign | (rest > half || (rest === half && h & 1) ? h + 1 : h);
}

export function encodeF16(x: Float32Array): Uint8Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32ToF16(x[i]!);
  return new Uint8Array(out.buffer);
}

export function encodeF32(x: Float32Array): Uint8Array {
  return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
}

/** roundf: half away from zero (Math.round rounds half up, which differs for negatives). */
export function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** One Q8_0 block of x[off..off+32): writes 32 int8 into `qs`, returns the f32 (not yet f16) scale
 *  d = amax / 127; q = roundf(x / d) using the unrounded d. */
export function quantizeBlockQ8_0(x: ArrayLike<number>, off: number, qs: Int8Array, qsOff = 0): number {
  let amax = 0;
  for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[off + j]!));
  const d = Math.fround(amax / 127);
  const id = d ? Math.fround(1 / d) : 0;
  for (let j = 0; j < QK8_0; j++) qs[qsOff + j] = roundHalfAway(Math.fround(x[off + j]! * id));
  return d;
}

/** quantize_row_q8_0_ref: blocks of 34 bytes, the scale stored as f16. */
export function encodeQ8_0(x: ArrayLike<number>): Uint8Array {
  if (x.length % QK8_0) throw new Error(`Q8_0: length ${x.length} is not a multiple of ${QK8_0}`);
  const out = new Uint8Array((x.length / QK8_0) * Q8_0_BYTES);
  const dv = new DataView(out.buffer);
  const qs = new Int8Array(out.buffer);
  for (let b = 0; b < x.length / QK8_0; b++) {
    dv.setUint16(b * Q8_0_BYTES, f32ToF16(quantizeBlockQ8_0(x, b * QK8_0, qs, b * Q8_0_BYTES + 2)), true);
  }
  return out;
}
