// RMSNorm, as llama.cpp's ggml_rms_norm followed by the weight multiply, with its rounding steps
// (test/reference/ops.ts rmsnorm is the spec):
//   sum   = sum_i f32(x[r, i]^2), accumulated in double (ggml_float)
//   mean  = f32(sum / DIM);  scale = f32(1 / f32(sqrt(f32(mean + EPS))))   (IEEE / and sqrtf)
//   y[r, i] = f32(f32(x[r, i] * scale) * w[i])
// How each step is reproduced without f64:
//   - the squares are rounded to f32 on their own (keep(): no contraction into the sum) and
//     summed in float-float (TwoSum; each thread strides over the row, then a tree over the
//     workgroup). That is the exact sum to ~2^-48 relative, against the oracle's double sum's
//     ~DIM * 2^-53, so mean differs only if the sum lies within ~2^-45 relative of an f32
//     rounding boundary of mean (not seen in the tests or fixture models).
//   - mean = (hi + lo) / DIM: a correctly rounded quotient of hi (lib_dequant div_rn), corrected
//     by the exact remainder ((hi - q DIM) via TwoProduct, plus lo) over DIM, then one rounding.
//   - mean + EPS is one f32 add (the oracle's double add of two f32 is exact, then rounded).
//   - sqrt and 1 / sqrt are correctly rounded (lib_dequant sqrt_rn, div_rn), since WGSL's may
//     be off by ulps; the two multiplies are plain f32 (x * scale kept apart from the next).
// Bit-exact with the oracle in every test. One workgroup per row.
//
// Bindings:
//   0 step  uniform  Step { n_tokens, n_out }    rows = ROWS_FROM_OUT ? n_out : n_tokens
//   1 x     storage  [rows, DIM] f32   read
//   2 w     storage  [DIM] f32         read
//   3 y     storage  [rows, DIM] f32   write (may not alias x)

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override DIM: u32;
override EPS: f32;
override ROWS_FROM_OUT: u32 = 0u;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

#include "lib_dequant" // exact arithmetic (no weight-type define)

var<workgroup> part_hi: array<f32, WG>; // float-float partial sums of squares
var<workgroup> part_lo: array<f32, WG>;

// (hi, lo) + (p, e) in float-float, renormalized so that |lo| <= ulp(hi) / 2.
fn ff_add(hi: f32, lo: f32, p: f32, e: f32) -> vec2<f32> {
  let s = two_sum(hi, p);
  return two_sum(s.x, s.y + (lo + e));
}

// f32((hi + lo) / d) for hi >= 0, |lo| <= ulp(hi) / 2, d > 0 an integer.
fn ff_div(hi: f32, lo: f32, d: f32) -> f32 {
  if (hi == 0.0) { return 0.0; }
  let q = div_rn(hi, d);
  let p = two_prod(q, d); // q d exactly; hi - p.x is exact (Sterbenz)
  let rem = ((hi - p.x) - p.y) + lo; // (hi + lo) - q d, to ~2^-24 of itself
  return q + rem / d; // |rem / d| <~ ulp(q) / 2: this rounds q + rem / d once
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ex_never = step.n_tokens == 0xffffffffu;
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let row = wg.x;
  if (row >= rows) { return; } // uniform per workgroup, so barriers below are safe
  let base = row * DIM;
  var s = vec2<f32>(0.0);
  for (var i = lid; i < DIM; i += WG) {
    let v = x[base + i];
    s = ff_add(s.x, s.y, keep(v * v), 0.0);
  }
  part_hi[lid] = s.x;
  part_lo[lid] = s.y;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      let t = ff_add(part_hi[lid], part_lo[lid], part_hi[lid + h], part_lo[lid + h]);
      part_hi[lid] = t.x;
      part_lo[lid] = t.y;
    }
    workgroupBarrier();
  }
  let mean = ff_div(part_hi[0], part_lo[0], f32(DIM));
  let scale = div_rn(1.0, sqrt_rn(mean + EPS));
  for (var i = lid; i < DIM; i += WG) {
    y[base + i] = keep(x[base + i] * scale) * w[i];
  }
}
