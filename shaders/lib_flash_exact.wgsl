// lib_flash_exact: exactly rounded f32 arithmetic for attention.wgsl's FLASH variant (the emulation
// of llama.cpp's CPU flash attention), from + - * and integer ops alone: no f64, and no guaranteed-
// fused fma() (SwiftShader's is not fused). Inlined with `#include "lib_flash_exact"`.
//   - fma_rn(a, b, c) = RN(a*b + c): Dekker's TwoProduct with 12-bit splits by bit masking (every
//     partial product exact) and Boldo-Melquiond's emulated FMA (TwoSum, round-to-odd, one final
//     RN). fma_short is the same for an a of at most 12 significant bits (an f16 value).
//   - recip_rn(x) = RN(1 / x): an integer long division of the significand.
//   - exp_rn(x) = expf: Cody-Waite reduction by ln2/256 in 9-bit pieces, a 256-entry table of
//     2^(j/256) as f32 pairs and a degree-4 polynomial in double-f32 arithmetic: error < 2^-46
//     relative before the final rounding, so it returns the correctly rounded f32 (what the oracle's
//     Math.fround(Math.exp(x)) gives) except within ~2^-22 ulp of a tie (about 1 x in 10^7). WGSL's
//     exp() is not usable: on SwiftShader it differs from the correctly rounded result for 47-97%
//     of x <= 0, by up to 64 ulp. (glibc's expf itself differs from correct rounding for ~0.06%.)
//     Results below 2^-126 (x < -87.3365) are returned as 0 or, for x > -103.972 where the f32
//     result is a nonzero subnormal, as the smallest subnormal (a stand-in: arithmetic may flush it).
// Every product that feeds an add in these error-free transforms is exact, so a compiler that
// contracts a*b+c into an fma cannot change the results; the one rounded product they need, p =
// RN(a*b) in TwoProduct, is passed through keep() (a select on a runtime uniform) so it cannot be
// fused either. They do rely on + - * being IEEE round-to-nearest and not reassociated. Compilers
// do fold constants across adds, though: SwiftShader (via spirv-opt) turns (p + 1.0) - 1.0 into p,
// so no literal may enter a TwoSum (a caller passes keep(1.0) instead). Tests check all this on the
// test device (attention.wgsl's probe entry point).
//
// Bindings: none. The library owns `never` (what keep() selects on) and the exp table's constants.
// The includer must declare
//   override WG                                      threads per workgroup (load_exp_tab's stride)
//   var<workgroup> exp_tab: array<u32, EXP_TAB_N>;   exp_rn's table (2 KB), filled by load_exp_tab
// and, first thing in every entry point, set `never` from a runtime value that is never true (e.g. a
// uniform compared with a value the host never writes), so keep() is opaque to the compiler; and
// call load_exp_tab(lid) from uniform control flow, then a barrier, before any exp_rn.
// Not for use with lib_dequant, which has its own keep, split_hi, two_sum, two_prod, ro_sum and fma_rn
// (with keep() on their intermediate sums too, and on its own flag ex_never).

var<private> never: bool;

/** x, opaque to the compiler: a product passed through here cannot be contracted into an fma. */
fn keep(x: f32) -> f32 { return select(x, 0.0, never); }

/** The top 12 significant bits of x (exact; the rest, x - hi, has at most 12 bits too). */
fn split_hi(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) & 0xfffff000u); }

/** Knuth's TwoSum: (s, e) with s = RN(a + b) and s + e = a + b exactly. */
fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = a + b;
  let bb = s - a;
  return vec2<f32>(s, (a - (s - bb)) + (b - bb));
}

/** Dekker's TwoProduct: (p, e) with p = RN(a * b) and p + e = a * b exactly (no underflow). */
fn two_prod(a: f32, b: f32) -> vec2<f32> {
  let p = keep(a * b);
  let ah = split_hi(a);
  let al = a - ah;
  let bh = split_hi(b);
  let bl = b - bh;
  return vec2<f32>(p, (((ah * bh - p) + ah * bl) + al * bh) + al * bl);
}

/** RO(x + y): rounded to odd (the neighbour with an odd last bit when inexact). */
fn ro_sum(x: f32, y: f32) -> f32 {
  let s = two_sum(x, y);
  let b = bitcast<u32>(s.x);
  if (s.y == 0.0 || (b & 1u) == 1u) { return s.x; }
  let away = ((b ^ bitcast<u32>(s.y)) >> 31u) == 0u; // the exact sum lies beyond s.x, away from zero
  return bitcast<f32>(select(b - 1u, b + 1u, away));
}

/** RN(p + e + c) where p + e is an exact product from two_prod (Boldo-Melquiond's emulated FMA). */
fn fma_tail(p: f32, e: f32, c: f32) -> f32 {
  let t = two_sum(c, p);
  return t.x + ro_sum(t.y, e);
}

/** RN(a * b + c), exactly (as a fused multiply-add). */
fn fma_rn(a: f32, b: f32, c: f32) -> f32 {
  let p = two_prod(a, b);
  return fma_tail(p.x, p.y, c);
}

/** RN(v * w + c) for v with at most 12 significant bits (an f16 value): TwoProduct needs one split. */
fn fma_short(v: f32, w: f32, c: f32) -> f32 {
  let wh = split_hi(w);
  let p = keep(v * w);
  return fma_tail(p, (v * wh - p) + v * (w - wh), c);
}

/** 1 / x correctly rounded, for normal x below 2^125 (S >= 1 here); others fall back to WGSL's /. */
fn recip_rn(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let e = (b >> 23u) & 0xffu;
  if (e == 0u || e >= 253u) { return 1.0 / x; }
  let sign = b & 0x80000000u;
  let m = (b & 0x7fffffu) | 0x800000u;
  if (m == 0x800000u) { return bitcast<f32>(sign | ((254u - e) << 23u)); } // a power of two: exact
  // 2^23 / m in (0.5, 1): 25 quotient bits by restoring division, the remainder is the sticky bit.
  var rem = 0x800000u;
  var qt = 0u;
  for (var i = 0u; i < 25u; i++) {
    rem = rem << 1u;
    qt = qt << 1u;
    if (rem >= m) {
      rem -= m;
      qt |= 1u;
    }
  }
  let mant = qt >> 1u; // 24 bits, leading one at bit 23
  let up = (qt & 1u) == 1u && (rem != 0u || (mant & 1u) == 1u);
  return bitcast<f32>(sign | ((((253u - e) << 23u) + (mant & 0x7fffffu)) + select(0u, 1u, up)));
}

// expf, correctly rounded but for ~1e-7 of inputs (see the header): x = k ln2/256 + r, |r| <= ln2/512,
// exp(x) = 2^(k >> 8) * T[k & 255] * exp(r), T[j] = 2^(j/256) as hi + lo f32 pairs (hi = RN(T), bits).
const EXP_INV_C: f32 = 0x1.715476p+8f;   // RN(256 / ln2); any nearby value would do
const EXP_C1: f32 = 0x1.620000p-9f;      // ln2/256 = C1 + C2 + C3 + C4 + C5: 9-bit pieces, so k * Ci is
const EXP_C2: f32 = 0x1.c80000p-18f;     // exact for |k| < 2^15, and an f32 remainder
const EXP_C3: f32 = 0x1.7e0000p-28f;
const EXP_C4: f32 = 0x1.7d0000p-36f;
const EXP_C5: f32 = 0x1.cf79acp-48f;
const EXP_NORMAL_MAX_MAG: u32 = 0x42aeac4fu; // |x| bits: x >= -87.33654 gives exp(x) >= 2^-126
const EXP_ZERO_MIN_MAG: u32 = 0x42cff1b5u;   // x <= -103.97208: the f32 exp(x) is 0
const EXP_TAB_N: u32 = 512u;
const EXP_TAB = array<u32, 512>(
  0x3f800000u, 0x00000000u, 0x3f8058d8u, 0xb2b4a868u, 0x3f80b1edu, 0x331fb333u, 0x3f810b41u, 0xb33c4fd8u,
  0x3f8164d2u, 0xb1c43fd0u, 0x3f81bea1u, 0x33611bbdu, 0x3f8218afu, 0x3306e7f8u, 0x3f8272fcu, 0xb3509ab5u,
  0x3f82cd87u, 0xb34ea7a9u, 0x3f832850u, 0x3363c1f9u, 0x3f838359u, 0x331ddf6eu, 0x3f83dea1u, 0x33372a83u,
  0x3f843a29u, 0xb2f14c87u, 0x3f8495f0u, 0xb3199f82u, 0x3f84f1f6u, 0x332c6f38u, 0x3f854e3du, 0xb29c18ddu,
  0x3f85aac3u, 0x334f9891u, 0x3f86078au, 0x32bc8d91u, 0x3f866491u, 0x3337247fu, 0x3f86c1d9u, 0x324e577bu,
  0x3f871f62u, 0xb352c2e6u, 0x3f877d2bu, 0xb00158edu, 0x3f87db35u, 0x337fed32u, 0x3f883981u, 0x330d7234u,
  0x3f88980fu, 0xb37eda4bu, 0x3f88f6ddu, 0x3335e2abu, 0x3f8955eeu, 0x30d86398u, 0x3f89b541u, 0xb330dfb5u,
  0x3f8a14d5u, 0x336a92deu, 0x3f8a74adu, 0xb34b0cedu, 0x3f8ad4c6u, 0x330a58e5u, 0x3f8b3523u, 0xb338e3c4u,
  0x3f8b95c2u, 0xb260aba1u, 0x3f8bf6a4u, 0x32d2b778u, 0x3f8c57cau, 0xb2ee6e43u, 0x3f8cb933u, 0xb2f9145au,
  0x3f8d1adfu, 0x3336fcb7u, 0x3f8d7cd0u, 0xb2fd8ebcu, 0x3f8ddf04u, 0x32808b9au, 0x3f8e417du, 0xb32d7e39u,
  0x3f8ea43au, 0xb3697465u, 0x3f8f073bu, 0xb1a5dfedu, 0x3f8f6a81u, 0x323f3647u, 0x3f8fce0cu, 0x328719cau,
  0x3f9031dcu, 0x330628cdu, 0x3f9095f2u, 0xb328757eu, 0x3f90fa4du, 0xb3682237u, 0x3f915eedu, 0x321e44b4u,
  0x3f91c3d3u, 0x33675624u, 0x3f922900u, 0xb28fbd7fu, 0x3f928e72u, 0x337b2a64u, 0x3f92f42cu, 0xb36e1319u,
  0x3f935a2bu, 0x32bc4f9cu, 0x3f93c072u, 0xb33e220du, 0x3f9426ffu, 0x31fab1c0u, 0x3f948dd4u, 0xb326e449u,
  0x3f94f4f0u, 0xb32e0212u, 0x3f955c53u, 0x32da21e2u, 0x3f95c3ffu, 0xb3725267u, 0x3f962bf2u, 0xb2d11c9au,
  0x3f96942du, 0x32dc8061u, 0x3f96fcb1u, 0xb11bea77u, 0x3f97657du, 0x3313e2f5u, 0x3f97ce92u, 0x332bd887u,
  0x3f9837f0u, 0x33231b71u, 0x3f98a197u, 0x335eeb30u, 0x3f990b88u, 0xb26cc9f4u, 0x3f9975c2u, 0xb28ae2bau,
  0x3f99e046u, 0xb359be90u, 0x3f9a4b13u, 0x32dc7f46u, 0x3f9ab62bu, 0xb0dac01eu, 0x3f9b218du, 0x3237a20fu,
  0x3f9b8d3au, 0xb30c5563u, 0x3f9bf931u, 0x32479d52u, 0x3f9c6573u, 0x33505d86u, 0x3f9cd201u, 0xb291d7e2u,
  0x3f9d3edau, 0xb331a601u, 0x3f9dabfeu, 0xaf9c985du, 0x3f9e196eu, 0x3244ea39u, 0x3f9e872au, 0x329dbc2eu,
  0x3f9ef532u, 0x33412342u, 0x3f9f6387u, 0xb163ae8bu, 0x3f9fd228u, 0x32959003u, 0x3fa04116u, 0x3259e809u,
  0x3fa0b051u, 0x31fb9715u, 0x3fa11fd9u, 0x32e128d1u, 0x3fa18fafu, 0xb2d5eaedu, 0x3fa1ffd2u, 0xb0f68c58u,
  0x3fa27043u, 0x30c3125au, 0x3fa2e102u, 0x3229f48cu, 0x3fa3520fu, 0x3351d005u, 0x3fa3c36bu, 0x32d16647u,
  0x3fa43516u, 0xb323ec33u, 0x3fa4a70fu, 0x31c95769u, 0x3fa51958u, 0xb37282c2u, 0x3fa58befu, 0x3326db7du,
  0x3fa5fed7u, 0xb32c9d5eu, 0x3fa6720eu, 0xb2fd07ddu, 0x3fa6e595u, 0xb2c0445eu, 0x3fa7596cu, 0x31ec55ffu,
  0x3fa7cd94u, 0xb3162d36u, 0x3fa8420cu, 0xb13ace12u, 0x3fa8b6d5u, 0x3233d990u, 0x3fa92befu, 0x3303f4efu,
  0x3fa9a15bu, 0xb3162b08u, 0x3faa1718u, 0xb330952eu, 0x3faa8d26u, 0x3325d921u, 0x3fab0387u, 0xb205bbccu,
  0x3fab7a3au, 0xb314ad82u, 0x3fabf13fu, 0xb283a766u, 0x3fac6897u, 0xb3368380u, 0x3face041u, 0x32ffe0f9u,
  0x3fad583fu, 0xb22deaf6u, 0x3fadd090u, 0xb28af0c0u, 0x3fae4934u, 0x3325946bu, 0x3faec22du, 0xb3766747u,
  0x3faf3b79u, 0xb3252debu, 0x3fafb519u, 0x315ceb71u, 0x3fb02f0eu, 0xb2d1247fu, 0x3fb0a957u, 0x32d9bedfu,
  0x3fb123f6u, 0xb37c5aa8u, 0x3fb19ee9u, 0xb239b581u, 0x3fb21a32u, 0xb33333ceu, 0x3fb295d0u, 0xb1a1b825u,
  0x3fb311c4u, 0x32154889u, 0x3fb38e0eu, 0x32e1067fu, 0x3fb40aafu, 0xb33b3569u, 0x3fb487a6u, 0xb36616acu,
  0x3fb504f3u, 0x32cfe77au, 0x3fb58298u, 0xb2b15d18u, 0x3fb60094u, 0xb32f4254u, 0x3fb67ee7u, 0xb20ae26fu,
  0x3fb6fd92u, 0xb266b974u, 0x3fb77c95u, 0xb2f4d8a3u, 0x3fb7fbf0u, 0xb2d5cd70u, 0x3fb87ba3u, 0x32de85d1u,
  0x3fb8fbafu, 0x330ec5f7u, 0x3fb97c14u, 0x32dd5a11u, 0x3fb9fcd2u, 0x330a5817u, 0x3fba7deau, 0xb3228340u,
  0x3fbaff5bu, 0xb31bd983u, 0x3fbb8126u, 0xb365491fu, 0x3fbc034au, 0x337de5d4u, 0x3fbc85cau, 0xb2ea7c61u,
  0x3fbd08a4u, 0xb3414fe8u, 0x3fbd8bd8u, 0x33176cfeu, 0x3fbe0f68u, 0x31986099u, 0x3fbe9353u, 0x323fe1bcu,
  0x3fbf179au, 0xb3130b1au, 0x3fbf9c3cu, 0x32923892u, 0x3fc0213bu, 0xb33c1e5fu, 0x3fc0a695u, 0x335d106eu,
  0x3fc12c4du, 0xb2d6663eu, 0x3fc1b261u, 0xb1a35f04u, 0x3fc238d2u, 0x32c478f6u, 0x3fc2bfa1u, 0xb3060a4eu,
  0x3fc346cdu, 0xb2976da2u, 0x3fc3ce57u, 0xb2d9cb79u, 0x3fc4563fu, 0xb2ceb32du, 0x3fc4de85u, 0x328f0b02u,
  0x3fc5672au, 0x320aa837u, 0x3fc5f02eu, 0xb2a53d11u, 0x3fc67991u, 0xb314abb7u, 0x3fc70353u, 0xb1fbcc94u,
  0x3fc78d75u, 0xb2dd5119u, 0x3fc817f7u, 0xb37d7d37u, 0x3fc8a2d8u, 0x33391ffcu, 0x3fc92e1bu, 0xb3455d02u,
  0x3fc9b9beu, 0xb37323a2u, 0x3fca45c1u, 0x3335f98eu, 0x3fcad226u, 0x333c8521u, 0x3fcb5eedu, 0xb2b131eau,
  0x3fcbec15u, 0xb006c6c2u, 0x3fcc799fu, 0x328f4454u, 0x3fcd078cu, 0xb3735f84u, 0x3fcd95dau, 0x33553fe1u,
  0x3fce248cu, 0x3228fc24u, 0x3fceb3a1u, 0xb2d688e5u, 0x3fcf4319u, 0xb2c39b9cu, 0x3fcfd2f4u, 0x33507f2au,
  0x3fd06334u, 0xb2944353u, 0x3fd0f3d7u, 0x3358eb8cu, 0x3fd184dfu, 0x3344a2d3u, 0x3fd2164cu, 0x308c15afu,
  0x3fd2a81eu, 0xb35c1daau, 0x3fd33a54u, 0x332f4605u, 0x3fd3ccf1u, 0xb34cf4cau, 0x3fd45ff3u, 0xb343ed1au,
  0x3fd4f35bu, 0xb3286024u, 0x3fd58729u, 0x319ab75du, 0x3fd61b5eu, 0xb0303219u, 0x3fd6affau, 0xb2b87b11u,
  0x3fd744fdu, 0xb2d4a58au, 0x3fd7da67u, 0x32c45e60u, 0x3fd87039u, 0x3318db66u, 0x3fd90673u, 0x3349a895u,
  0x3fd99d16u, 0xb2f61d41u, 0x3fda3421u, 0xb3248b65u, 0x3fdacb94u, 0x335e5594u, 0x3fdb6371u, 0x331f1c53u,
  0x3fdbfbb8u, 0xb3504a1cu, 0x3fdc9468u, 0xb35d8b62u, 0x3fdd2d82u, 0xb375ef9bu, 0x3fddc706u, 0xb306590eu,
  0x3fde60f5u, 0xb37b43e3u, 0x3fdefb4eu, 0x327ce882u, 0x3fdf9613u, 0xb2851c3fu, 0x3fe03143u, 0x31a0d99eu,
  0x3fe0ccdfu, 0xb21eab59u, 0x3fe168e7u, 0xb2c0b35bu, 0x3fe2055bu, 0xac3e164cu, 0x3fe2a23cu, 0xb2e0a09cu,
  0x3fe33f89u, 0x33657d15u, 0x3fe3dd44u, 0x33188c93u, 0x3fe47b6du, 0xb33f9185u, 0x3fe51a03u, 0xb30ae3b2u,
  0x3fe5b907u, 0xb2441be6u, 0x3fe65879u, 0x3366d167u, 0x3fe6f85bu, 0xb32a23c0u, 0x3fe798abu, 0xb2948a92u,
  0x3fe8396au, 0x33207898u, 0x3fe8da99u, 0x33308c97u, 0x3fe97c38u, 0x3300d89fu, 0x3fea1e47u, 0x332caa1du,
  0x3feac0c7u, 0xb24116deu, 0x3feb63b7u, 0x33062e6du, 0x3fec0719u, 0xb31367c7u, 0x3fecaaecu, 0xb36009f9u,
  0x3fed4f30u, 0x3276cca1u, 0x3fedf3e7u, 0xb31c57cfu, 0x3fee9910u, 0xb34fe4bau, 0x3fef3eabu, 0x328380cbu,
  0x3fefe4bau, 0xb348464au, 0x3ff08b3bu, 0x333197d1u, 0x3ff13231u, 0xb330a5edu, 0x3ff1d99au, 0xb29d223eu,
  0x3ff28177u, 0x32f167ffu, 0x3ff329c9u, 0x328cedafu, 0x3ff3d290u, 0xb2871670u, 0x3ff47bccu, 0xb303248cu,
  0x3ff5257du, 0x32292436u, 0x3ff5cfa4u, 0x32cf994eu, 0x3ff67a41u, 0x3358e67fu, 0x3ff72555u, 0x32062144u,
  0x3ff7d0dfu, 0x336615a2u, 0x3ff87ce1u, 0xb2526fb6u, 0x3ff9295au, 0xb3094457u, 0x3ff9d64au, 0x330dd727u,
  0x3ffa83b3u, 0xb2923758u, 0x3ffb3194u, 0xb2cef761u, 0x3ffbdfedu, 0x3359cbe1u, 0x3ffc8ec0u, 0x32090f22u,
  0x3ffd3e0cu, 0x31cf486cu, 0x3ffdedd2u, 0xb316d2afu, 0x3ffe9e11u, 0x3338f71fu, 0x3fff4ecbu, 0x3332a23eu,
);

/** Copies the table to workgroup memory; call in uniform control flow, before a barrier. */
fn load_exp_tab(lid: u32) {
  for (var i = lid; i < EXP_TAB_N; i += WG) { exp_tab[i] = EXP_TAB[i]; }
}

/** exp(x) rounded to f32 (see above); exp_tab must be loaded. */
fn exp_rn(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let mag = b & 0x7fffffffu;
  if (mag > 0x7f800000u) { return x; } // NaN
  if (b >= 0x80000000u && mag > EXP_NORMAL_MAX_MAG) {
    // Below 2^-126 (incl. -inf): 0, or the smallest subnormal standing for a nonzero result.
    return bitcast<f32>(select(1u, 0u, mag >= EXP_ZERO_MIN_MAG));
  }
  if (x > 88.72283f) { return x * 0x1p127f; } // overflows to +inf
  let k = round(x * EXP_INV_C);
  let ki = i32(k);
  // r = x - k * ln2/256 as rh + rl: x - k*C1 is exact (Sterbenz), so is the next step (a multiple
  // of 2^-33 or coarser below 2^-9); then TwoSums.
  let r2 = (x - k * EXP_C1) - k * EXP_C2;
  let t = two_sum(r2, -(k * EXP_C3));
  let u = two_sum(t.x, -(k * EXP_C4));
  let r = two_sum(u.x, (t.y + u.y) - k * EXP_C5);
  let rh = r.x;
  let rl = r.y;
  // exp(r) - 1 = rh + Q, Q = rh^2/2 + rh^3/6 + rh^4/24 + rl (1 + rh), |Q| < 2^-19: rh^2 exact.
  let sq = two_prod(rh, rh);
  let t3 = (sq.x * rh) * 0x1.555556p-3f;  // 1/6
  let t4 = (sq.x * sq.x) * 0x1.555556p-5f; // 1/24
  let small = ((((sq.y * 0.5) + t4) + rl * rh) + rl) + t3;
  let qq = two_sum(sq.x * 0.5, small);
  let p = two_sum(rh, qq.x);
  let pl = p.y + qq.y; // exp(r) = 1 + p.x + pl
  let j = u32(ki & 255);
  let th = bitcast<f32>(exp_tab[2u * j]);
  let tl = bitcast<f32>(exp_tab[2u * j + 1u]);
  // T * exp(r) = th + th*p.x + (tl + th*pl + tl*p.x), th*p.x exact as a pair.
  let a = two_prod(th, p.x);
  let rest = (a.y + th * pl) + tl * p.x;
  let s1 = two_sum(th, a.x);
  let y = s1.x + ((s1.y + tl) + rest);
  // Scale by 2^n in two exact steps (2^n itself may not be a normal f32).
  let n = ki >> 8u;
  let n1 = n >> 1u;
  let n2 = n - n1;
  return (y * bitcast<f32>(u32(n1 + 127) << 23u)) * bitcast<f32>(u32(n2 + 127) << 23u);
}
