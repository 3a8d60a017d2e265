// Activation quantization to Q8_0 (ggml's quantize_row_q8_0, which llama.cpp's CPU matmul applies
// to the activations of Q8_0 / Q4_0 weights), bit-exact with test/reference/quant.ts
// quantizeActQ8_0. Two flavours, as the C code has:
//   default (x86: the AVX / AVX2 / AVX-512 path of quantize_row_q8_0 and the repacked gemv/gemm
//   quantizers, what llama.cpp's x86 builds run):
//     per block of 32: amax = max |x|, id = amax != 0 ? 127 / amax : 0,
//     q = round(x * id) with ties to EVEN (_mm256_round_ps nearest), stored d = f16(amax / 127)
//   GENERIC (quantize_row_q8_0_ref, the scalar C):
//     d = amax / 127, id = d != 0 ? 1 / d : 0, q = roundf(x * id) (half away from zero), f16(d)
// The two give different quants on some ties, enough to flip a near-tie greedy token.
// Divisions are done in integer arithmetic (lib_dequant div_rn), correctly rounded as C's,
// because WGSL allows f32 division 2.5 ulp of error; f16(d) is rounded explicitly (lib_dequant
// round_f16, ties to even) because WGSL leaves the rounding of pack2x16float to the implementation.
// x * id is a single correctly rounded multiply in WGSL; WGSL round() is ties-to-even, and roundf
// is built from trunc. A product that is not finite (id overflows when amax < ~3.7e-37) gives
// q = 0, as the oracle's int8 conversion does. When amax is a subnormal or d would be one (|x| <
// ~1e-36 for the whole block) the hardware division is used (d then rounds to f16 zero anyway).
// One thread per 32-block.
//
// Bindings:
//   0 step  uniform  Step { n_tokens, n_out }    rows = ROWS_FROM_OUT ? n_out : n_tokens
//   1 x     storage  [rows, K] f32                                read
//   2 xq    storage  [rows, K/4] u32: 4 int8 per word, element 4i+j in byte j      write
//   3 xd    storage  [rows, K/32] f32 block scales, rounded to f16 (as block_q8_0 stores d)  write

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override K: u32; // a multiple of 32
override ROWS_FROM_OUT: u32 = 0u;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xq: array<u32>;
@group(0) @binding(3) var<storage, read_write> xd: array<f32>;

#include "lib_dequant" // round_f16, div_rn (no weight-type define: buffer-free helpers only)

#if GENERIC
// roundf: half away from zero. |v| <= ~127 here, so trunc and t + 0.5 are exact.
fn round_q(v: f32) -> i32 {
  let a = abs(v);
  let t = trunc(a);
  let r = select(t, t + 1.0, a >= t + 0.5);
  return select(i32(select(r, -r, v < 0.0)), 0, !(a <= 128.0));
}
#else
// Nearest, ties to even (WGSL round), as _mm256_round_ps(_MM_ROUND_NEAREST).
fn round_q(v: f32) -> i32 {
  return select(i32(round(v)), 0, !(abs(v) <= 128.0));
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ex_never = step.n_tokens == 0xffffffffu;
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let blk = (wg.x + wg.y * nwg.x) * WG + lid; // block index over [rows, K/32]
  if (blk >= rows * (K / 32u)) { return; }
  let x0 = blk * 32u;
  var v: array<f32, 32>;
  var amax = 0.0;
  for (var j = 0u; j < 32u; j++) {
    v[j] = x[x0 + j];
    amax = max(amax, abs(v[j]));
  }
  let d = div_rn(amax, 127.0);
#if GENERIC
  let id = select(0.0, div_rn(1.0, d), d != 0.0);
#else
  let id = select(0.0, div_rn(127.0, amax), amax != 0.0);
#endif
  for (var i = 0u; i < 8u; i++) {
    var word = 0u;
    for (var j = 0u; j < 4u; j++) {
      let q = round_q(v[4u * i + j] * id);
      word |= (bitcast<u32>(q) & 0xffu) << (8u * j);
    }
    xq[blk * 8u + i] = word;
  }
  xd[blk] = round_f16(d);
}
