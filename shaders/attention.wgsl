// Causal multi-head attention with GQA over a paged KV cache, for a ragged batch of token rows
// (prefill chunks and decode tokens of several sequences mixed).
// Token row t, query head h attends to positions 0..positions[t] of slot slots[t] (the current
// step's K/V are already in the cache, written by kv_write) through kv head h / (N_HEADS / N_KV_HEADS):
//   out[t, h] = softmax_p(q[t, h] . K[p] / sqrt(HEAD_DIM)) @ V[p]
// Position p of slot s is row p % PAGE_SIZE of physical page page_table[s * MAX_PAGES_PER_SEQ + p / PAGE_SIZE].
// KV_F16 (default): the cache is f16 packed 2 per u32, and q is rounded to f16 first (llama.cpp
// converts Q to the f16 vec-dot type of the K cache); scores, softmax and accumulation are f32.
//
// One workgroup per (token, head), over a 2-D grid (wid = x + y * num_workgroups.x). Positions go
// in chunks of CHUNK = WG: each thread scores one position into workgroup memory; the chunk max
// updates the running max with online-softmax rescaling of the running sum and accumulator;
// then threads, parallel over pairs of HEAD_DIM, accumulate p * V. Memory does not grow with context.
// A position whose slot, logical page or physical page is out of range makes the whole output row NaN.
//
// Bindings:
//   0 step        uniform  Step { n_tokens, n_out }
//   1 q           storage  [n_tokens, N_HEADS*HEAD_DIM] f32 (after RoPE)                          read
//   2 positions   storage  [n_tokens] u32                                                       read
//   3 slots       storage  [n_tokens] u32 (row of page_table)                                   read
//   4 page_table  storage  [MAX_SEQS, MAX_PAGES_PER_SEQ] u32 (physical page numbers)             read
//   5 k_cache     storage  [NUM_PAGES, PAGE_SIZE, N_KV_HEADS, HEAD_DIM] f16x2-in-u32 (KV_F16) or f32   read
//   6 v_cache     storage  same as k_cache                                                      read
//   7 out         storage  [n_tokens, N_HEADS*HEAD_DIM] f32                                     write

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override HEAD_DIM: u32;
override N_HEADS: u32;
override N_KV_HEADS: u32;
override PAGE_SIZE: u32;
override MAX_PAGES_PER_SEQ: u32;
const WG: u32 = 64u;
const CHUNK: u32 = WG; // positions per chunk: one score per thread
const NO_ROW: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;
@group(0) @binding(4) var<storage, read> page_table: array<u32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

var<workgroup> q_sh: array<f32, HEAD_DIM>;
var<workgroup> acc: array<f32, HEAD_DIM>; // element d is owned by thread (d / 2) % WG
var<workgroup> s_sh: array<f32, CHUNK>;   // scores of the chunk's positions
var<workgroup> p_sh: array<f32, CHUNK>;   // their probabilities exp(score - running max)
var<workgroup> row_sh: array<u32, CHUNK>; // cache element offset of each position's (row, kv head), or NO_ROW
var<workgroup> bad: atomic<u32>;

#if KV_F16
@group(0) @binding(5) var<storage, read> k_cache: array<u32>;
@group(0) @binding(6) var<storage, read> v_cache: array<u32>;
const PER_WORD: u32 = 2u;
fn k_pair(e: u32) -> vec2<f32> { return unpack2x16float(k_cache[e / 2u]); } // e even
fn v_pair(e: u32) -> vec2<f32> { return unpack2x16float(v_cache[e / 2u]); }

// f32 -> f16 round-to-nearest-even on the bits (same as kv_write.wgsl; pack2x16float's rounding
// is implementation-defined), returned as the f32 value of that f16.
fn round_f16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let exp = (b >> 23u) & 0xffu;
  let mant = b & 0x7fffffu;
  var h: u32;
  let e = i32(exp) - 112;
  if (exp == 0xffu) {
    h = 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u);
  } else if (e >= 31) {
    h = 0x7c00u;
  } else if (e >= 1) {
    h = (u32(e) << 10u) | (mant >> 13u);
    let rest = mant & 0x1fffu;
    h += select(0u, 1u, rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u));
  } else if (e < -10) {
    h = 0u;
  } else {
    let m = mant | 0x800000u;
    let shift = u32(14 - e);
    h = m >> shift;
    let rest = m & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    h += select(0u, 1u, rest > half || (rest == half && (h & 1u) == 1u));
  }
  return unpack2x16float(sign | h).x;
}
#else
@group(0) @binding(5) var<storage, read> k_cache: array<f32>;
@group(0) @binding(6) var<storage, read> v_cache: array<f32>;
const PER_WORD: u32 = 1u;
fn k_pair(e: u32) -> vec2<f32> { return vec2<f32>(k_cache[e], k_cache[e + 1u]); }
fn v_pair(e: u32) -> vec2<f32> { return vec2<f32>(v_cache[e], v_cache[e + 1u]); }
fn round_f16(x: f32) -> f32 { return x; }
#endif

/** Cache element offset of position p's K/V row for kv head kvh, or NO_ROW if out of range. */
fn cache_row(slot: u32, p: u32, kvh: u32) -> u32 {
  let logical = p / PAGE_SIZE;
  let pt = slot * MAX_PAGES_PER_SEQ + logical;
  if (logical >= MAX_PAGES_PER_SEQ || pt >= arrayLength(&page_table)) { return NO_ROW; }
  let page = page_table[pt];
  let row_elems = N_KV_HEADS * HEAD_DIM;
  if (page >= arrayLength(&k_cache) * PER_WORD / (PAGE_SIZE * row_elems)) { return NO_ROW; }
  return ((page * PAGE_SIZE + p % PAGE_SIZE) * N_KV_HEADS + kvh) * HEAD_DIM;
}

/** q . K[e..e+HEAD_DIM) with q from workgroup memory. */
fn dot_k(e: u32) -> f32 {
  var s = 0.0;
  for (var d = 0u; d < HEAD_DIM; d += 2u) {
    let k = k_pair(e + d);
    s += q_sh[d] * k.x + q_sh[d + 1u] * k.y;
  }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wid = wg.x + wg.y * nwg.x;
  let t = wid / N_HEADS;
  if (t >= step.n_tokens) { return; } // uniform per workgroup, so the barriers below are safe
  let h = wid % N_HEADS;
  let kvh = h / (N_HEADS / N_KV_HEADS);
  let n_ctx = positions[t] + 1u;
  let slot = slots[t];
  let q_base = (t * N_HEADS + h) * HEAD_DIM;
  for (var d = lid; d < HEAD_DIM; d += WG) {
    q_sh[d] = round_f16(q[q_base + d]);
    acc[d] = 0.0;
  }
  if (lid == 0u) { atomicStore(&bad, 0u); }
  workgroupBarrier();

  let scale = 1.0 / sqrt(f32(HEAD_DIM));
  var m = 0.0; // running max (valid from the first chunk on)
  var l = 0.0; // running sum of exp(score - m)
  for (var c0 = 0u; c0 < n_ctx; c0 += CHUNK) {
    let n = min(CHUNK, n_ctx - c0);
    // Scores of this chunk, one position per thread.
    var s = -3.0e38;
    var row = NO_ROW;
    if (lid < n) {
      row = cache_row(slot, c0 + lid, kvh);
      if (row == NO_ROW) { atomicStore(&bad, 1u); } else { s = dot_k(row) * scale; }
    }
    s_sh[lid] = s;
    row_sh[lid] = row;
    workgroupBarrier();
    // Online softmax: new running max, rescale factor for what was accumulated so far.
    var cmax = -3.0e38;
    for (var j = 0u; j < n; j++) { cmax = max(cmax, s_sh[j]); }
    let m_new = select(max(m, cmax), cmax, c0 == 0u);
    let alpha = select(exp(m - m_new), 0.0, c0 == 0u);
    p_sh[lid] = select(0.0, exp(s - m_new), row != NO_ROW);
    workgroupBarrier();
    var psum = 0.0;
    for (var j = 0u; j < n; j++) { psum += p_sh[j]; }
    l = l * alpha + psum;
    // Accumulate p * V, threads parallel over pairs of dims.
    for (var d = 2u * lid; d < HEAD_DIM; d += 2u * WG) {
      var a = vec2<f32>(acc[d], acc[d + 1u]) * alpha;
      for (var j = 0u; j < n; j++) {
        let r = row_sh[j];
        if (r != NO_ROW) { a += p_sh[j] * v_pair(r + d); }
      }
      acc[d] = a.x;
      acc[d + 1u] = a.y;
    }
    m = m_new;
    // The next chunk overwrites scores, probabilities and rows: wait until all are read. (After the
    // last chunk no barrier is needed: `bad` was last stored before the score barrier.)
    if (c0 + CHUNK < n_ctx) { workgroupBarrier(); }
  }

  let failed = atomicLoad(&bad) != 0u;
  let inv_l = 1.0 / l;
  for (var d = 2u * lid; d < HEAD_DIM; d += 2u * WG) {
    if (failed) {
      let nan = bitcast<f32>(0x7fc00000u | (d & 0u)); // runtime, not a const expression (NaN consts are rejected)
      out[q_base + d] = nan;
      out[q_base + d + 1u] = nan;
    } else {
      out[q_base + d] = acc[d] * inv_l;
      out[q_base + d + 1u] = acc[d + 1u] * inv_l;
    }
  }
}
