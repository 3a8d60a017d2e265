// Rotary position embedding, ggml rope mode 0 (the "normal" llama layout, as llama2.c): within
// each head, adjacent pairs (x[2i], x[2i+1]) with 2i < ROPE_DIM are rotated by
// theta = pos * base^(-2i/ROPE_DIM); dims >= ROPE_DIM are left untouched. In place.
//   x0' = x0*cos - x1*sin,  x1' = x0*sin + x1*cos
// cos/sin are not computed here (WGSL sin/cos are imprecise for large arguments): they come from
// a table built on the CPU exactly as ggml's rope cache (see buildRopeTable in src/gpu/kernels/rope.ts).
// One thread per (token, head, pair). A position past the end of the table writes NaN to the pair,
// so a too-small table fails loudly instead of silently.
//
// Bindings:
//   0 step       uniform  Step { n_tokens, n_out }
//   1 x          storage  [n_tokens, N_HEADS, HEAD_DIM] f32              read_write (in place)
//   2 positions  storage  [n_tokens] u32 (absolute position of each row)  read
//   3 table      storage  [max_positions, ROPE_DIM/2, 2] f32 (cos, sin)   read

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override HEAD_DIM: u32;
override N_HEADS: u32;
override ROPE_DIM: u32;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let half = ROPE_DIM / 2u;
  let id = (wg.x + wg.y * nwg.x) * WG + lid;
  let per_token = N_HEADS * half;
  let t = id / per_token;
  if (t >= step.n_tokens) { return; }
  let r = id % per_token;
  let head = r / half;
  let i = r % half;
  let pos = positions[t];
  let xi = (t * N_HEADS + head) * HEAD_DIM + 2u * i;
  let ti = (pos * half + i) * 2u;
  if (pos >= arrayLength(&table) / ROPE_DIM) {
    let nan = bitcast<f32>(0x7fc00000u | (pos & 0u)); // runtime, not a const expression (NaN consts are rejected)
    x[xi] = nan;
    x[xi + 1u] = nan;
    return;
  }
  let c = table[ti];
  let s = table[ti + 1u];
  let x0 = x[xi];
  let x1 = x[xi + 1u];
  x[xi] = x0 * c - x1 * s;
  x[xi + 1u] = x0 * s + x1 * c;
}
