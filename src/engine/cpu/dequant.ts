// Weight decoding for the CPU path: every type the GPU kernels read (F32, F16, BF16, Q8_0, Q4_0),
// expanded to f32 once at load. Block layouts as in ggml-common.h.
import { FridayError } from '../../api/errors.js';
import { GGMLType, ggmlTypeName } from '../../model/dtypes.js';

// All 65536 half-precision values, built on first use.
let F16: Float32Array | undefined;

function f16Table(): Float32Array {
  if (F16) return F16;
  F16 = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    F16[h] = exp === 0 ? sign * mant * 2 ** -24 : exp === 0x1f ? (mant ? NaN : sign * Infinity) : sign * (1024 + mant) * 2 ** (exp - 25);
  }
  return F16;
}

/** IEEE binary16 bits to a number. */
export function f16ToF32(h: number): number {
  return f16Table()[h & 0xffff]!;
}

/** Decodes `n` elements of a tensor of GGML type `type` from its raw little-endian bytes. */
export function dequantize(type: number, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case GGMLType.F32:
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    case GGMLType.F16: {
      const t = f16Table();
      for (let i = 0; i < n; i++) out[i] = t[dv.getUint16(2 * i, true)]!;
      return out;
    }
    case GGMLType.BF16: {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case GGMLType.Q8_0: {
      // block: f16 scale d, then 32 x int8; x = d * q
      const t = f16Table();
      for (let b = 0; b < n / 32; b++) {
        const o = b * 34;
        const d = t[dv.getUint16(o, true)]!;
        for (let j = 0; j < 32; j++) out[b * 32 + j] = d * dv.getInt8(o + 2 + j);
      }
      return out;
    }
    case GGMLType.Q4_0: {
      // block: f16 scale d, then 16 bytes; element j is the low nibble of byte j, element j+16
      // the high nibble; x = d * (nibble - 8)
      const t = f16Table();
      for (let b = 0; b < n / 32; b++) {
        const o = b * 18;
        const d = t[dv.getUint16(o, true)]!;
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j]!;
          out[b * 32 + j] = d * ((q & 0x0f) - 8);
          out[b * 32 + j + 16] = d * ((q >> 4) - 8);
        }
      }
      return out;
    }
    default:
      throw new FridayError('UNSUPPORTED_TENSOR_TYPE', `The CPU path can't decode tensor type ${ggmlTypeName(type)}; it reads F32, F16, BF16, Q8_0 and Q4_0.`, { type: ggmlTypeName(type) });
  }
}
