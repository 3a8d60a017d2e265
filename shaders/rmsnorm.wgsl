// RMSNorm, as llama.cpp's ggml_rms_norm followed by the weight multiply:
//   y[r, i] = x[r, i] * (1 / sqrt(mean_i(x[r, i]^2) + EPS)) * w[i]
// One workgroup per row; threads stride over the row and reduce in workgroup memory.
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

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let row = wg.x;
  if (row >= rows) { return; } // uniform per workgroup, so barriers below are safe
  let base = row * DIM;
  var sum = 0.0;
  for (var i = lid; i < DIM; i += WG) {
    let v = x[base + i];
    sum += v * v;
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(partial[0] / f32(DIM) + EPS);
  for (var i = lid; i < DIM; i += WG) {
    y[base + i] = x[base + i] * scale * w[i];
  }
}
