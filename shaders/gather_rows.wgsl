// Row gather, as ggml_get_rows on f32 (used to pick the token rows that need logits):
//   dst[j, :] = src[idx[j], :]   for j < n_out
// One invocation per output element over a 2-D grid of 256-wide workgroups (x fastest).
// An index idx[j] >= n_tokens never reads out of bounds: that output row is zero-filled.
//
// Bindings:
//   0 step  uniform  Step { n_tokens, n_out }    src has n_tokens rows, dst and idx n_out
//   1 src   storage  [n_tokens, DIM] f32   read
//   2 idx   storage  [n_out] u32           read  (row numbers into src)
//   3 dst   storage  [n_out, DIM] f32      write (may not alias src)

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override DIM: u32;
const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = (wg.y * nwg.x + wg.x) * WG + lid;
  if (e >= step.n_out * DIM) { return; }
  let j = e / DIM;
  let r = idx[j];
  var v = 0.0;
  if (r < step.n_tokens) { v = src[r * DIM + (e - j * DIM)]; }
  dst[e] = v;
}
