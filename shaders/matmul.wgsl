// Matmul against a weight kept in its compact GGUF form:
//   y[r, N_OFFSET + n] = sum_k W[n, k] * x[r, k]   for r < rows, n < N
// where rows = ROWS_FROM_OUT ? n_out : n_tokens. One variant per weight type (define F32, F16,
// BF16, Q8_0 or Q4_0; QUANT with the last two), reproducing llama.cpp's x86 CPU numerics as
// test/reference/ops.ts matmul(.., 'llamacpp') specifies them, bit for bit where stated:
//   Q8_0/Q4_0  activations pre-quantized to Q8_0 by quantize_q8.wgsl (xq, xd); per 32-block b an
//              exact integer dot isum_b = sum q_w * q_x (Q4_0: q_w = nibble - 8, made int8 at
//              load) and ds_b = d_w * d_x (two f16 values: exact in f32); then, blocks in order,
//              sum = fma(f32(isum_b), ds_b, sum), fused (one rounding) as the SIMD kernels do.
//              The fma is emulated exactly (lib_dequant fma_rn), since WGSL's fma() need not be
//              fused. Bit-exact.
//   F16 / BF16 each activation rounded to f16 / bf16 (ggml's vec_dot_type conversion); products
//              of two f16 (bf16) are exact in f32 and are summed in f32 sequentially, k = 0, 1, ..
//              (the oracle's dotF32). Bit-exact. (Contracting sum + w * x into an fma changes
//              nothing: the product is exact.)
//   F32        the oracle sums the exact products in double (dotF64), then rounds to f32. Here
//              each product is split exactly (TwoProduct) and summed in float-float (TwoSum, about
//              48 significant bits), rounded once at the end. Equal to the oracle unless its double
//              sum lies within ~2^-45 relative of an f32 rounding boundary (none in the tests).
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
// computes a tile of NC output columns x TT rows. Every sum is sequential in k (that is what makes
// it bit-exact), so the lanes of a group share the work differently per type:
//   QUANT: K is cut into 32-blocks taken LANES at a time (a chunk). (A) lane l loads block c0 + l
//     of its column's weight row once into registers, streams the TT activation rows through it
//     and leaves the integer dots (and the block's d_w) in workgroup memory; (B) after a barrier,
//     the thread that owns row r (lane r % LANES) folds the chunk's blocks into its running sum
//     in order (d_x read from xd), one fma each. So each weight byte is read once per TT rows, the
//     loads and integer dots run on all lanes, and only the cheap fold is sequential.
//   F16, BF16, F32: lane l owns rows r = l, l + LANES, ... < TT of the tile and walks the whole
//     weight row for them, 4 elements at a time, each weight unit loaded once per lane and used
//     for the lane's rows. No workgroup memory and no barriers (SwiftShader's pipeline compile
//     time grows with workgroup memory size).
// Results do not depend on TT or LANES. LANES is chosen by the TS module (QUANT: about 4 blocks
// per lane, at most WG; float types: 1, every thread owning all TT rows of its column).
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

var<private> acc: array<f32, TT_MAX>; // running sums of the rows this thread owns (r % LANES == lane)

#if QUANT
var<workgroup> t_isum: array<i32, WG * TT>; // [TT][WG] integer dot of block c0 + lane, row r
var<workgroup> t_dw: array<f32, WG>;        // d_w of block c0 + lane

// (A) Lane `lid`'s block u of column n, for rows row0 .. row0 + nr.
fn terms(lid: u32, u: u32, n: u32, row0: u32, nr: u32) {
  let KB = K / 32u;
  let blk = load_block(n * KB + u); // 32 int8 (Q4_0: already minus 8) and the scale
  t_dw[lid] = blk.d;
  for (var r = 0u; r < TT; r++) {
    if (r >= nr) { break; }
    let xb = (row0 + r) * KB + u;
    var isum = 0;
    for (var i = 0u; i < 8u; i++) { isum += dot4_i8(blk.q[i], xq[xb * 8u + i]); }
    t_isum[r * WG + lid] = isum;
  }
}

// (B) The running sum of row r (column group g) through blocks c0 .. c0 + cnt, in order:
// sum = fma(f32(isum), d_w * d_x, sum). |isum| <= 32 * 127 * 128 < 2^24 and d_w * d_x (two f16)
// are exact in f32; the fma is emulated exactly.
fn fold(sum: f32, g: u32, r: u32, c0: u32, cnt: u32, row: u32) -> f32 {
  let KB = K / 32u;
  var s = sum;
  for (var i = 0u; i < cnt; i++) {
    let ds = t_dw[g * LANES + i] * xd[row * KB + c0 + i];
    s = fma_rn(f32(t_isum[r * WG + g * LANES + i]), ds, s);
  }
  return s;
}
#else
#if F32
var<private> acc_lo: array<f32, TT_MAX>; // float-float: the sum of row r is acc[r] + acc_lo[r]

fn act(v: f32) -> f32 {
  return v;
}
#else
// Activation rounded to the weight's vec_dot type.
fn act(v: f32) -> f32 {
#if F16
  return round_f16(v);
#else
  return round_bf16(v);
#endif
}
#endif

// The whole weight row of column n, 4 elements at a time, for the rows this lane owns.
fn accumulate(lane: u32, n: u32, row0: u32, nr: u32) {
  let units = (K + 3u) / 4u;
  for (var u = 0u; u < units; u++) {
    let k0 = u * 4u;
    let live = vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u) < vec4<u32>(K); // false past the row's end
    let wv = select(vec4<f32>(0.0), w_vec4(n * K + k0), live);
    for (var r = lane; r < nr; r += LANES) {
      let xb = (row0 + r) * K + k0;
      var xv = vec4<f32>(0.0);
      if (k0 + 4u <= K) {
        xv = vec4<f32>(act(x[xb]), act(x[xb + 1u]), act(x[xb + 2u]), act(x[xb + 3u]));
      } else {
        for (var j = 0u; j < K - k0; j++) { xv[j] = act(x[xb + j]); }
      }
#if F32
      // Exact products, summed in float-float in k order.
      var hi = acc[r];
      var lo = acc_lo[r];
      for (var j = 0u; j < 4u; j++) {
        let p = two_prod(wv[j], xv[j]);
        let t = two_sum(hi, p.x);
        let v = two_sum(t.x, t.y + (lo + p.y));
        hi = v.x;
        lo = v.y;
      }
      acc[r] = hi;
      acc_lo[r] = lo;
#else
      // Exact products (f16 x f16, bf16 x bf16), summed in f32 in k order. The +0 products past
      // K change nothing (the sum starts at +0, so it is never -0).
      let p = wv * xv;
      var s = acc[r];
      s = s + p.x;
      s = s + p.y;
      s = s + p.z;
      s = s + p.w;
      acc[r] = s;
#endif
    }
  }
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ex_never = step.n_tokens == 0xffffffffu;
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
#if QUANT
  let KB = K / 32u;
  for (var c0 = 0u; c0 < KB; c0 += LANES) { // uniform: K, LANES are constants
    if (n < N && c0 + lane < KB) { terms(lid, c0 + lane, n, row0, nr); }
    workgroupBarrier();
    if (n < N) {
      let cnt = min(LANES, KB - c0);
      for (var r = lane; r < nr; r += LANES) { acc[r] = fold(acc[r], group, r, c0, cnt, row0 + r); }
    }
    workgroupBarrier();
  }
  if (n < N) {
    for (var r = lane; r < nr; r += LANES) { y[(row0 + r) * Y_STRIDE + N_OFFSET + n] = acc[r]; }
  }
#else
#if F32
  for (var r = 0u; r < TT_MAX; r++) { acc_lo[r] = 0.0; }
#endif
  if (n < N) {
    accumulate(lane, n, row0, nr);
    for (var r = lane; r < nr; r += LANES) {
#if F32
      y[(row0 + r) * Y_STRIDE + N_OFFSET + n] = acc[r] + acc_lo[r]; // one rounding of the pair
#else
      y[(row0 + r) * Y_STRIDE + N_OFFSET + n] = acc[r];
#endif
    }
  }
#endif
}
