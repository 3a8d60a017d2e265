// Greedy token choice per logits row: ids[r] = the FIRST index of the maximum of logits[r, :],
// like llama.cpp's greedy sampler and std::max_element. One 256-thread workgroup per row
// (rows spread over a 2-D grid, x fastest); threads scan strided columns, then a tree reduction
// keeps the larger value and, on equal values, the smaller index.
//
// Values are compared through an order-preserving u32 key (so -0 == +0 and -inf works without
// relying on float compares of infinities). NaN is handled explicitly: a NaN logit never wins
// over any number (including -inf); a row that is all NaN yields 0, which is also what
// llama.cpp's greedy loop returns (it starts at index 0 and no compare with NaN succeeds).
//
// Bindings:
//   0 step    uniform  Step { n_tokens, n_out }   rows = ROWS_FROM_OUT ? n_out : n_tokens
//   1 logits  storage  [rows, VOCAB] f32   read
//   2 ids     storage  [rows] u32          write

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override VOCAB: u32;
override ROWS_FROM_OUT: u32 = 1u;
const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;

var<workgroup> red_k: array<u32, WG>;
var<workgroup> red_i: array<u32, WG>;

// Order-preserving key: larger float -> larger key; -0 maps like +0; NaN -> 0 (below -inf).
fn key_of(v: f32) -> u32 {
  var b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; }
  if (b == 0x80000000u) { b = 0u; }
  return select(b | 0x80000000u, ~b, (b >> 31u) == 1u);
}

// (ka, ia) beats (kb, ib): larger key, or the same key at a smaller index.
fn beats(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let row = wg.y * nwg.x + wg.x;
  if (row >= rows) { return; } // uniform per workgroup, so the barriers below are safe
  let base = row * VOCAB;
  var bk = 0u;
  var bi = NONE;
  for (var i = lid; i < VOCAB; i += WG) {
    let k = key_of(logits[base + i]);
    if (beats(k, i, bk, bi)) { bk = k; bi = i; }
  }
  red_k[lid] = bk;
  red_i[lid] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s && beats(red_k[lid + s], red_i[lid + s], red_k[lid], red_i[lid])) {
      red_k[lid] = red_k[lid + s];
      red_i[lid] = red_i[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { ids[row] = select(red_i[0], 0u, red_i[0] == NONE); }
}
