// SwiGLU, as llama.cpp's ggml_swiglu_split (ggml_silu(gate) * up) on its x86 CPU build, bit for
// bit with test/reference/ops.ts swiglu(.., 'llamacpp', FFN):
//   dst[r, i] = f32(f32(g / f32(1 + e)) * up[r, i]),   g = gate[r, i],  e = exp(-g)
// where, like ggml_vec_swiglu_f32, each row's first FFN - FFN % 16 elements (the SIMD part) take e
// from ggml_v_expf's AVX-512 polynomial (exp_avx512: same constants, same fused multiply-adds,
// same order, so the same f32 bits) and the row's last FFN % 16 elements (the scalar tail) from
// expf, correctly rounded (exp_rn). EXPF (the generic variant) uses exp_rn for every element, like
// the scalar C code and the oracle's 'f32' mode.
// WGSL has no correctly rounded exp, fused fma or division, so: the fmas are emulated exactly
// (lib_dequant fma_rn), g / (1 + e) is a correctly rounded long division (div_rn), and exp_rn is
// evaluated in float-float (below). Residuals: exp_rn is within ~2^-47 relative of exp before its
// final rounding, so it can differ from the correctly rounded expf within ~2^-23 ulp of a tie
// (about 1 x in 10^7; never in the tests); and results below 2^-126 (g > 87.3), which this device
// may flush to zero where the oracle keeps a subnormal, leave 1 + e = 1 either way.
// One invocation per element; the flat element index runs over a 2-D grid of 256-wide
// workgroups (x fastest) so large batches stay under 65535 workgroups per dimension.
//
// Bindings (default variant):
//   0 step  uniform  Step { n_tokens, n_out }    rows = ROWS_FROM_OUT ? n_out : n_tokens
//   1 gate  storage  [rows, FFN] f32   read
//   2 up    storage  [rows, FFN] f32   read
//   3 dst   storage  [rows, FFN] f32   write (may not alias gate or up)
// Bindings (IN_PLACE variant: WebGPU forbids aliasing a writable binding, so dst is gate):
//   0 step  uniform  Step
//   1 gate  storage  [rows, FFN] f32   read_write, overwritten with the result
//   2 up    storage  [rows, FFN] f32   read

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override FFN: u32;
override ROWS_FROM_OUT: u32 = 0u;
const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> step: Step;
#if IN_PLACE
@group(0) @binding(1) var<storage, read_write> gate: array<f32>;
#else
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
#endif
@group(0) @binding(2) var<storage, read> up: array<f32>;

#include "lib_dequant" // fma_rn, div_rn, two_sum, two_prod (no weight-type define)

#if EXPF
const SIMD_END: u32 = 0u; // no element uses the AVX-512 exp
#else
override SIMD_END: u32 = FFN - FFN % 16u; // columns below this use exp_avx512
#endif

// ---- ggml_v_expf, AVX-512 flavour (ops.ts expAvx512) ----------------------------------------
// n = round(x / ln2) by the 1.5 * 2^23 trick, b = x - n ln2 in two parts, a degree-5 polynomial,
// then scalef by 2^n. Every fma is fused, as _mm512_fmadd_ps.
const AVX_R: f32 = 0x1.8p23f;
const AVX_LOG2E: f32 = 0x1.715476p+0f;
const AVX_LN2_HI: f32 = 0x1.62e4p-1f;
const AVX_LN2_LO: f32 = 0x1.7f7d1cp-20f;
const AVX_C0: f32 = 0x1.ffffecp-1f;
const AVX_C1: f32 = 0x1.fffdb6p-2f;
const AVX_C2: f32 = 0x1.555e66p-3f;
const AVX_C3: f32 = 0x1.573e2ep-5f;
const AVX_C4: f32 = 0x1.0e4020p-7f;

fn exp_avx512(x_in: f32) -> f32 {
  if ((bitcast<u32>(x_in) & 0x7fffffffu) > 0x7f800000u) { return x_in; } // NaN
  let x = clamp(x_in, -150.0, 150.0); // beyond +-133.5, |n| > 192 either way
  let z = fma_rn(x, AVX_LOG2E, AVX_R);
  let n = z - AVX_R;
  let b = fma_rn(-n, AVX_LN2_LO, fma_rn(-n, AVX_LN2_HI, x));
  if (abs(n) > 192.0) { return select(0.0, n * 0x1p127f, n > 0.0); } // 0 or +inf (overflow)
  let u = b * b;
  let j = fma_rn(fma_rn(fma_rn(AVX_C4, b, AVX_C3), u, fma_rn(AVX_C2, b, AVX_C1)), u, fma_rn(AVX_C0, b, 1.0));
  // j * 2^n rounded once (_mm512_scalef_ps): two exact power-of-two steps, the second rounds on
  // overflow (to inf, as scalef does).
  let ni = i32(n);
  let n1 = ni >> 1u;
  let n2 = ni - n1;
  return (j * bitcast<f32>(u32(n1 + 127) << 23u)) * bitcast<f32>(u32(n2 + 127) << 23u);
}

// ---- expf, correctly rounded (ops.ts Math.fround(Math.exp(x))) -------------------------------
// x = k ln2/64 + r, |r| <= ln2/128: ln2/64 = C1 + C2 + C3 + C4 with 10-bit C1..C3, so k Ci is exact
// for |k| < 2^14 and x - k C1 is exact (Sterbenz); r is carried as rh + rl. exp(r) - 1 = rh + rl
// + rh^2/2 (rh^2 as an exact pair) + rh rl + rh^3/6 + rh^4/24 + rh^5/120 (error < 2^-50), and
// exp(x) = 2^(k >> 6) T[k & 63] exp(r), T[j] = 2^(j/64) as an f32 pair hi + lo (EXP_TAB, from a
// 100-bit computation). The terms are combined in float-float and rounded once.
const EXP_INV: f32 = 0x1.715476p+6f; // RN(64 / ln2); any nearby value would do
const EXP_C1: f32 = 0x1.628p-7f;
const EXP_C2: f32 = 0x1.908p-17f;
const EXP_C3: f32 = 0x1.fd8p-28f;
const EXP_C4: f32 = 0x1.d1cf7ap-38f;
const EXP_TAB = array<u32, 128>(
  0x3f800000u, 0x00000000u, 0x3f8164d2u, 0xb1c43fd0u, 0x3f82cd87u, 0xb34ea7a9u, 0x3f843a29u, 0xb2f14c87u,
  0x3f85aac3u, 0x334f9891u, 0x3f871f62u, 0xb352c2e6u, 0x3f88980fu, 0xb37eda4bu, 0x3f8a14d5u, 0x336a92deu,
  0x3f8b95c2u, 0xb260aba1u, 0x3f8d1adfu, 0x3336fcb7u, 0x3f8ea43au, 0xb3697465u, 0x3f9031dcu, 0x330628cdu,
  0x3f91c3d3u, 0x33675624u, 0x3f935a2bu, 0x32bc4f9cu, 0x3f94f4f0u, 0xb32e0212u, 0x3f96942du, 0x32dc8061u,
  0x3f9837f0u, 0x33231b71u, 0x3f99e046u, 0xb359be90u, 0x3f9b8d3au, 0xb30c5563u, 0x3f9d3edau, 0xb331a601u,
  0x3f9ef532u, 0x33412342u, 0x3fa0b051u, 0x31fb9715u, 0x3fa27043u, 0x30c3125au, 0x3fa43516u, 0xb323ec33u,
  0x3fa5fed7u, 0xb32c9d5eu, 0x3fa7cd94u, 0xb3162d36u, 0x3fa9a15bu, 0xb3162b08u, 0x3fab7a3au, 0xb314ad82u,
  0x3fad583fu, 0xb22deaf6u, 0x3faf3b79u, 0xb3252debu, 0x3fb123f6u, 0xb37c5aa8u, 0x3fb311c4u, 0x32154889u,
  0x3fb504f3u, 0x32cfe77au, 0x3fb6fd92u, 0xb266b974u, 0x3fb8fbafu, 0x330ec5f7u, 0x3fbaff5bu, 0xb31bd983u,
  0x3fbd08a4u, 0xb3414fe8u, 0x3fbf179au, 0xb3130b1au, 0x3fc12c4du, 0xb2d6663eu, 0x3fc346cdu, 0xb2976da2u,
  0x3fc5672au, 0x320aa837u, 0x3fc78d75u, 0xb2dd5119u, 0x3fc9b9beu, 0xb37323a2u, 0x3fcbec15u, 0xb006c6c2u,
  0x3fce248cu, 0x3228fc24u, 0x3fd06334u, 0xb2944353u, 0x3fd2a81eu, 0xb35c1daau, 0x3fd4f35bu, 0xb3286024u,
  0x3fd744fdu, 0xb2d4a58au, 0x3fd99d16u, 0xb2f61d41u, 0x3fdbfbb8u, 0xb3504a1cu, 0x3fde60f5u, 0xb37b43e3u,
  0x3fe0ccdfu, 0xb21eab59u, 0x3fe33f89u, 0x33657d15u, 0x3fe5b907u, 0xb2441be6u, 0x3fe8396au, 0x33207898u,
  0x3feac0c7u, 0xb24116deu, 0x3fed4f30u, 0x3276cca1u, 0x3fefe4bau, 0xb348464au, 0x3ff28177u, 0x32f167ffu,
  0x3ff5257du, 0x32292436u, 0x3ff7d0dfu, 0x336615a2u, 0x3ffa83b3u, 0xb2923758u, 0x3ffd3e0cu, 0x31cf486cu,
);
var<workgroup> exp_tab: array<u32, 128>; // EXP_TAB, copied once per workgroup

fn exp_rn(x: f32) -> f32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { return x; } // NaN
  if (x > 89.0) { return x * 0x1p127f; } // +inf (from 88.7228 on, the scaling below overflows too)
  if (x < -87.33654) { return 0.0; } // below 2^-126: subnormal or 0 (see the header)
  let k = round(x * EXP_INV);
  let ki = i32(k);
  let t0 = x - k * EXP_C1;
  let a = two_sum(t0, -(k * EXP_C2));
  let c = two_sum(a.x, -(k * EXP_C3));
  let d = two_sum(c.x, -keep(k * EXP_C4)); // the one inexact product: kept out of contractions
  let r = two_sum(d.x, (a.y + c.y) + d.y);
  let rh = r.x;
  let rl = r.y;
  let sq = two_prod(rh, rh);
  let small = ((sq.y * 0.5 + rl) + rh * rl) + (sq.x * rh) * (0.16666667 + rh * (0.041666668 + rh * 0.008333334));
  let q = two_sum(sq.x * 0.5, small);
  let p = two_sum(rh, q.x); // exp(r) = 1 + p.x + (p.y + q.y)
  let pl = p.y + q.y;
  let jt = u32(ki & 63);
  let th = bitcast<f32>(exp_tab[2u * jt]);
  let tl = bitcast<f32>(exp_tab[2u * jt + 1u]);
  // T exp(r) = th + th p.x + (tl + th pl + tl p.x), th p.x as an exact pair.
  let m = two_prod(th, p.x);
  let s1 = two_sum(th, m.x);
  let yv = s1.x + (((s1.y + m.y) + tl) + (th * pl + tl * p.x));
  let n = ki >> 6u;
  let n1 = n >> 1u;
  let n2 = n - n1;
  return (yv * bitcast<f32>(u32(n1 + 127) << 23u)) * bitcast<f32>(u32(n2 + 127) << 23u);
}

// f32(g / f32(1 + e)): silu(g), e = exp(-g) by the column's exp.
fn silu(g: f32, col: u32) -> f32 {
  var e: f32;
  if (col < SIMD_END) { e = exp_avx512(-g); } else { e = exp_rn(-g); }
  return div_rn(g, 1.0 + e);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ex_never = step.n_tokens == 0xffffffffu;
  if (SIMD_END < FFN) { // some columns use exp_rn: load its table (uniform: override constants)
    if (lid < 128u) { exp_tab[lid] = EXP_TAB[lid]; }
    workgroupBarrier();
  }
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let e = (wg.y * nwg.x + wg.x) * WG + lid;
  if (e >= rows * FFN) { return; }
  let col = e % FFN;
#if IN_PLACE
  gate[e] = silu(gate[e], col) * up[e];
#else
  dst[e] = silu(gate[e], col) * up[e];
#endif
}
