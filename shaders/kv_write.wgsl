// Writes this step's K and V rows into one layer's paged KV cache.
// Token row t goes to slot s = slots[t], position p = positions[t]: physical page
// page_table[s * MAX_PAGES_PER_SEQ + p / PAGE_SIZE], row p % PAGE_SIZE of that page.
// KV_F16 (default): the cache holds f16 packed 2 per u32 (element 2i in the low half), converted
// with round-to-nearest-even as ggml's f32->f16 (done on the bits here, since WGSL leaves
// pack2x16float's rounding to the implementation). Each thread writes one whole u32 of K and one
// of V, so no two threads touch the same word. Without KV_F16 the cache is f32 and this is a copy.
// Rows whose slot, logical page or physical page is out of range are skipped (nothing is written).
//
// Bindings:
//   0 step        uniform  Step { n_tokens, n_out }
//   1 k           storage  [n_tokens, N_KV_HEADS*HEAD_DIM] f32 (read as raw u32 bits)   read
//   2 v           storage  [n_tokens, N_KV_HEADS*HEAD_DIM] f32 (read as raw u32 bits)   read
//   3 positions   storage  [n_tokens] u32                                              read
//   4 slots       storage  [n_tokens] u32 (row of page_table)                          read
//   5 page_table  storage  [MAX_SEQS, MAX_PAGES_PER_SEQ] u32 (physical page numbers)    read
//   6 k_cache     storage  [NUM_PAGES, PAGE_SIZE, N_KV_HEADS, HEAD_DIM] f16x2-in-u32 (KV_F16) or f32   read_write
//   7 v_cache     storage  same as k_cache                                             read_write

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override HEAD_DIM: u32;
override N_KV_HEADS: u32;
override PAGE_SIZE: u32;
override MAX_PAGES_PER_SEQ: u32;
const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> k: array<u32>;
@group(0) @binding(2) var<storage, read> v: array<u32>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read> page_table: array<u32>;
@group(0) @binding(6) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<u32>;

#if KV_F16
// f32 bits -> f16 bits, round-to-nearest-even, subnormals, overflow to inf, NaN kept quiet.
fn f16_bits(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let exp = (b >> 23u) & 0xffu;
  let mant = b & 0x7fffffu;
  if (exp == 0xffu) { return sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u); }
  let e = i32(exp) - 112; // re-biased exponent (127 -> 15)
  if (e >= 31) { return sign | 0x7c00u; }
  if (e >= 1) {
    let h = (u32(e) << 10u) | (mant >> 13u); // a carry into the exponent is the right result
    let rest = mant & 0x1fffu;
    return sign | (h + select(0u, 1u, rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)));
  }
  if (e < -10) { return sign; }
  let m = mant | 0x800000u;
  let shift = u32(14 - e);
  let h = m >> shift;
  let rest = m & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  return sign | (h + select(0u, 1u, rest > half || (rest == half && (h & 1u) == 1u)));
}

const PER_WORD: u32 = 2u; // input f32 elements per cache word
fn to_word(lo: u32, hi: u32) -> u32 { return f16_bits(lo) | (f16_bits(hi) << 16u); }
#else
const PER_WORD: u32 = 1u;
fn to_word(lo: u32, hi: u32) -> u32 { return lo; }
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let words = N_KV_HEADS * HEAD_DIM / PER_WORD; // u32 words per token row (in the input pairs, in the cache)
  let id = (wg.x + wg.y * nwg.x) * WG + lid;
  let t = id / words;
  if (t >= step.n_tokens) { return; }
  let w = id % words;
  let pos = positions[t];
  let logical = pos / PAGE_SIZE;
  let pt = slots[t] * MAX_PAGES_PER_SEQ + logical;
  if (logical >= MAX_PAGES_PER_SEQ || pt >= arrayLength(&page_table)) { return; }
  let page = page_table[pt];
  if (page >= arrayLength(&k_cache) / (PAGE_SIZE * words)) { return; }
  let dst = (page * PAGE_SIZE + pos % PAGE_SIZE) * words + w;
  let src = (t * words + w) * PER_WORD; // first of this word's f32 elements
  let last = src + PER_WORD - 1u;
  k_cache[dst] = to_word(k[src], k[last]);
  v_cache[dst] = to_word(v[src], v[last]);
}
