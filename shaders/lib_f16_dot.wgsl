// lib_f16_dot: exact dot products of f16 vectors, for attention.wgsl's FLASH variant. Products of
// two f16 are exact (22-bit integer times 2^(e1+e2-50)); they are summed exactly in a 96-bit two's-
// complement fixed-point integer (unit 2^-48; |sum| < 2^90 for up to 1024 terms) and rounded once
// to f32, round-to-nearest-even. Inlined with `#include "lib_f16_dot"`.
// Use: a = Acc96(0u, 0u, 0u, 0u, 0u); acc_add(&a, f16_parts(x_i), f16_parts(y_i)) per term (x_i, y_i
// f16 bits); then acc_f32(a), unless a.special != 0u: a term had an inf or NaN operand, and the sum
// must be computed another way (a plain f32 sum gives the same inf or NaN).
//
// Bindings: none, and it needs nothing from the includer (integer ops only).

/** f16 bits -> (sign << 31) | (E << 16) | m with value (-1)^sign * m * 2^(E - 25), E = 31: inf/NaN. */
fn f16_parts(h: u32) -> u32 {
  let e = (h >> 10u) & 0x1fu;
  let f = h & 0x3ffu;
  return ((h & 0x8000u) << 16u) | (max(e, 1u) << 16u) | select(f, f | 0x400u, e != 0u);
}

/** The f16 bits of f16_parts' output. */
fn parts_f16(p: u32) -> u32 {
  let m = p & 0x7ffu;
  return ((p >> 16u) & 0x8000u) | (select(0u, (p >> 16u) & 0x1fu, m >= 0x400u) << 10u) | (m & 0x3ffu);
}

struct Acc96 { w0: u32, w1: u32, w2: u32, nneg: u32, special: u32 }

/** acc += a * b for f16_parts a, b. A negative term is added as its one's complement, the +1s
 *  counted in nneg and added at the end. */
fn acc_add(acc: ptr<function, Acc96>, a: u32, b: u32) {
  let ea = (a >> 16u) & 0x1fu;
  let eb = (b >> 16u) & 0x1fu;
  if (max(ea, eb) == 31u) { (*acc).special = 1u; }
  let pos = ea + eb - 2u; // bit position of the product's unit, 0..58 (60 for inf/NaN)
  let prod = (a & 0x7ffu) * (b & 0x7ffu); // < 2^22
  let sh = pos & 31u;
  let lo = prod << sh;
  let hi = (prod >> 1u) >> (31u - sh);
  let upper = pos >= 32u;
  let neg = (a ^ b) >> 31u;
  let mask = 0u - neg;
  let x0 = select(lo, 0u, upper) ^ mask;
  let x1 = select(hi, lo, upper) ^ mask;
  let x2 = select(0u, hi, upper) ^ mask;
  let s0 = (*acc).w0 + x0;
  let c0 = select(0u, 1u, s0 < x0);
  let t1 = (*acc).w1 + x1;
  let s1 = t1 + c0;
  let c1 = select(0u, 1u, t1 < x1) + select(0u, 1u, s1 < c0);
  (*acc).w0 = s0;
  (*acc).w1 = s1;
  (*acc).w2 = (*acc).w2 + x2 + c1;
  (*acc).nneg += neg;
}

/** The accumulated sum, rounded once to f32 (round-to-nearest-even). */
fn acc_f32(acc: Acc96) -> f32 {
  // Finish the negative terms' two's complements.
  var m0 = acc.w0 + acc.nneg;
  let c0 = select(0u, 1u, m0 < acc.nneg);
  var m1 = acc.w1 + c0;
  var m2 = acc.w2 + select(0u, 1u, m1 < c0);
  let neg = (m2 >> 31u) == 1u;
  if (neg) {
    m0 = ~m0 + 1u;
    m1 = ~m1 + select(0u, 1u, m0 == 0u);
    m2 = ~m2 + select(0u, 1u, m0 == 0u && m1 == 0u);
  }
  if ((m0 | m1 | m2) == 0u) { return 0.0; }
  var top = 95u; // bit position of the magnitude's leading one
  if (m2 == 0u) { m2 = m1; m1 = m0; m0 = 0u; top -= 32u; }
  if (m2 == 0u) { m2 = m1; m1 = m0; m0 = 0u; top -= 32u; }
  let lz = countLeadingZeros(m2);
  if (lz != 0u) {
    m2 = (m2 << lz) | (m1 >> (32u - lz));
    m1 = (m1 << lz) | (m0 >> (32u - lz));
    m0 = m0 << lz;
  }
  top -= lz;
  let mant = m2 >> 8u; // 24 bits
  let half = (m2 >> 7u) & 1u;
  let sticky = (m2 & 0x7fu) | m1 | m0;
  let up = half == 1u && (sticky != 0u || (mant & 1u) == 1u);
  // value = magnitude * 2^-48, leading one at 2^(top - 48): biased exponent top - 48 + 127
  let bits = (((top + 79u) << 23u) + (mant & 0x7fffffu)) + select(0u, 1u, up);
  return bitcast<f32>(bits | select(0u, 0x80000000u, neg));
}
