// Causal multi-head attention with GQA over a paged KV cache, for a ragged batch of token rows
// (prefill chunks and decode tokens of several sequences mixed).
// Token row t, query head h attends to positions 0..positions[t] of slot slots[t] (the current
// step's K/V are already in the cache, written by kv_write) through kv head h / (N_HEADS / N_KV_HEADS):
//   out[t, h] = softmax_p(q[t, h] . K[p] * SCALE) @ V[p],   SCALE = 1.0f / sqrtf(HEAD_DIM) (host-rounded)
// Position p of slot s is row p % PAGE_SIZE of physical page page_table[s * MAX_PAGES_PER_SEQ + p / PAGE_SIZE].
// A position whose slot, logical page or physical page is out of range makes the whole output row NaN.
// One workgroup per (token, head), over a 2-D grid (wid = x + y * num_workgroups.x); positions go in
// chunks of WG (threads per workgroup, override, default 64), each thread scoring one position into
// workgroup memory. Memory does not grow with context.
//
// Variants (#if):
//   FLASH (with KV_F16; the default for an f16 cache): bit-exact emulation of llama.cpp's CPU
//     ggml_compute_forward_flash_attn_ext_f16 for one query row and head, positions in order 0..pos:
//       qh = f16(q); M = -inf; S = 0; VKQ[HEAD_DIM] = 0 (f16 values)
//       for each position: s = f32(sum_i qh_i * k_i in double) * SCALE
//         if s > M: ms = expf(M - s); M = s; VKQ = f16(VKQ * ms); vs = 1   else: ms = 1; vs = expf(s - M)
//         VKQ = f16(fma(v, vs, VKQ)); S = fma(S, ms, vs)          (x86 builds contract both to FMAs)
//       out = VKQ * f32(1 / S)
//     every operation in f32 (the differences M - s too, as C computes them on floats) unless noted.
//     Not emulated: ggml_vec_dot_f16's SIMD body, which sums in f32 lanes when HEAD_DIM reaches
//     GGML_F16_STEP (32 with AVX2, 64 with AVX-512; below it the sum is in double, as here), and the
//     other CPU paths of current ggml (a tiled kernel for batches of >= 64 query rows, a split-KV one
//     for single-row decode over >= 512 KV cells).
//     How each step is made exact without f64 or a guaranteed-fused fma() (SwiftShader's is not fused):
//     - dot: products of two f16 are exact (22-bit integer times 2^(e1+e2-50)); they are summed exactly
//       in a 96-bit two's-complement fixed-point integer (unit 2^-48; |sum| < 2^90 for HEAD_DIM <= 1024)
//       and rounded once to f32. ggml's double accumulation is itself exact whenever the products'
//       bits span <= 53 bits (always, for normal-sized q and k); otherwise it differs from the exact
//       sum by ~2^-53 relative, which changes the f32 rounding only if the sum lies within that of an
//       f32 rounding boundary: probability ~2^-29 per dot (and never for the fixtures' data).
//     - expf: exp_rn below, Cody-Waite reduction by ln2/256 in 9-bit pieces, a 256-entry table of
//       2^(j/256) as f32 pairs and a degree-4 polynomial in double-f32 arithmetic: error < 2^-46
//       relative before the final rounding, so it returns the correctly rounded f32 (what the oracle's
//       Math.fround(Math.exp(x)) gives) except within ~2^-22 ulp of a tie (about 1 x in 10^7). WGSL's
//       exp() is not usable: on SwiftShader it differs from the correctly rounded result for 47-97%
//       of x <= 0, by up to 64 ulp. (glibc's expf itself differs from correct rounding for ~0.06%.)
//       Results below 2^-126 (x < -87.3365) are returned as 0 or, for x > -103.972 where the f32
//       result is a nonzero subnormal, as the smallest subnormal: only their being nonzero matters
//       (they cannot change an f16 accumulator or S, only the sign of an exactly zero VKQ element).
//     - fma: Dekker's TwoProduct with 12-bit splits by bit masking (every partial product exact) and
//       Boldo-Melquiond's emulated FMA (TwoSum, round-to-odd, one final RN), so RN(a*b + c) exactly.
//     - 1 / S: an integer long division of the significand, correctly rounded.
//     Every product that feeds an add in these error-free transforms is exact, so a compiler that
//     contracts a*b+c into an fma cannot change the results; the one rounded product they need, p =
//     RN(a*b) in TwoProduct, is passed through keep() (a select on a runtime uniform) so it cannot be
//     fused either. They do rely on + - * being IEEE round-to-nearest and not reassociated. Compilers
//     do fold constants across adds, though: SwiftShader (via spirv-opt) turns (p + 1.0) - 1.0 into p,
//     so no literal may enter a TwoSum (hence `one`). Tests check all this on the test device.
//     Per chunk: (A) each thread scores one position; (B) each thread takes the running max before its
//     position (a prefix max over the chunk's earlier scores) and computes its ms, vs with one expf;
//     (C) every thread walks the chunk in order, updating M, and the threads that own VKQ elements
//     (d = lid, lid + WG, ...) S (identically) and their elements (the f16 rescale and the fused
//     multiply-add).
//   KV_F16 without FLASH: f16 cache, q rounded to f16, f32 scores and online softmax with f32
//     accumulation (one chunk max per chunk). Faster, not bit-exact with llama.cpp.
//   neither: f32 cache, otherwise as the previous variant.
//
// Override constants: HEAD_DIM (even, <= 1024), N_HEADS (a multiple of N_KV_HEADS), N_KV_HEADS, PAGE_SIZE,
// MAX_PAGES_PER_SEQ, SCALE (f32), WG (1..256, default 64).
//
// Bindings (entry point main):
//   0 step        uniform  Step { n_tokens, n_out, _pad0, _pad1 }  (FLASH: _pad1 must not be 0x7fc00001)
//   1 q           storage  [n_tokens, N_HEADS*HEAD_DIM] f32 (after RoPE)                          read
//   2 positions   storage  [n_tokens] u32                                                       read
//   3 slots       storage  [n_tokens] u32 (row of page_table)                                   read
//   4 page_table  storage  [MAX_SEQS, MAX_PAGES_PER_SEQ] u32 (physical page numbers)             read
//   5 k_cache     storage  [NUM_PAGES, PAGE_SIZE, N_KV_HEADS, HEAD_DIM] f16x2-in-u32 (KV_F16) or f32   read
//   6 v_cache     storage  same as k_cache                                                      read
//   7 out         storage  [n_tokens, N_HEADS*HEAD_DIM] f32                                     write
// Entry point probe (FLASH only; for tests of the exact arithmetic): bindings 0 step, 1 q as the input
// x: array<f32>, 7 out: array<f32>; element i = wid * WG + lid < n_tokens computes, by op = n_out:
//   0: exp_rn(x[i])   1: recip_rn(x[i])   2: fma_rn(x[3i], x[3i+1], x[3i+2])
//   3: f16(fma(v, vs, a)) as the VKQ update with v = x[3i], vs = x[3i+1], a = x[3i+2] (v, a f16-exact)
//   4: the TwoSum error of x[2i] + x[2i+1] (0 if the compiler simplified (a + b) - a to b)
//   5: f32(exact dot of f16(x[32i..32i+16]) and f16(x[32i+16..32i+32]))

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override HEAD_DIM: u32;
override N_HEADS: u32;
override N_KV_HEADS: u32;
override PAGE_SIZE: u32;
override MAX_PAGES_PER_SEQ: u32;
override SCALE: f32; // 1.0f / sqrtf(HEAD_DIM), rounded on the host (WGSL's sqrt and / are not exact)
override WG: u32 = 64u; // threads per workgroup = positions per chunk (one score per thread)
const NO_ROW: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;
@group(0) @binding(4) var<storage, read> page_table: array<u32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

var<workgroup> acc: array<f32, HEAD_DIM>; // element d is owned by thread d % WG (FLASH) or (d / 2) % WG
var<workgroup> s_sh: array<f32, WG>;   // scores of the chunk's positions
var<workgroup> row_sh: array<u32, WG>; // cache element offset of each position's (row, kv head), or NO_ROW
var<workgroup> bad: atomic<u32>;

#if KV_F16
@group(0) @binding(5) var<storage, read> k_cache: array<u32>;
@group(0) @binding(6) var<storage, read> v_cache: array<u32>;
const PER_WORD: u32 = 2u;
fn k_pair(e: u32) -> vec2<f32> { return unpack2x16float(k_cache[e / 2u]); } // e even
fn v_pair(e: u32) -> vec2<f32> { return unpack2x16float(v_cache[e / 2u]); }

// f32 -> f16 bits, round-to-nearest-even on the bits (same as kv_write.wgsl; pack2x16float's rounding
// is implementation-defined).
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let exp = (b >> 23u) & 0xffu;
  let mant = b & 0x7fffffu;
  var h: u32;
  let e = i32(exp) - 112;
  if (exp == 0xffu) {
    h = 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u);
  } else if (e >= 31) {
    h = 0x7c00u;
  } else if (e >= 1) {
    h = (u32(e) << 10u) | (mant >> 13u);
    let rest = mant & 0x1fffu;
    h += select(0u, 1u, rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u));
  } else if (e < -10) {
    h = 0u;
  } else {
    let m = mant | 0x800000u;
    let shift = u32(14 - e);
    h = m >> shift;
    let rest = m & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    h += select(0u, 1u, rest > half || (rest == half && (h & 1u) == 1u));
  }
  return sign | h;
}

/** x rounded to f16 (round-to-nearest-even), as the f32 value of that f16. */
fn round_f16(x: f32) -> f32 { return unpack2x16float(f16_bits(x)).x; }
#else
@group(0) @binding(5) var<storage, read> k_cache: array<f32>;
@group(0) @binding(6) var<storage, read> v_cache: array<f32>;
const PER_WORD: u32 = 1u;
fn k_pair(e: u32) -> vec2<f32> { return vec2<f32>(k_cache[e], k_cache[e + 1u]); }
fn v_pair(e: u32) -> vec2<f32> { return vec2<f32>(v_cache[e], v_cache[e + 1u]); }
fn round_f16(x: f32) -> f32 { return x; }
#endif

/** Cache element offset of position p's K/V row for kv head kvh, or NO_ROW if out of range. */
fn cache_row(slot: u32, p: u32, kvh: u32) -> u32 {
  let logical = p / PAGE_SIZE;
  let pt = slot * MAX_PAGES_PER_SEQ + logical;
  if (logical >= MAX_PAGES_PER_SEQ || pt >= arrayLength(&page_table)) { return NO_ROW; }
  let page = page_table[pt];
  let row_elems = N_KV_HEADS * HEAD_DIM;
  if (page >= arrayLength(&k_cache) * PER_WORD / (PAGE_SIZE * row_elems)) { return NO_ROW; }
  return ((page * PAGE_SIZE + p % PAGE_SIZE) * N_KV_HEADS + kvh) * HEAD_DIM;
}

/** The runtime NaN written to the rows of invalid positions (NaN constants are rejected). */
fn nan_f32(x: u32) -> f32 { return bitcast<f32>(0x7fc00000u | (x & 0u)); }

#if FLASH
// ------------------------------------------------------------------------------------------------
// Exact arithmetic helpers. Products feeding an add are all exact (see the header).

const LOWEST: f32 = -0x1.fffffep+127f; // stands for ggml's M = -INFINITY: s > LOWEST for any score
const NEVER: u32 = 0x7fc00001u;        // step._pad1 is never this; keep() selects on it
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

/** f16(RN(v * vs + a)) for the VKQ update, v and a f16 values, vs = expf(..) in [0, 1]. */
fn vkq_mad(v: f32, vs: f32, a: f32) -> f32 {
  if (vs == 1.0) { return round_f16(v + a); }
  if (vs < 0x1p-64f) {
    // |v * vs| < 2^-48 <= half an f32 ulp of any nonzero f16: a stays. A zero a takes the sign of
    // v * vs if that is nonzero (vs may be the subnormal stand-in, which arithmetic would flush), else
    // IEEE's sign for a sum of zeros.
    if (a != 0.0) { return a; }
    let sv = bitcast<u32>(v) & 0x80000000u;
    let nonzero = (bitcast<u32>(v) & 0x7fffffffu) != 0u && bitcast<u32>(vs) != 0u;
    return bitcast<f32>(select(sv & bitcast<u32>(a), sv, nonzero));
  }
  return round_f16(fma_short(v, vs, a));
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
var<workgroup> exp_tab: array<u32, EXP_TAB_N>;

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

// ------------------------------------------------------------------------------------------------
// Exact dot product of f16 vectors: a 96-bit two's-complement integer in units of 2^-48.

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

// ------------------------------------------------------------------------------------------------

var<workgroup> qd_sh: array<u32, HEAD_DIM>; // q rounded to f16, as f16_parts
var<workgroup> ms_sh: array<f32, WG>;    // each position's ms and vs
var<workgroup> vs_sh: array<f32, WG>;

/** f32(q . K[e..e+HEAD_DIM)) exactly rounded, q from qd_sh. */
fn dot_exact(e: u32) -> f32 {
  var a = Acc96(0u, 0u, 0u, 0u, 0u);
  for (var d = 0u; d < HEAD_DIM; d += 2u) {
    let w = k_cache[(e + d) / 2u];
    acc_add(&a, qd_sh[d], f16_parts(w & 0xffffu));
    acc_add(&a, qd_sh[d + 1u], f16_parts(w >> 16u));
  }
  if (a.special == 0u) { return acc_f32(a); }
  // An inf or NaN among q, k: a plain f32 sum gives the same inf or NaN.
  var s = 0.0;
  for (var d = 0u; d < HEAD_DIM; d += 2u) {
    let qp = unpack2x16float(parts_f16(qd_sh[d]) | (parts_f16(qd_sh[d + 1u]) << 16u));
    let k = k_pair(e + d);
    s += qp.x * k.x + qp.y * k.y;
  }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  never = step._pad1 == NEVER;
  let wid = wg.x + wg.y * nwg.x;
  let t = wid / N_HEADS;
  if (t >= step.n_tokens) { return; } // uniform per workgroup, so the barriers below are safe
  let h = wid % N_HEADS;
  let kvh = h / (N_HEADS / N_KV_HEADS);
  let n_ctx = positions[t] + 1u;
  let slot = slots[t];
  let q_base = (t * N_HEADS + h) * HEAD_DIM;
  for (var d = lid; d < HEAD_DIM; d += WG) {
    qd_sh[d] = f16_parts(f16_bits(q[q_base + d]));
    acc[d] = 0.0;
  }
  load_exp_tab(lid);
  if (lid == 0u) { atomicStore(&bad, 0u); }
  workgroupBarrier();

  var m_run = LOWEST; // ggml's M
  var s_run = 0.0;    // ggml's S
  let one = keep(1.0); // a 1 the compiler cannot see: with the literal, SwiftShader folds (p + 1) - 1 to p
  for (var c0 = 0u; c0 < n_ctx; c0 += WG) {
    let n = min(WG, n_ctx - c0);
    // (A) Scores, one position per thread.
    var s = LOWEST;
    var row = NO_ROW;
    if (lid < n) {
      row = cache_row(slot, c0 + lid, kvh);
      if (row == NO_ROW) { atomicStore(&bad, 1u); } else { s = dot_exact(row) * SCALE; }
    }
    s_sh[lid] = s;
    row_sh[lid] = row;
    workgroupBarrier();
    // (B) Each position's ms, vs from the running max before it.
    if (lid < n) {
      var mp = m_run;
      for (var i = 0u; i < lid; i++) {
        let si = s_sh[i];
        mp = select(mp, si, si > mp);
      }
      let sj = s_sh[lid];
      let new_max = sj > mp;
      let e = exp_rn(select(sj - mp, mp - sj, new_max)); // one call, not one per branch: lanes diverge
      ms_sh[lid] = select(1.0, e, new_max);
      vs_sh[lid] = select(e, 1.0, new_max);
    }
    workgroupBarrier();
    // (C) In position order: M (every thread), S (identically in every thread that owns output
    // elements) and the VKQ elements this thread owns.
    for (var j = 0u; j < n; j++) {
      let sj = s_sh[j];
      m_run = select(m_run, sj, sj > m_run);
      if (lid >= HEAD_DIM) { continue; }
      let ms = ms_sh[j];
      let vs = vs_sh[j];
      let r = row_sh[j];
      if (ms != 1.0) { s_run = fma_rn(s_run, ms, one); } else { s_run = s_run + vs; } // ms != 1: vs == 1
      if (r == NO_ROW) { continue; }
      for (var d = lid; d < HEAD_DIM; d += WG) {
        var a = acc[d];
        if (ms != 1.0) { a = round_f16(a * ms); }
        acc[d] = vkq_mad(unpack2x16float(v_cache[(r + d) / 2u])[d & 1u], vs, a);
      }
    }
    // The next chunk overwrites the chunk's arrays: wait until all are read. (After the last chunk no
    // barrier is needed: `bad` was last stored before the score barrier, acc[d] is this thread's.)
    if (c0 + WG < n_ctx) { workgroupBarrier(); }
  }

  if (lid >= HEAD_DIM) { return; }
  let failed = atomicLoad(&bad) != 0u;
  let inv = select(recip_rn(s_run), 0.0, s_run == 0.0);
  for (var d = lid; d < HEAD_DIM; d += WG) {
    out[q_base + d] = select(acc[d] * inv, nan_f32(d), failed);
  }
}

@compute @workgroup_size(WG)
fn probe(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  never = step._pad1 == NEVER;
  load_exp_tab(lid);
  workgroupBarrier();
  let i = (wg.x + wg.y * nwg.x) * WG + lid;
  if (i >= step.n_tokens) { return; }
  var r = 0.0;
  switch (step.n_out) {
    case 0u: { r = exp_rn(q[i]); }
    case 1u: { r = recip_rn(q[i]); }
    case 2u: { r = fma_rn(q[3u * i], q[3u * i + 1u], q[3u * i + 2u]); }
    case 3u: { r = vkq_mad(q[3u * i], q[3u * i + 1u], q[3u * i + 2u]); }
    case 4u: { r = two_sum(q[2u * i], q[2u * i + 1u]).y; }
    case 5u: {
      var a = Acc96(0u, 0u, 0u, 0u, 0u);
      for (var d = 0u; d < 16u; d++) { acc_add(&a, f16_parts(f16_bits(q[32u * i + d])), f16_parts(f16_bits(q[32u * i + 16u + d]))); }
      r = acc_f32(a);
    }
    default: {}
  }
  out[i] = r;
}

#else
// ------------------------------------------------------------------------------------------------
// Plain online softmax with f32 accumulation (f32 cache, or an f16 cache without FLASH).
// Each chunk's max updates the running max, rescaling the running sum and accumulator; then threads,
// parallel over pairs of HEAD_DIM, accumulate p * V.

var<workgroup> q_sh: array<f32, HEAD_DIM>;
var<workgroup> p_sh: array<f32, WG>;   // the chunk's probabilities exp(score - running max)

/** q . K[e..e+HEAD_DIM) with q from workgroup memory. */
fn dot_k(e: u32) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < HEAD_DIM; d += 2u) {
    let k = k_pair(e + d);
    s += q_sh[d] * k.x + q_sh[d + 1u] * k.y;
  }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.x + wg.y * nwg.x;
  let t = wid / N_HEADS;
  if (t >= step.n_tokens) { return; } // uniform per workgroup, so the barriers below are safe
  let h = wid % N_HEADS;
  let kvh = h / (N_HEADS / N_KV_HEADS);
  let n_ctx = positions[t] + 1u;
  let slot = slots[t];
  let q_base = (t * N_HEADS + h) * HEAD_DIM;
  for (var d = lid; d < HEAD_DIM; d += WG) {
    q_sh[d] = round_f16(q[q_base + d]);
    acc[d] = 0.0;
  }
  if (lid == 0u) { atomicStore(&bad, 0u); }
  workgroupBarrier();

  var m = 0.0; // running max (valid from the first chunk on)
  var l = 0.0; // running sum of exp(score - m)
  for (var c0 = 0u; c0 < n_ctx; c0 += WG) {
    let n = min(WG, n_ctx - c0);
    // Scores of this chunk, one position per thread.
    var s = -3.0e38;
    var row = NO_ROW;
    if (lid < n) {
      row = cache_row(slot, c0 + lid, kvh);
      if (row == NO_ROW) { atomicStore(&bad, 1u); } else { s = dot_k(row) * SCALE; }
    }
    s_sh[lid] = s;
    row_sh[lid] = row;
    workgroupBarrier();
    // Online softmax: new running max, rescale factor for what was accumulated so far.
    var cmax = -3.0e38;
    for (var j = 0u; j < n; j++) { cmax = max(cmax, s_sh[j]); }
    let m_new = select(max(m, cmax), cmax, c0 == 0u);
    let alpha = select(exp(m - m_new), 0.0, c0 == 0u);
    p_sh[lid] = select(0.0, exp(s - m_new), row != NO_ROW);
    workgroupBarrier();
    var psum = 0.0;
    for (var j = 0u; j < n; j++) { psum += p_sh[j]; }
    l = l * alpha + psum;
    // Accumulate p * V, threads parallel over pairs of dims.
    for (var d = 2u * lid; d < HEAD_DIM; d += 2u * WG) {
      var a = vec2<f32>(acc[d], acc[d + 1u]) * alpha;
      for (var j = 0u; j < n; j++) {
        let r = row_sh[j];
        if (r != NO_ROW) { a += p_sh[j] * v_pair(r + d); }
      }
      acc[d] = a.x;
      acc[d + 1u] = a.y;
    }
    m = m_new;
    // The next chunk overwrites scores, probabilities and rows: wait until all are read. (After the
    // last chunk no barrier is needed: `bad` was last stored before the score barrier.)
    if (c0 + WG < n_ctx) { workgroupBarrier(); }
  }

  let failed = atomicLoad(&bad) != 0u;
  let inv_l = 1.0 / l;
  for (var d = 2u * lid; d < HEAD_DIM; d += 2u * WG) {
    if (failed) {
      let nan = nan_f32(d);
      out[q_base + d] = nan;
      out[q_base + d + 1u] = nan;
    } else {
      out[q_base + d] = acc[d] * inv_l;
      out[q_base + d + 1u] = acc[d + 1u] * inv_l;
    }
  }
}
#endif
