// SwiGLU, as llama.cpp's ggml_swiglu_split (ggml_silu(gate) * up) in f32:
//   dst[r, i] = silu(gate[r, i]) * up[r, i],   silu(x) = x / (1 + exp(-x))
// One invocation per element; the flat element index runs over a 2-D grid of 256-wide
// workgroups (x fastest) so large batches stay under 65535 workgroups per dimension.
// silu is evaluated as x * e / (1 + e) with e = exp(x) for x < 0, the same value as
// ggml's x / (1 + exp(-x)) without ever forming exp(+large) (no inf/inf, no overflow).
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

fn silu(x: f32) -> f32 {
  if (x >= 0.0) { return x / (1.0 + exp(-x)); }
  let e = exp(x);
  return x * e / (1.0 + e);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let e = (wg.y * nwg.x + wg.x) * WG + lid;
  if (e >= rows * FFN) { return; }
#if IN_PLACE
  gate[e] = silu(gate[e]) * up[e];
#else
  dst[e] = silu(gate[e]) * up[e];
#endif
}
