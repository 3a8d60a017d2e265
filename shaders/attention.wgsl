// Causal multi-head attention with GQA over a paged KV cache, for a ragged batch of token rows
// (prefill chunks and decode tokens of several sequences mixed).
// Token row t, query head h attends to positions 0..positions[t] of slot slots[t] (the current
// step's K/V are already in the cache, written by kv_write) through kv head h / (N_HEADS / N_KV_HEADS):
//   out[t, h] = softmax_p(q[t, h] . K[p] * SCALE) @ V[p],   SCALE = 1.0f / sqrtf(HEAD_DIM) (host-rounded)
// Position p of slot s is row p % PAGE_SIZE of physical page page_table[s * MAX_PAGES_PER_SEQ + p / PAGE_SIZE].
// A position whose slot, logical page or physical page is out of range makes the whole output row NaN.
// One workgroup per (token, head), over a 2-D grid (wid = x + y * num_workgroups.x); positions go in
// chunks of WG (threads per workgroup, override, default 64), each thread scoring one position into
// workgroup memory. Memory does not grow with context.
//
// Variants (#if):
//   FLASH (with KV_F16; the default for an f16 cache): bit-exact emulation of llama.cpp's CPU
//     ggml_compute_forward_flash_attn_ext_f16 for one query row and head, positions in order 0..pos:
//       qh = f16(q); M = -inf; S = 0; VKQ[HEAD_DIM] = 0 (f16 values)
//       for each position: s = f32(sum_i qh_i * k_i in double) * SCALE
//         if s > M: ms = expf(M - s); M = s; VKQ = f16(VKQ * ms); vs = 1   else: ms = 1; vs = expf(s - M)
//         VKQ = f16(fma(v, vs, VKQ)); S = fma(S, ms, vs)          (x86 builds contract both to FMAs)
//       out = VKQ * f32(1 / S)
//     every operation in f32 (the differences M - s too, as C computes them on floats) unless noted.
//     Not emulated: ggml_vec_dot_f16's SIMD body, which sums in f32 lanes when HEAD_DIM reaches
//     GGML_F16_STEP (32 with AVX2, 64 with AVX-512; below it the sum is in double, as here), and the
//     other CPU paths of current ggml (a tiled kernel for batches of >= 64 query rows, a split-KV one
//     for single-row decode over >= 512 KV cells).
//     How each step is made exact without f64 or a guaranteed-fused fma() (details in the libraries):
//     - dot: the products of two f16 are exact; lib_f16_dot.wgsl sums them exactly and rounds once
//       to f32. ggml's double accumulation is itself exact whenever the products' bits span <= 53
//       bits (always, for normal-sized q and k); otherwise it differs from the exact sum by ~2^-53
//       relative, which changes the f32 rounding only if the sum lies within that of an f32
//       rounding boundary: probability ~2^-29 per dot (and never for the fixtures' data).
//     - expf, fma, 1 / S: exp_rn, fma_rn / fma_short and recip_rn from lib_flash_exact.wgsl, correctly
//       rounded (exp_rn but for about 1 x in 10^7; WGSL's exp() is up to 64 ulp off on SwiftShader).
//       exp_rn returns the smallest subnormal for any nonzero subnormal result: only their being
//       nonzero matters (they cannot change an f16 accumulator or S, only the sign of an exactly zero
//       VKQ element). No literal may enter a TwoSum (SwiftShader folds (p + 1.0) - 1.0 to p): hence `one`.
//     Per chunk: (A) each thread scores one position; (B) each thread takes the running max before its
//     position (a prefix max over the chunk's earlier scores) and computes its ms, vs with one expf;
//     (C) every thread walks the chunk in order, updating M, and the threads that own VKQ elements
//     (d = lid, lid + WG, ...) S (identically) and their elements (the f16 rescale and the fused
//     multiply-add).
//   KV_F16 without FLASH: f16 cache, q rounded to f16, f32 scores and online softmax with f32
//     accumulation (one chunk max per chunk). Faster, not bit-exact with llama.cpp.
//   neither: f32 cache, otherwise as the previous variant.
//
// Override constants: HEAD_DIM (even, <= 1024), N_HEADS (a multiple of N_KV_HEADS), N_KV_HEADS, PAGE_SIZE,
// MAX_PAGES_PER_SEQ, SCALE (f32), WG (1..256, default 64).
//
// Bindings (entry point main):
//   0 step        uniform  Step { n_tokens, n_out, _pad0, _pad1 }  (FLASH: _pad1 must not be 0x7fc00001)
//   1 q           storage  [n_tokens, N_HEADS*HEAD_DIM] f32 (after RoPE)                          read
//   2 positions   storage  [n_tokens] u32                                                       read
//   3 slots       storage  [n_tokens] u32 (row of page_table)                                   read
//   4 page_table  storage  [MAX_SEQS, MAX_PAGES_PER_SEQ] u32 (physical page numbers)             read
//   5 k_cache     storage  [NUM_PAGES, PAGE_SIZE, N_KV_HEADS, HEAD_DIM] f16x2-in-u32 (KV_F16) or f32   read
//   6 v_cache     storage  same as k_cache                                                      read
//   7 out         storage  [n_tokens, N_HEADS*HEAD_DIM] f32                                     write
// Entry point probe (FLASH only; for tests of the exact arithmetic): bindings 0 step, 1 q as the input
// x: array<f32>, 7 out: array<f32>; element i = wid * WG + lid < n_tokens computes, by op = n_out:
//   0: exp_rn(x[i])   1: recip_rn(x[i])   2: fma_rn(x[3i], x[3i+1], x[3i+2])
//   3: f16(fma(v, vs, a)) as the VKQ update with v = x[3i], vs = x[3i+1], a = x[3i+2] (v, a f16-exact)
//   4: the TwoSum error of x[2i] + x[2i+1] (0 if the compiler simplified (a + b) - a to b)
//   5: f32(exact dot of f16(x[32i..32i+16]) and f16(x[32i+16..32i+32]))

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }

override HEAD_DIM: u32;
override N_HEADS: u32;
override N_KV_HEADS: u32;
override PAGE_SIZE: u32;
override MAX_PAGES_PER_SEQ: u32;
override SCALE: f32; // 1.0f / sqrtf(HEAD_DIM), rounded on the host (WGSL's sqrt and / are not exact)
override WG: u32 = 64u; // threads per workgroup = positions per chunk (one score per thread)
const NO_ROW: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> slots: array<u32>;
@group(0) @binding(4) var<storage, read> page_table: array<u32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

var<workgroup> acc: array<f32, HEAD_DIM>; // element d is owned by thread d % WG (FLASH) or (d / 2) % WG
var<workgroup> s_sh: array<f32, WG>;   // scores of the chunk's positions
var<workgroup> row_sh: array<u32, WG>; // cache element offset of each position's (row, kv head), or NO_ROW
var<workgroup> bad: atomic<u32>;

#if KV_F16
@group(0) @binding(5) var<storage, read> k_cache: array<u32>;
@group(0) @binding(6) var<storage, read> v_cache: array<u32>;
const PER_WORD: u32 = 2u;
fn k_pair(e: u32) -> vec2<f32> { return unpack2x16float(k_cache[e / 2u]); } // e even
fn v_pair(e: u32) -> vec2<f32> { return unpack2x16float(v_cache[e / 2u]); }

// f32 -> f16 bits, round-to-nearest-even on the bits (same as kv_write.wgsl; pack2x16float's rounding
// is implementation-defined).
fn f16_bits(x: f32) -> u32 {
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
  return sign | h;
}

/** x rounded to f16 (round-to-nearest-even), as the f32 value of that f16. */
fn round_f16(x: f32) -> f32 { return unpack2x16float(f16_bits(x)).x; }
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

/** The runtime NaN written to the rows of invalid positions (NaN constants are rejected). */
fn nan_f32(x: u32) -> f32 { return bitcast<f32>(0x7fc00000u | (x & 0u)); }

/** The query a workgroup computes, one per (token row t, head h) over the 2-D grid: t, and for
 *  t < step.n_tokens the kv head, context length (positions 0..n_ctx-1), slot and the offset of its
 *  q / out row. Workgroups with t >= step.n_tokens (grid padding) get only t and must return. */
struct Job { t: u32, kvh: u32, n_ctx: u32, slot: u32, q_base: u32 }

fn job_of(wg: vec3<u32>, nwg: vec3<u32>) -> Job {
  let wid = wg.x + wg.y * nwg.x;
  let t = wid / N_HEADS;
  if (t >= step.n_tokens) { return Job(t, 0u, 0u, 0u, 0u); }
  let h = wid % N_HEADS;
  return Job(t, h / (N_HEADS / N_KV_HEADS), positions[t] + 1u, slots[t], (t * N_HEADS + h) * HEAD_DIM);
}

#if FLASH
// ------------------------------------------------------------------------------------------------
// Exact emulation of llama.cpp's CPU flash attention (see the header).
#include "lib_flash_exact" // keep, two_sum, fma_rn, fma_short, recip_rn, exp_rn
#include "lib_f16_dot"     // exact f16 dot products: f16_parts, acc_add, acc_f32

const LOWEST: f32 = -0x1.fffffep+127f; // stands for ggml's M = -INFINITY: s > LOWEST for any score
const NEVER: u32 = 0x7fc00001u;        // step._pad1 is never this; keep() selects on never = (_pad1 == NEVER)

var<workgroup> exp_tab: array<u32, EXP_TAB_N>; // lib_flash_exact's table for exp_rn
var<workgroup> qd_sh: array<u32, HEAD_DIM>; // q rounded to f16, as f16_parts
var<workgroup> ms_sh: array<f32, WG>;    // each position's ms and vs
var<workgroup> vs_sh: array<f32, WG>;

/** f16(RN(v * vs + a)) for the VKQ update, v and a f16 values, vs = expf(..) in [0, 1]. */
fn vkq_mad(v: f32, vs: f32, a: f32) -> f32 {
  if (vs == 1.0) { return round_f16(v + a); }
  if (vs < 0x1p-64f) {
    // |v * vs| < 2^-48 <= half an f32 ulp of any nonzero f16: a stays. A zero a takes the sign of
    // v * vs if that is nonzero (vs may be the subnormal stand-in, which arithmetic would flush), else
    // IEEE's sign for a sum of zeros.
    if (a != 0.0) { return a; }
    let sv = bitcast<u32>(v) & 0x80000000u;
    let nonzero = (bitcast<u32>(v) & 0x7fffffffu) != 0u && bitcast<u32>(vs) != 0u;
    return bitcast<f32>(select(sv & bitcast<u32>(a), sv, nonzero));
  }
  return round_f16(fma_short(v, vs, a));
}

/** f32(q . K[e..e+HEAD_DIM)) exactly rounded, q from qd_sh. */
fn dot_exact(e: u32) -> f32 {
  var a = Acc96(0u, 0u, 0u, 0u, 0u);
  for (var d = 0u; d < HEAD_DIM; d += 2u) {
    let w = k_cache[(e + d) / 2u];
    acc_add(&a, qd_sh[d], f16_parts(w & 0xffffu));
    acc_add(&a, qd_sh[d + 1u], f16_parts(w >> 16u));
  }
  if (a.special == 0u) { return acc_f32(a); }
  // An inf or NaN among q, k: a plain f32 sum gives the same inf or NaN.
  var s = 0.0;
  for (var d = 0u; d < HEAD_DIM; d += 2u) {
    let qp = unpack2x16float(parts_f16(qd_sh[d]) | (parts_f16(qd_sh[d + 1u]) << 16u));
    let k = k_pair(e + d);
    s += qp.x * k.x + qp.y * k.y;
  }
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  never = step._pad1 == NEVER;
  let job = job_of(wg, nwg);
  if (job.t >= step.n_tokens) { return; } // uniform per workgroup, so the barriers below are safe
  for (var d = lid; d < HEAD_DIM; d += WG) {
    qd_sh[d] = f16_parts(f16_bits(q[job.q_base + d]));
    acc[d] = 0.0;
  }
  load_exp_tab(lid);
  if (lid == 0u) { atomicStore(&bad, 0u); }
  workgroupBarrier();

  var m_run = LOWEST; // ggml's M
  var s_run = 0.0;    // ggml's S
  let one = keep(1.0); // a 1 the compiler cannot see: with the literal, SwiftShader folds (p + 1) - 1 to p
  for (var c0 = 0u; c0 < job.n_ctx; c0 += WG) {
    let n = min(WG, job.n_ctx - c0);
    // (A) Scores, one position per thread.
    var s = LOWEST;
    var row = NO_ROW;
    if (lid < n) {
      row = cache_row(job.slot, c0 + lid, job.kvh);
      if (row == NO_ROW) { atomicStore(&bad, 1u); } else { s = dot_exact(row) * SCALE; }
    }
    s_sh[lid] = s;
    row_sh[lid] = row;
    workgroupBarrier();
    // (B) Each position's ms, vs from the running max before it.
    if (lid < n) {
      var mp = m_run;
      for (var i = 0u; i < lid; i++) {
        let si = s_sh[i];
        mp = select(mp, si, si > mp);
      }
      let sj = s_sh[lid];
      let new_max = sj > mp;
      let e = exp_rn(select(sj - mp, mp - sj, new_max)); // one call, not one per branch: lanes diverge
      ms_sh[lid] = select(1.0, e, new_max);
      vs_sh[lid] = select(e, 1.0, new_max);
    }
    workgroupBarrier();
    // (C) In position order: M (every thread), S (identically in every thread that owns output
    // elements) and the VKQ elements this thread owns.
    for (var j = 0u; j < n; j++) {
      let sj = s_sh[j];
      m_run = select(m_run, sj, sj > m_run);
      if (lid >= HEAD_DIM) { continue; }
      let ms = ms_sh[j];
      let vs = vs_sh[j];
      let r = row_sh[j];
      if (ms != 1.0) { s_run = fma_rn(s_run, ms, one); } else { s_run = s_run + vs; } // ms != 1: vs == 1
      if (r == NO_ROW) { continue; }
      for (var d = lid; d < HEAD_DIM; d += WG) {
        var a = acc[d];
        if (ms != 1.0) { a = round_f16(a * ms); }
        acc[d] = vkq_mad(unpack2x16float(v_cache[(r + d) / 2u])[d & 1u], vs, a);
      }
    }
    // The next chunk overwrites the chunk's arrays: wait until all are read. (After the last chunk no
    // barrier is needed: `bad` was last stored before the score barrier, acc[d] is this thread's.)
    if (c0 + WG < job.n_ctx) { workgroupBarrier(); }
  }

  if (lid >= HEAD_DIM) { return; }
  let failed = atomicLoad(&bad) != 0u;
  let inv = select(recip_rn(s_run), 0.0, s_run == 0.0);
  for (var d = lid; d < HEAD_DIM; d += WG) {
    out[job.q_base + d] = select(acc[d] * inv, nan_f32(d), failed);
  }
}

@compute @workgroup_size(WG)
fn probe(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  never = step._pad1 == NEVER;
  load_exp_tab(lid);
  workgroupBarrier();
  let i = (wg.x + wg.y * nwg.x) * WG + lid;
  if (i >= step.n_tokens) { return; }
  var r = 0.0;
  switch (step.n_out) {
    case 0u: { r = exp_rn(q[i]); }
    case 1u: { r = recip_rn(q[i]); }
    case 2u: { r = fma_rn(q[3u * i], q[3u * i + 1u], q[3u * i + 2u]); }
    case 3u: { r = vkq_mad(q[3u * i], q[3u * i + 1u], q[3u * i + 2u]); }
    case 4u: { r = two_sum(q[2u * i], q[2u * i + 1u]).y; }
    case 5u: {
      var a = Acc96(0u, 0u, 0u, 0u, 0u);
      for (var d = 0u; d < 16u; d++) { acc_add(&a, f16_parts(f16_bits(q[32u * i + d])), f16_parts(f16_bits(q[32u * i + 16u + d]))); }
      r = acc_f32(a);
    }
    default: {}
  }
  out[i] = r;
}

#else
// ------------------------------------------------------------------------------------------------
// Plain online softmax with f32 accumulation (f32 cache, or an f16 cache without FLASH).
// Each chunk's max updates the running max, rescaling the running sum and accumulator; then threads,
// parallel over pairs of HEAD_DIM, accumulate p * V.

var<workgroup> q_sh: array<f32, HEAD_DIM>;
var<workgroup> p_sh: array<f32, WG>;   // the chunk's probabilities exp(score - running max)

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
  let job = job_of(wg, nwg);
  if (job.t >= step.n_tokens) { return; } // uniform per workgroup, so the barriers below are safe
  for (var d = lid; d < HEAD_DIM; d += WG) {
    q_sh[d] = round_f16(q[job.q_base + d]);
    acc[d] = 0.0;
  }
  if (lid == 0u) { atomicStore(&bad, 0u); }
  workgroupBarrier();

  var m = 0.0; // running max (valid from the first chunk on)
  var l = 0.0; // running sum of exp(score - m)
  for (var c0 = 0u; c0 < job.n_ctx; c0 += WG) {
    let n = min(WG, job.n_ctx - c0);
    // Scores of this chunk, one position per thread.
    var s = -3.0e38;
    var row = NO_ROW;
    if (lid < n) {
      row = cache_row(job.slot, c0 + lid, job.kvh);
      if (row == NO_ROW) { atomicStore(&bad, 1u); } else { s = dot_k(row) * SCALE; }
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
    if (c0 + WG < job.n_ctx) { workgroupBarrier(); }
  }

  let failed = atomicLoad(&bad) != 0u;
  let inv_l = 1.0 / l;
  for (var d = 2u * lid; d < HEAD_DIM; d += 2u * WG) {
    if (failed) {
      let nan = nan_f32(d);
      out[job.q_base + d] = nan;
      out[job.q_base + d + 1u] = nan;
    } else {
      out[job.q_base + d] = acc[d] * inv_l;
      out[job.q_base + d + 1u] = acc[d + 1u] * inv_l;
    }
  }
}
#endif