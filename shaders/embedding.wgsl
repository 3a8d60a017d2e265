// Token embedding lookup (ggml_get_rows): out[t, :] = dequantize(table[tokens[t], :]), exactly as
// ggml dequantizes (F16 -> f32 exact, Q8_0 / Q4_0 = f32(d) * q as one f32 multiply, also exact).
// One variant per table type (define F32, F16, BF16, Q8_0 or Q4_0). A table split by rows over
// several buffers runs as one dispatch per part: the part holds rows ROW_START .. ROW_START +
// ROW_COUNT and writes only the tokens in that range (others are left to their part).
// One workgroup per token; its threads stride over DIM.
//
// Bindings:
//   0 step    uniform  Step { n_tokens, n_out }                  rows = n_tokens
//   1 tokens  storage  [n_tokens] u32 token ids                 read
//   2 w       storage  [ROW_COUNT, DIM] table part, raw GGUF bytes (array<u32>)   read
//   3 out     storage  [n_tokens, DIM] f32                      write (rows of this part's tokens)

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override DIM: u32; // a multiple of 32 for Q8_0 / Q4_0
override ROW_START: u32 = 0u;
override ROW_COUNT: u32;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

#include "lib_dequant"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x + wg.y * nwg.x;
  if (t >= step.n_tokens) { return; }
  let tok = tokens[t];
  if (tok < ROW_START || tok - ROW_START >= ROW_COUNT) { return; }
  let src = (tok - ROW_START) * DIM;
  for (var i = lid; i < DIM; i += WG) {
    out[t * DIM + i] = w_elem(src + i);
  }
}
