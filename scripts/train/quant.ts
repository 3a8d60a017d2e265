// f32 -> F16 and Q8_0 encoders for the export, following ggml (ggml_compute_fp32_to_fp16 and
// quantize_row_q8_0_ref): round-to-nearest-even halves; Q8_0 blocks of 32 with d = amax / 127 and
// q = roundf(x / d) (ties away from zero).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> IEEE binary16 bits, round to nearest even, with subnormals and overflow to infinity. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) {
    const h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    return sign | (rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h);
  }
  if (e < -10) return sign;
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

const roundf = (v: number) => Math.sign(v) * Math.round(Math.abs(v));

export function encodeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % 32) throw new Error(`Q8_0 needs a multiple of 32 elements, got ${x.length}`);
  const out = new Uint8Array((x.length / 32) * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    dv.setUint16(b * 34, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, roundf(Math.fround(x[b * 32 + j]! * id)));
  }
  return out;
}
