// lib_dequant: reading ggml weights kept in their compact GGUF form, plus exact number-format
// conversions. Inlined with `#include "lib_dequant"`.
//
// Bindings: none of its own. With a weight-type define (F32, F16, BF16, Q8_0 or Q4_0) the
// includer must declare the raw weight buffer as
//   var<storage, read> w: array<u32>;   // raw GGUF bytes, little-endian, padded to 4 bytes
// and gets w_elem (one element) plus w_vec4 (float types) or load_block (block types). Without
// one, only the buffer-free helpers remain (number formats, half_at, u32_at2, dot4_i8). DOT4
// picks the dot4I8Packed builtin over the manual unpack in dot4_i8.
//
// Layouts (ggml): a tensor of ggml dims [K, N] is N rows of K elements, stored back to back, so
// element k of row n has flat index e = n*K + k, and for the block types block g = e / 32.
//   F32  4 bytes.   F16 / BF16  2 bytes, two per u32 (low half first).
//   Q8_0 34-byte blocks: f16 d, 32 x int8 q;            x = d * q
//   Q4_0 18-byte blocks: f16 d, 16 bytes of nibbles;     element j < 16 is the low nibble of
//        byte j, element j + 16 its high nibble;         x = d * (q - 8)
// Q8_0 / Q4_0 blocks are only 2-byte aligned: block g starts at byte 34g (18g), which is 4-aligned
// for even g and 2 mod 4 for odd g. Unaligned u32s are built from two words with shifts.
//
// No shader-f16 is assumed. f16 is decoded with integer ops (exact, subnormals included, which
// unpack2x16float may flush), and f32 -> f16 / bf16 rounding is done on the bits (round-to-
// nearest-even), because WGSL leaves the rounding of pack2x16float to the implementation.

// ---- number formats ------------------------------------------------------------------------

// Branch-free (selects, not ifs), since these run per element in the matmul inner loops.

// The two f16 halves of v (low first) -> f32, exactly: normals by rebiasing the exponent,
// subnormals as m * 2^-24 (exact), inf / NaN kept.
fn f16x2_to_f32(v: u32) -> vec2<f32> {
  let h = vec2<u32>(v & 0xffffu, v >> 16u);
  let sign = (h & vec2<u32>(0x8000u)) << vec2<u32>(16u);
  let em = h & vec2<u32>(0x7fffu);
  let nrm = sign | ((em << vec2<u32>(13u)) + vec2<u32>(0x38000000u));
  let inf = sign | vec2<u32>(0x7f800000u) | ((em & vec2<u32>(0x3ffu)) << vec2<u32>(13u));
  let sub = sign | bitcast<vec2<u32>>(vec2<f32>(em) * 5.9604644775390625e-8);
  return bitcast<vec2<f32>>(select(select(nrm, inf, em >= vec2<u32>(0x7c00u)), sub, em < vec2<u32>(0x400u)));
}

// The f16 in the low 16 bits of h -> f32, exactly.
fn f16_to_f32(h: u32) -> f32 {
  return f16x2_to_f32(h & 0xffffu).x;
}

fn bf16_to_f32(h: u32) -> f32 {
  return bitcast<f32>((h & 0xffffu) << 16u);
}

// x rounded to the nearest f16 value, ties to even, as f32: GGML_FP32_TO_FP16 then back
// (test/reference/quant.ts roundToF16). In the f16 normal range, round the f32 bits at mantissa
// bit 13 (a carry correctly bumps the exponent); below 2^-14 the f16 grid is 2^-24, and
// round(x * 2^24) * 2^-24 is exact (powers of two, WGSL round is ties-to-even); from 65520 up
// it overflows to inf; NaN stays NaN.
fn round_f16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let a = b & 0x7fffffffu;
  let nrm = bitcast<f32>((b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u);
  let sub = round(x * 16777216.0) * 5.9604644775390625e-8;
  let inf = bitcast<f32>((b & 0x80000000u) | 0x7f800000u);
  let r = select(select(nrm, inf, a >= 0x477ff000u), sub, a < 0x38800000u);
  return select(r, x, a > 0x7f800000u);
}

// x rounded to bf16 (ties to even, NaN kept quiet), as f32: ggml_compute_fp32_to_bf16.
fn round_bf16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let nan = ((b >> 16u) | 64u) << 16u;
  let r = ((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u) << 16u;
  return bitcast<f32>(select(r, nan, (b & 0x7fffffffu) > 0x7f800000u));
}

// ---- unaligned reads -----------------------------------------------------------------------
// Value helpers (WGSL functions can't take a storage buffer): callers load the words.

// The u16 at an even byte offset `byte`, from the word that holds it.
fn half_at(v: u32, byte: u32) -> u32 {
  return (v >> ((byte & 2u) * 8u)) & 0xffffu;
}

// The u32 at an even byte offset `byte`, from the word holding its start (lo) and the next (hi).
fn u32_at2(lo: u32, hi: u32, byte: u32) -> u32 {
  return select((lo >> 16u) | (hi << 16u), lo, (byte & 2u) == 0u);
}

// Byte j of word v as a signed integer.
fn sbyte(v: u32, j: u32) -> i32 {
  return bitcast<i32>(v << (24u - 8u * j)) >> 24u;
}

// Dot product of 4 packed signed bytes.
fn dot4_i8(a: u32, b: u32) -> i32 {
#if DOT4
  return dot4I8Packed(a, b);
#else
  let x = bitcast<i32>(a);
  let y = bitcast<i32>(b);
  return ((x << 24u) >> 24u) * ((y << 24u) >> 24u) + ((x << 16u) >> 24u) * ((y << 16u) >> 24u)
       + ((x << 8u) >> 24u) * ((y << 8u) >> 24u) + (x >> 24u) * (y >> 24u);
#endif
}

// ---- blocks --------------------------------------------------------------------------------

#if Q8_0
// Block g: its f16 scale as f32 and its 32 int8 quants as 8 packed words. Reads the 9 words the
// 34 bytes span; which 16 bits are d depends on the block's alignment.
struct QBlock { d: f32, q: array<u32, 8> }
fn load_block(g: u32) -> QBlock {
  let byte = g * 34u;
  let i = byte >> 2u;
  var v: array<u32, 9>;
  for (var j = 0u; j < 9u; j++) { v[j] = w[i + j]; }
  var r: QBlock;
  r.d = f16_to_f32(half_at(v[0], byte));
  if ((byte & 2u) == 0u) { // quants start 2 bytes into v0
    for (var j = 0u; j < 8u; j++) { r.q[j] = u32_at2(v[j], v[j + 1u], byte + 2u); }
  } else { // quants word-aligned from v1
    for (var j = 0u; j < 8u; j++) { r.q[j] = v[j + 1u]; }
  }
  return r;
}

// Element e (flat index), dequantized exactly: f32(d) * q, as ggml's dequantize_row_q8_0.
fn w_elem(e: u32) -> f32 {
  let p = (e >> 5u) * 34u;
  let byte = p + 2u + (e & 31u);
  let q = sbyte(w[byte >> 2u], byte & 3u);
  return f16_to_f32(half_at(w[p >> 2u], p)) * f32(q);
}
#endif

#if Q4_0
// Block g: its f16 scale as f32 and its 32 values q - 8 as signed int8, packed 4 per word in
// element order like Q8_0 (word i < 4 from the low nibbles of bytes 4i..4i+3, word 4 + i from
// their high nibbles), so the matmul treats both block types alike.
struct QBlock { d: f32, q: array<u32, 8> }
fn load_block(g: u32) -> QBlock {
  let byte = g * 18u;
  let i = byte >> 2u;
  var v: array<u32, 5>;
  for (var j = 0u; j < 5u; j++) { v[j] = w[i + j]; }
  var r: QBlock;
  r.d = f16_to_f32(half_at(v[0], byte));
  for (var j = 0u; j < 4u; j++) {
    let nibs = select(v[j + 1u], u32_at2(v[j], v[j + 1u], byte + 2u), (byte & 2u) == 0u);
    r.q[j] = nib_to_i8(nibs & 0x0f0f0f0fu);
    r.q[j + 4u] = nib_to_i8((nibs >> 4u) & 0x0f0f0f0fu);
  }
  return r;
}

// Four nibbles n (one per byte, 0..15) -> four int8 n - 8: n ^ 8 is n - 8 as a 4-bit two's
// complement; bit 3 then sign-extends into the byte's high nibble (no carries between bytes).
fn nib_to_i8(n: u32) -> u32 {
  let t = n ^ 0x08080808u;
  return t | ((t & 0x08080808u) * 0x1eu);
}

// Element e (flat index), dequantized exactly: f32(d) * (q - 8).
fn w_elem(e: u32) -> f32 {
  let p = (e >> 5u) * 18u;
  let j = e & 31u;
  let byte = p + 2u + (j & 15u);
  let nib = (w[byte >> 2u] >> (8u * (byte & 3u) + select(0u, 4u, j >= 16u))) & 0xfu;
  return f16_to_f32(half_at(w[p >> 2u], p)) * f32(i32(nib) - 8);
}
#endif

#if F32
fn w_elem(e: u32) -> f32 {
  return bitcast<f32>(w[e]);
}
#endif

#if F16
fn w_elem(e: u32) -> f32 {
  return f16_to_f32(w[e >> 1u] >> ((e & 1u) * 16u));
}
#endif

#if BF16
fn w_elem(e: u32) -> f32 {
  return bf16_to_f32(w[e >> 1u] >> ((e & 1u) * 16u));
}
#endif

// Four consecutive float-type elements from flat index e (any alignment for F16 / BF16: the
// halves are realigned from three words when e is odd).
#if F32
fn w_vec4(e: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<f32>(w[e]), bitcast<f32>(w[e + 1u]), bitcast<f32>(w[e + 2u]), bitcast<f32>(w[e + 3u]));
}
#endif
#if F16
fn w_vec4(e: u32) -> vec4<f32> {
  let i = e >> 1u;
  var a = w[i];
  var b = w[i + 1u];
  if ((e & 1u) == 1u) {
    let c = w[i + 2u];
    a = (a >> 16u) | (b << 16u);
    b = (b >> 16u) | (c << 16u);
  }
  return vec4<f32>(f16x2_to_f32(a), f16x2_to_f32(b));
}
#endif
#if BF16
fn w_vec4(e: u32) -> vec4<f32> {
  let i = e >> 1u;
  var a = w[i];
  var b = w[i + 1u];
  if ((e & 1u) == 1u) {
    let c = w[i + 2u];
    a = (a >> 16u) | (b << 16u);
    b = (b >> 16u) | (c << 16u);
  }
  return vec4<f32>(bitcast<f32>(a << 16u), bitcast<f32>(a & 0xffff0000u), bitcast<f32>(b << 16u), bitcast<f32>(b & 0xffff0000u));
}
#endif
