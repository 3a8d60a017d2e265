// lib_dequant: reading ggml weights kept in their compact GGUF form, plus exact number-format
// conversions and exactly rounded f32 arithmetic. Inlined with `#include "lib_dequant"`.
//
// Bindings: none of its own. With a weight-type define (F32, F16, BF16, Q8_0 or Q4_0) the
// includer must declare the raw weight buffer as
//   var<storage, read> w: array<u32>;   // raw GGUF bytes, little-endian, padded to 4 bytes
// and gets w_elem (one element) plus w_vec4 (float types) or load_block (block types). Without
// one, only the buffer-free helpers remain (number formats, exact arithmetic, half_at, u32_at2,
// dot4_i8). DOT4 picks the dot4I8Packed builtin over the manual unpack in dot4_i8.
// An includer that uses the exact arithmetic (two_prod, fma_rn, ...) sets, first thing in its
// entry point, `ex_never` from a runtime value that is never true (e.g. step.n_tokens ==
// 0xffffffffu), so keep() is opaque to the compiler (see below).
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

// ---- exact f32 arithmetic ------------------------------------------------------------------
// llama.cpp's x86 build fuses some multiply-adds and uses IEEE (correctly rounded) division and
// sqrt. WGSL guarantees correctly rounded + - * only: fma() need not be fused (SwiftShader's is a
// multiply then an add), and / and sqrt() may be off by 2.5 ulp (so may be any GPU's). These
// helpers give the correctly rounded results from + - * and integer ops alone. Every product that
// feeds an add in them is exact, so a compiler that contracts a*b+c into an fma cannot change a
// result; the one rounded product they need (p in two_prod) goes through keep() so that it
// cannot be contracted either. Their intermediate sums go through keep() too: optimizers do
// fold float arithmetic with constants (SwiftShader's turns (c + b) - c into b when c is a
// constant, e.g. a polynomial coefficient, which breaks TwoSum), and keep() hides the operands.
// They rely on + - * being round-to-nearest-even, and on no underflow / overflow in the error
// terms (the callers' operands are far from both).

var<private> ex_never: bool; // never true; set from a runtime value by the includer (see top)

// x, opaque to the compiler: a product passed through keep() is rounded on its own.
fn keep(x: f32) -> f32 {
  return select(x, 0.0, ex_never);
}

// The top 12 significant bits of x; x - split_hi(x) is exact and has at most 12 bits too.
fn split_hi(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) & 0xfffff000u);
}

// Knuth's TwoSum: (s, e) with s = RN(a + b) and s + e = a + b exactly.
fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = keep(a + b);
  let bb = keep(s - a);
  return vec2<f32>(s, keep(a - keep(s - bb)) + keep(b - bb));
}

// Dekker's TwoProduct with bit-mask splits: (p, e) with p = RN(a * b), p + e = a * b exactly.
fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let p = keep(a * b);
  let ah = split_hi(a);
  let al = a - ah;
  let bh = split_hi(b);
  let bl = b - bh;
  let e1 = keep(ah * bh - p);
  let e2 = keep(e1 + ah * bl);
  let e3 = keep(e2 + al * bh);
  return vec2<f32>(p, e3 + al * bl);
}

// x + y rounded to odd (the neighbour with an odd last bit when inexact).
fn ro_sum(x: f32, y: f32) -> f32 {
  let s = two_sum(x, y);
  let b = bitcast<u32>(s.x);
  if (s.y == 0.0 || (b & 1u) == 1u) { return s.x; }
  let away = ((b ^ bitcast<u32>(s.y)) >> 31u) == 0u; // the exact sum lies beyond s.x, away from 0
  return bitcast<f32>(select(b - 1u, b + 1u, away));
}

// RN(a * b + c): a fused multiply-add, emulated exactly (Boldo & Melquiond 2008: TwoProduct,
// TwoSum, one add rounded to odd, one final round-to-nearest).
fn fma_rn(a: f32, b: f32, c: f32) -> f32 {
  let p = two_prod(a, b);
  let t = two_sum(keep(c), p.x);
  return t.x + ro_sum(t.y, p.y);
}

// a / b correctly rounded (ties to even), by long division of the significands. Zero, subnormal,
// infinite or NaN operands, and results that would be subnormal or overflow, use WGSL's / (a
// zero or infinite quotient is exact there; the others do not occur in these kernels).
fn div_rn(a: f32, b: f32) -> f32 {
  let ab = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let ea = (ab >> 23u) & 0xffu;
  let eb = (bb >> 23u) & 0xffu;
  if (ea == 0u || eb == 0u || ea == 255u || eb == 255u) { return a / b; }
  var ma = (ab & 0x7fffffu) | 0x800000u;
  let mb = (bb & 0x7fffffu) | 0x800000u;
  var e = i32(ea) - i32(eb) + 127;
  if (ma < mb) { ma <<= 1u; e -= 1; } // now ma / mb is in [1, 2)
  var q = 0u;
  var r = ma; // invariant: r < 2 * mb
  for (var i = 0u; i < 24u; i++) {
    q <<= 1u;
    if (r >= mb) { r -= mb; q |= 1u; }
    r <<= 1u;
  }
  // r is twice the remainder: compare with mb for round-to-nearest-even.
  if (r > mb || (r == mb && (q & 1u) == 1u)) { q += 1u; }
  if (q == 0x1000000u) { q = 0x800000u; e += 1; }
  if (e <= 0 || e >= 255) { return a / b; }
  return bitcast<f32>(((ab ^ bb) & 0x80000000u) | (u32(e) << 23u) | (q & 0x7fffffu));
}

// sqrt(v) correctly rounded, by an integer square root of the significand: v = m 2^t with m of
// 24 bits; scaled to N = m' 2^24 (m' = m << 1 or 2, making t even), floor(sqrt(N)) has 25 bits:
// 24 for the result and a rounding bit (sqrt is never exactly halfway). Zero, subnormal,
// negative, infinite and NaN inputs use WGSL's sqrt.
fn sqrt_rn(v: f32) -> f32 {
  let b = bitcast<u32>(v);
  let eb = b >> 23u; // >= 256 when negative
  if (eb == 0u || eb >= 255u) { return sqrt(v); }
  let m = (b & 0x7fffffu) | 0x800000u;
  let t = i32(eb) - 150;
  let odd = (t & 1) != 0;
  let m2 = select(m << 2u, m << 1u, odd); // in [2^24, 2^26)
  let t2 = t - select(2, 1, odd); // even
  var hi = m2 >> 8u; // N = m2 * 2^24 < 2^50 as (hi, lo)
  var lo = m2 << 24u;
  var root = 0u;
  var rem = 0u; // < 2 * root + 1 < 2^26
  for (var i = 0u; i < 25u; i++) {
    rem = (rem << 2u) | ((hi >> 16u) & 3u); // N's next two bits (49 - 2i, 48 - 2i)
    hi = (hi << 2u) | (lo >> 30u);
    lo <<= 2u;
    let trial = (root << 2u) | 1u;
    if (rem >= trial) { rem -= trial; root = (root << 1u) | 1u; } else { root <<= 1u; }
  }
  // sqrt(v) = (root / 2) 2^(t2/2 - 11); the exponent field is t2/2 + 139 (always normal).
  return bitcast<f32>((u32(t2 / 2 + 138) << 23u) + (root >> 1u) + (root & 1u));
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
