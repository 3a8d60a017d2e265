// Matmul against a weight kept in its compact GGUF form:
//   y[r, N_OFFSET + n] = sum_k W[n, k] * x[r, k]   for r < rows, n < N
// where rows = ROWS_FROM_OUT ? n_out : n_tokens. One variant per weight type (define F32, F16,
// BF16, Q8_0 or Q4_0; QUANT with the last two), with llama.cpp's CPU numerics:
//   F32        plain f32 products, f32 accumulation
//   F16 / BF16 each activation rounded to f16 / bf16 first (ggml's vec_dot_type conversion),
//              products exact in f32, f32 accumulation
//   Q8_0/Q4_0  activations pre-quantized to Q8_0 by quantize_q8.wgsl (xq, xd); per 32-block an
//              exact integer dot isum = sum q_w * q_x (Q4_0: q_w = nibble - 8, made int8 at
//              load), then sum += f32(isum) * (d_w * d_x)
// DOT4 uses the dot4I8Packed builtin (language feature packed_4x8_integer_dot_product).
//
// Bindings (quantized variants, QUANT):
//   0 step  uniform  Step { n_tokens, n_out }              rows as above
//   1 xq    storage  [rows, K/4] u32: 4 x int8 per word    read   (K/32 blocks of 8 words per row)
//   2 xd    storage  [rows, K/32] f32 block scales (f16-rounded)   read
//   3 w     storage  [N, K] Q8_0 / Q4_0 raw blocks (array<u32>)    read
//   4 y     storage  [rows, Y_STRIDE] f32                   write (columns N_OFFSET .. N_OFFSET+N)
// Bindings (float variants):
//   0 step  uniform  Step { n_tokens, n_out }
//   1 x     storage  [rows, K] f32                          read
//   2 w     storage  [N, K] F32 / F16 / BF16 raw (array<u32>)       read
//   3 y     storage  [rows, Y_STRIDE] f32                   write
//
// Work split. A workgroup of WG threads is NC = WG / LANES column groups of LANES threads; it
// computes a tile of NC output columns x TT rows. The LANES threads of a group split K: lane l
// takes K-units l, l + LANES, ... (a unit is one 32-block for the quantized types, 4 elements for
// the float types), loads each weight unit once into registers and streams the TT activation rows
// through it, so each weight byte is read once per TT rows. The group's partial sums meet in a
// shared-memory tree reduction. Decode (1-16 rows) thus gets LANES threads per output column
// instead of one thread per output, and prefill reuses each weight TT times. Activations are
// re-read (from cache) by each column group; F16 / BF16 round them per group. LANES is chosen
// from K by the TS module (about 4 units per lane, at most WG; 1 for tiny K). One column per
// thread keeps the unrolled code (TT bodies) small, which keeps pipeline compiles quick.
// Workgroups are numbered column tile fastest (grid1d may spread them over x and y), so vocab-
// sized N fits the 65535-per-dimension limit. A weight split by output rows over several buffers
// runs as one dispatch per part with its own N and N_OFFSET, all writing into y of width Y_STRIDE.

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override K: u32;
override N: u32;
override N_OFFSET: u32 = 0u;
override Y_STRIDE: u32;
override ROWS_FROM_OUT: u32 = 0u;
override TT: u32 = 8u; // rows per workgroup, <= TT_MAX
override LANES: u32 = 16u; // threads per output column, a power of two dividing WG
override WG: u32 = 64u; // threads per workgroup, a power of two

const TT_MAX: u32 = 8u;

@group(0) @binding(0) var<uniform> step: Step;
#if QUANT
@group(0) @binding(1) var<storage, read> xq: array<u32>;
@group(0) @binding(2) var<storage, read> xd: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#endif

#include "lib_dequant"

var<workgroup> red: array<f32, WG * TT>; // [TT][WG] partial sums

var<private> acc: array<f32, TT_MAX>; // this thread's partial sums, one per row

#if QUANT
// Adds lane `lane`'s share of K for column n and rows row0 .. row0 + nr.
fn accumulate(lane: u32, n: u32, row0: u32, nr: u32) {
  let KB = K / 32u;
  for (var b = lane; b < KB; b += LANES) {
    let blk = load_block(n * KB + b); // 32 int8 (Q4_0: already minus 8) and the scale
    for (var r = 0u; r < TT; r++) {
      if (r >= nr) { break; }
      let xb = (row0 + r) * KB + b;
      var isum = 0;
      for (var i = 0u; i < 8u; i++) { isum += dot4_i8(blk.q[i], xq[xb * 8u + i]); }
      acc[r] += f32(isum) * (blk.d * xd[xb]);
    }
  }
}
#else
// Activation rounded to the weight's vec_dot type.
fn act(v: f32) -> f32 {
#if F16
  return round_f16(v);
#else
#if BF16
  return round_bf16(v);
#else
  return v;
#endif
#endif
}

fn accumulate(lane: u32, n: u32, row0: u32, nr: u32) {
  let units = (K + 3u) / 4u;
  for (var u = lane; u < units; u += LANES) {
    let k0 = u * 4u;
    let live = vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u) < vec4<u32>(K); // false past the row's end
    let wv = select(vec4<f32>(0.0), w_vec4(n * K + k0), live);
    for (var r = 0u; r < TT; r++) {
      if (r >= nr) { break; }
      let xb = (row0 + r) * K + k0;
      var xv = vec4<f32>(0.0);
      if (k0 + 4u <= K) {
        xv = vec4<f32>(act(x[xb]), act(x[xb + 1u]), act(x[xb + 2u]), act(x[xb + 3u]));
      } else {
        for (var j = 0u; j < K - k0; j++) { xv[j] = act(x[xb + j]); }
      }
      acc[r] += dot(wv, xv);
    }
  }
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let nc = WG / LANES; // columns per workgroup
  let col_tiles = (N + nc - 1u) / nc;
  let tile = wg.x + wg.y * nwg.x;
  let row0 = (tile / col_tiles) * TT;
  if (row0 >= rows) { return; } // uniform per workgroup, so the barriers below are safe
  let nr = min(TT, rows - row0);
  let group = lid / LANES;
  let lane = lid % LANES;
  let n = (tile % col_tiles) * nc + group;

  for (var r = 0u; r < TT_MAX; r++) { acc[r] = 0.0; }
  if (n < N) { accumulate(lane, n, row0, nr); }

  for (var r = 0u; r < TT; r++) { red[r * WG + lid] = acc[r]; }
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) {
      for (var r = 0u; r < TT; r++) {
        if (r >= nr) { break; }
        red[r * WG + lid] += red[r * WG + lid + s];
      }
    }
    workgroupBarrier();
  }
  if (n < N) {
    for (var r = lane; r < nr; r += LANES) { y[(row0 + r) * Y_STRIDE + N_OFFSET + n] = red[r * WG + group * LANES]; }
  }
}
