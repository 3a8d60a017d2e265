// Activation quantization to Q8_0, bit-exact with ggml's quantize_row_q8_0 (the generic C
// reference, which llama.cpp's CPU matmul applies to the activations of Q8_0 / Q4_0 weights):
//   per block of 32: amax = max |x|, d = amax / 127, id = d != 0 ? 1 / d : 0,
//   q = roundf(x * id) (half away from zero), stored d = f16(d).
// The two divisions are done in integer arithmetic, correctly rounded as C's, because WGSL allows
// f32 division 2.5 ulp of error; f16(d) is rounded explicitly (lib_dequant round_f16, ties to
// even) because WGSL leaves the rounding of pack2x16float to the implementation. x * id is a
// single correctly rounded multiply in WGSL, and roundf is built from trunc (WGSL round() is
// ties-to-even). Exceptions: when amax is a subnormal or d would be one (|x| < ~1e-36 for the
// whole block) the hardware division is used instead.
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

#include "lib_dequant" // round_f16 (no weight-type define: buffer-free helpers only)

// a / b rounded to nearest even, for positive a, b. Exact by long division of the mantissas when
// both are normal and so is the result; otherwise falls back to the hardware division.
fn div_rn(a: f32, b: f32) -> f32 {
  let ab = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let ea = i32(ab >> 23u);
  let eb = i32(bb >> 23u);
  if (ea == 0 || eb == 0 || ea >= 255 || eb >= 255) { return a / b; }
  var ma = (ab & 0x7fffffu) | 0x800000u;
  let mb = (bb & 0x7fffffu) | 0x800000u;
  var e = ea - eb + 127;
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
  return bitcast<f32>((u32(e) << 23u) | (q & 0x7fffffu));
}

// roundf: half away from zero. |v| <= ~127 here, so trunc and t + 0.5 are exact.
fn round_away(v: f32) -> i32 {
  let a = abs(v);
  let t = trunc(a);
  let r = select(t, t + 1.0, a >= t + 0.5);
  return i32(select(r, -r, v < 0.0));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
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
  let id = select(0.0, div_rn(1.0, d), d != 0.0);
  for (var i = 0u; i < 8u; i++) {
    var word = 0u;
    for (var j = 0u; j < 4u; j++) {
      let q = round_away(v[4u * i + j] * id);
      word |= (bitcast<u32>(q) & 0xffu) << (8u * j);
    }
    xq[blk * 8u + i] = word;
  }
  xd[blk] = round_f16(d);
}
