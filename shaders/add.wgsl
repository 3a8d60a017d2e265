// Residual add in place, as ggml_add on f32 rows:
//   y[r, i] += x[r, i]
// One invocation per element; the flat element index runs over a 2-D grid of 256-wide
// workgroups (x fastest) so large batches stay under 65535 workgroups per dimension.
//
// Bindings:
//   0 step  uniform  Step { n_tokens, n_out }    rows = ROWS_FROM_OUT ? n_out : n_tokens
//   1 x     storage  [rows, DIM] f32   read  (the branch output, e.g. attention or FFN)
//   2 y     storage  [rows, DIM] f32   read_write (the residual stream; may not alias x)

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override DIM: u32;
override ROWS_FROM_OUT: u32 = 0u;
const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let e = (wg.y * nwg.x + wg.x) * WG + lid;
  if (e >= rows * DIM) { return; }
  y[e] = y[e] + x[e];
}
