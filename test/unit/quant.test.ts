// Bit-level checks of the reference number formats and ggml block quantizers (test/reference/quant.ts).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GGMLType } from '../../src/model/dtypes.js';
import { loadReferenceModel } from '../reference/load.js';
import {
  bf16ToF32, bitsToF32, decodeF16, dequantize, f16ToF32, f32Bits, f32ToBf16, f32ToF16, quantizeActQ8_0, quantizeQ4_0, quantizeQ8_0,
  QK, roundHalfAway, roundHalfEven,
} from '../reference/quant.js';

const FIXTURES = resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/fixtures');

const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

/** Deterministic pseudo-random f32 data with a spread of magnitudes per block. */
function testData(n: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rnd() * 2 - 1) * 10 ** Math.floor((i / QK) % 7 - 4);
  return out;
}

/** Collects failures so exhaustive loops make one expect call (per-value expects are slow). */
function collect(): { bad: string[]; check(ok: boolean, what: () => string): void } {
  const bad: string[] = [];
  return { bad, check: (ok, what) => { if (!ok && bad.length < 20) bad.push(what()); } };
}

const hex = (x: number) => '0x' + x.toString(16);

describe('f16', () => {
  it('decodes every one of the 65536 values to the f32 with the same sign, exponent and mantissa', () => {
    const c = collect();
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      const exp = (h >>> 10) & 0x1f, mant = h & 0x3ff, sign = h >>> 15;
      let ok: boolean;
      if (exp === 0x1f) ok = mant ? Number.isNaN(v) : v === (sign ? -Infinity : Infinity);
      else if (exp !== 0) ok = f32Bits(v) === ((sign << 31) | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
      else ok = Object.is(v, (sign ? -1 : 1) * mant * 2 ** -24);
      c.check(ok && (Object.is(v, decodeF16(h)) || Number.isNaN(v)), () => `${hex(h)} -> ${v}`);
    }
    expect(c.bad).toEqual([]);
  });

  it('round-trips all 65536 values through f32 (NaNs stay NaN)', () => {
    const c = collect();
    for (let h = 0; h < 65536; h++) {
      const back = f32ToF16(f16ToF32(h));
      c.check(isF16NaN(h) ? isF16NaN(back) : back === h, () => `${hex(h)} -> ${hex(back)}`);
    }
    expect(c.bad).toEqual([]);
  });

  it('rounds every midpoint between neighbours to the even one, and anything off-midpoint to the nearer', () => {
    const c = collect();
    // One f32 ulp away from zero (up) or toward it: f32 bits are sign-magnitude.
    const nudge = (x: number, up: boolean) => bitsToF32(f32Bits(x) + (up ? 1 : -1));
    for (let h = 0; h < 0x7c00; h++) {
      for (const sign of [0, 0x8000]) {
        const lo = f16ToF32(h | sign);
        const hi = h === 0x7bff ? (sign ? -65536 : 65536) : f16ToF32((h + 1) | sign); // 65536: where inf starts
        const mid = (lo + hi) / 2; // at most 12 significant bits: exact in f32
        const even = h & 1 ? (h + 1) | sign : h | sign;
        const got = [f32ToF16(mid), f32ToF16(nudge(mid, true)), f32ToF16(nudge(mid, false))];
        c.check(got[0] === even && got[1] === ((h + 1) | sign) && got[2] === (h | sign), () => `${hex(h | sign)}: ${got.map(hex)}`);
      }
    }
    expect(c.bad).toEqual([]);
  });

  it('overflows to inf, underflows to signed zero and keeps NaN', () => {
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(1e9)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(2 ** -25)).toBe(0); // exactly half the smallest subnormal: ties to even (0)
    expect(f32ToF16(bitsToF32(f32Bits(2 ** -25) + 1))).toBe(1);
    expect(f32ToF16(-1e-30)).toBe(0x8000);
    expect(isF16NaN(f32ToF16(NaN))).toBe(true);
  });
});

describe('bf16', () => {
  it('round-trips all 65536 values; NaNs come back quiet', () => {
    const c = collect();
    for (let h = 0; h < 65536; h++) {
      const back = f32ToBf16(bf16ToF32(h));
      const isNaN = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      c.check(back === (isNaN ? h | 0x40 : h), () => `${hex(h)} -> ${hex(back)}`);
    }
    expect(c.bad).toEqual([]);
  });

  it('rounds to nearest, ties to even, without flushing subnormals (ggml_compute_fp32_to_bf16)', () => {
    const c = collect();
    let s = 12345;
    for (let i = 0; i < 200_000; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      // The first 1000 sweep low halves around 1.0 (both signs) to hit ties; the rest are random bits.
      const bits = i < 1000 ? (((i % 2) << 31) | (0x3f80 << 16) | ((i * 37) & 0xffff)) >>> 0 : s;
      const x = bitsToF32(bits);
      if (!Number.isFinite(x)) continue;
      const lo = bits >>> 16, rest = bits & 0xffff;
      const want = (rest > 0x8000 || (rest === 0x8000 && lo & 1) ? lo + 1 : lo) & 0xffff;
      c.check(f32ToBf16(x) === want, () => `${hex(bits)} -> ${hex(f32ToBf16(x))}, want ${hex(want)}`);
    }
    expect(c.bad).toEqual([]);
    expect(f32ToBf16(1e-40)).not.toBe(0);
    expect(f32ToBf16(bitsToF32(0x3f808000))).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16(bitsToF32(0x3f818000))).toBe(0x3f82); // tie, odd rounds up
  });
});

describe('Q8_0 and Q4_0', () => {
  it('quantize -> dequantize stays within half a step (plus the f16 rounding of the scale)', () => {
    const x = testData(QK * 64);
    const q8 = dequantize(GGMLType.Q8_0, quantizeQ8_0(x), x.length);
    const q4 = dequantize(GGMLType.Q4_0, quantizeQ4_0(x), x.length);
    const c = collect();
    for (let b = 0; b < x.length / QK; b++) {
      const blk = x.subarray(b * QK, (b + 1) * QK);
      const amax = Math.max(...Array.from(blk, Math.abs));
      const d8 = amax / 127, d4 = amax / 8;
      // The f16 scale is off by half an f16 ulp: relative 2^-11, or 2^-25 absolute when subnormal.
      const f16err = (d: number) => Math.max(d * 2 ** -11, 2 ** -25);
      for (let j = 0; j < QK; j++) {
        const i = b * QK + j;
        c.check(Math.abs(q8[i]! - x[i]!) <= d8 / 2 + 127 * f16err(d8), () => `Q8_0 [${i}] ${x[i]} -> ${q8[i]}`);
        // Q4_0 clamps q to 15, so the value opposite the max's sign can be off by a full step.
        c.check(Math.abs(q4[i]! - x[i]!) <= d4 + 8 * f16err(d4), () => `Q4_0 [${i}] ${x[i]} -> ${q4[i]}`);
      }
    }
    expect(c.bad).toEqual([]);
  });

  it('matches hand-computed blocks', () => {
    // Q4_0: max |x| is -4, so d = 0.5 and q = x/d + 8; element j < 16 is the low nibble of byte j.
    const x4 = new Float32Array(32);
    for (let j = 0; j < 16; j++) x4[j] = (j - 8) * 0.5;
    const b4 = quantizeQ4_0(x4);
    expect(Array.from(b4)).toEqual([0x00, 0x38, ...Array.from({ length: 16 }, (_, j) => j | 0x80)]);
    expect(Array.from(dequantize(GGMLType.Q4_0, b4, 32))).toEqual(Array.from(x4));
    // Q8_0: amax 127 gives d = 1 (f16 0x3c00), roundf sends halves away from zero.
    const x8 = new Float32Array(32);
    x8.set([127, 2.5, -2.5, 0.4, -0.5, 1.5]);
    expect(Array.from(quantizeQ8_0(x8).subarray(0, 8))).toEqual([0x00, 0x3c, 127, 3, 0xfd, 0, 0xff, 2]);
  });

  it('quantizes activations like quantize_row_q8_0 (generic roundf vs x86 nearest-even), scale f16-rounded', () => {
    const x = new Float32Array(32);
    x.set([127, 2.5, -2.5, 3.5]);
    expect(Array.from(quantizeActQ8_0(x).qs.subarray(0, 4))).toEqual([127, 3, -3, 4]);
    expect(Array.from(quantizeActQ8_0(x, 0, 32, undefined, 'x86').qs.subarray(0, 4))).toEqual([127, 2, -2, 4]);
    const y = testData(64, 7);
    const a = quantizeActQ8_0(y);
    for (const d of a.d) expect(f16ToF32(f32ToF16(d))).toBe(d);
    expect(roundHalfAway(-2.5)).toBe(-3);
    expect(roundHalfEven(-2.5)).toBe(-2);
  });

  const st = resolve(FIXTURES, 'models/story/model.safetensors');
  it.skipIf(!existsSync(st))('reproduces the published TinyStories-656K Q8_0 and F16 GGUF bytes from its F32 safetensors', async () => {
    const buf = readFileSync(st);
    const hdrLen = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + hdrLen).toString()) as Record<string, { data_offsets: [number, number] }>;
    const f32 = (name: string) => {
      const [a, b] = header[name]!.data_offsets;
      return new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + hdrLen + a, buf.byteOffset + 8 + hdrLen + b));
    };
    const q8 = await loadReferenceModel(resolve(FIXTURES, 'models/TinyStories-656K-Q8_0.gguf'));
    const f16 = await loadReferenceModel(resolve(FIXTURES, 'models/TinyStories-656K.f16.gguf'));
    // q/k projections are row-permuted by the HF converter, so compare tensors it copies as-is.
    const pairs = [['blk.0.ffn_gate.weight', 'model.layers.0.mlp.gate_proj.weight'], ['blk.1.ffn_down.weight', 'model.layers.1.mlp.down_proj.weight'],
      ['blk.0.attn_v.weight', 'model.layers.0.self_attn.v_proj.weight'], ['token_embd.weight', 'lm_head.weight']] as const;
    for (const [gguf, hf] of pairs) {
      const x = f32(hf);
      expect(Buffer.from(quantizeQ8_0(x)).equals(Buffer.from(q8.tensors.get(gguf)!.data)), gguf).toBe(true);
      const h = new Uint16Array(x.length);
      for (let i = 0; i < x.length; i++) h[i] = f32ToF16(x[i]!);
      expect(Buffer.from(h.buffer).equals(Buffer.from(f16.tensors.get(gguf)!.data)), gguf).toBe(true);
    }
  });
});
