// Per-row token sampling for continuous batching: every logits row belongs to a different
// sequence with its own SampleParams. One WG-thread workgroup per row (rows over a 2-D grid).
// Semantics follow llama.cpp's sampler chain, in its order:
//   penalties -> top-k -> top-p -> min-p -> temperature -> softmax -> draw
//  * penalty: each DISTINCT token among the row's n_recent recent tokens gets
//    l = l > 0 ? l / repeat_penalty : l * repeat_penalty (repeat_penalty == 1 or <= 0: off).
//  * top-k: the top_k largest (0 or >= VOCAB: off). top-p: softmax at T = 1 over the top-k set,
//    keep the shortest prefix whose mass >= top_p (top_p >= 1: off). min-p: keep l >= max +
//    log(min_p) (min_p <= 0: off). At least one token always survives (llama.cpp's min_keep = 1).
//  * temperature <= 0 (or NaN) or top_k == 1: greedy, the FIRST index of the maximum. Otherwise
//    weights exp((l - max) / T), T clamped to >= 1e-6, and one uniform u in [0, 1) drawn.
// "Order" below means: larger penalised logit first, smaller index first on ties. Every filter
// keeps a prefix of that order, so the survivors are its first n = min(n_k, n_p, n_m) entries.
//
// Approach (no full-vocab sort): a radix select (4 passes of 256-bin u32 atomic histograms over an
// order-preserving key of the logit) finds the K-th entry of the order, K = min(k, CAP); those K
// candidates are collected (ties at the boundary by index, via a chunked prefix count) and
// bitonic-sorted in workgroup memory. If n is decided inside the candidates (the usual case:
// top_k <= CAP, or the nucleus / min-p set fits in CAP) the draw walks the sorted candidates.
// Otherwise an EXACT full-vocab path runs: top-k by radix select, min-p by threshold, top-p by a
// binary search (<= 32 sum passes) on the key threshold where the mass first reaches top_p, and
// the draw is an index-order prefix sum over the survivors. So results are exact for any
// parameters; only the cost differs (flat nuclei larger than CAP pay ~35 extra vocab passes).
// Cost in vocab passes: greedy 1; top_k <= CAP 6 (max, 4 radix digits, collect); no filters at
// all (pure sampling) 2; +1 for LOGPROBS; +1 for a tie split at a boundary. Passes that need index
// order (collect, the full-vocab draw) give each thread a contiguous chunk (less coalesced).
// Float sums are summed in a fixed order, so a row's result depends only on its logits, params
// and recent tokens, never on the rest of the batch. The reductions, scans, radix select and
// bitonic sort are in shaders/lib_select.wgsl (its header lists what it needs declared here).
//
// RNG: u = f32(h >> 8) * 2^-24 with h = pcg(seed_lo ^ pcg(seed_hi ^ pcg(counter))), pcg being
// the PCG-RXS-M-XS 32-bit hash (Jarzynski & Olano 2020); mirrored by sampleUniform() in TS.
//
// NaN safety: penalised logits are sanitised: NaN -> -2e30, +-inf and beyond -> +-1e30 (so NaN
// never beats a number, -inf ties with -inf; a -inf token only wins if nothing finite exists).
//
// Logprobs (LOGPROBS variant): log-softmax over the FULL vocab of the penalised logits divided by
// the temperature (T = 1 when temperature <= 0), i.e. before top-k/top-p/min-p truncation.
//
// Bindings:
//   0 step    uniform  Step { n_tokens, n_out }       rows = ROWS_FROM_OUT ? n_out : n_tokens
//   1 logits  storage  [rows, VOCAB] f32               read
//   2 params  storage  [rows] SampleParams (48 B)      read
//        byte 0 temperature f32 | 4 top_k u32 | 8 top_p f32 | 12 min_p f32 | 16 repeat_penalty f32
//        | 20 seed_lo u32 | 24 seed_hi u32 | 28 counter u32 | 32 n_recent u32 | 36..47 zero
//   3 recent  storage  [rows, WINDOW] u32              read (first n_recent entries of each row)
//   4 ids     storage  [rows] u32                      write
//   5 lp      storage  [rows, 1 + 2 * TOP] u32         write, only in the LOGPROBS variant:
//        word 0 chosen logprob (f32 bits) | words 1..TOP top ids | words 1+TOP..2*TOP their
//        logprobs (f32 bits), best first, ties by smaller id

struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 }
struct SampleParams {
  temperature: f32, top_k: u32, top_p: f32, min_p: f32,
  repeat_penalty: f32, seed_lo: u32, seed_hi: u32, counter: u32,
  n_recent: u32, _r0: u32, _r1: u32, _r2: u32,
}

override VOCAB: u32;
override WINDOW: u32;            // recent-token slots per row, >= 1
override HT: u32;                // penalty hash slots: power of two >= 2 * WINDOW
override CAP: u32 = 256u;        // candidate slots: power of two in [2, 512], >= TOP
override TOP: u32 = 0u;          // alternatives reported per row (0..5), LOGPROBS variant only
override ROWS_FROM_OUT: u32 = 1u;
override WG: u32 = 256u;         // threads per row: 16, 32, 64, 128 or 256 (a divisor of 256)
const NSEG: u32 = 16u;           // reductions and scans are two-level: NSEG segments of SEG entries
override SEG: u32 = WG / NSEG;
override BPT: u32 = 256u / WG;   // histogram buckets per thread
const NONE: u32 = 0xffffffffu;
const NAN_VAL: f32 = -2e30;
const BIG: f32 = 1e30;
const T_MIN: f32 = 1e-6;

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<SampleParams>;
@group(0) @binding(3) var<storage, read> recent: array<u32>;
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;
#if LOGPROBS
@group(0) @binding(5) var<storage, read_write> lp: array<u32>;
#endif

var<workgroup> ht: array<u32, HT>;
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> n_cand: atomic<u32>;
var<workgroup> red_k: array<u32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> red_f: array<f32, WG>;
var<workgroup> seg_k: array<u32, NSEG>;
var<workgroup> seg_i: array<u32, NSEG>;
var<workgroup> seg_f: array<f32, NSEG>;
var<workgroup> ck: array<u32, CAP>;   // candidate keys, sorted by the order after sort_cands
var<workgroup> ci: array<u32, CAP>;   // candidate token ids
var<workgroup> cw: array<f32, CAP>;   // candidate weights (scratch)
var<workgroup> bc: vec4<u32>;         // thread 0 -> workgroup broadcast (read with workgroupUniformLoad)
var<workgroup> bcf: f32;

var<private> base: u32;
var<private> pen_on: bool;
var<private> pen: f32;

// ---- values, keys, penalty ---------------------------------------------------------------

fn key_of(v: f32) -> u32 {
  var b = bitcast<u32>(v);
  if (b == 0x80000000u) { b = 0u; }
  return select(b | 0x80000000u, ~b, (b >> 31u) == 1u);
}

fn val_of(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k >> 31u) == 1u));
}

fn slot_of(t: u32) -> u32 { return ((t * 0x9e3779b1u) >> 12u) & (HT - 1u); }

fn in_recent(t: u32) -> bool {
  var s = slot_of(t);
  for (var n = 0u; n < HT; n++) {
    let h = ht[s];
    if (h == t) { return true; }
    if (h == NONE) { return false; }
    s = (s + 1u) & (HT - 1u);
  }
  return false;
}

// Penalised, sanitised logit of token i in this row.
fn val(i: u32) -> f32 {
  var v = logits[base + i];
  if (pen_on && in_recent(i)) { v = select(v * pen, v / pen, v > 0.0); }
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) { return NAN_VAL; }
  return clamp(v, -BIG, BIG);
}

fn key(i: u32) -> u32 { return key_of(val(i)); }

// Thread 0 inserts the distinct recent tokens into an open-addressing table.
fn setup_penalty(row: u32, p: SampleParams, lid: u32) {
  for (var s = lid; s < HT; s += WG) { ht[s] = NONE; }
  workgroupBarrier();
  let n = min(p.n_recent, WINDOW);
  pen = p.repeat_penalty;
  pen_on = pen != 1.0 && pen > 0.0 && n > 0u;
  if (lid == 0u && pen_on) {
    for (var j = 0u; j < n; j++) {
      let t = recent[row * WINDOW + j];
      if (t >= VOCAB) { continue; }
      var s = slot_of(t);
      while (ht[s] != NONE && ht[s] != t) { s = (s + 1u) & (HT - 1u); }
      ht[s] = t;
    }
  }
  workgroupBarrier();
}

// ---- order statistics (shaders/lib_select.wgsl) ------------------------------------------

// beats, max_pass, sum_f, scan_u, count_eq, select_rank, ties_before, collect, sort_cands.
#include "lib_select"

// ---- softmax mass ---------------------------------------------------------------------------

// Sum over the vocab of exp((v - m) / t) for entries with key >= kmin (fixed summation order).
fn mass_ge(kmin: u32, m: f32, t: f32, lid: u32) -> f32 {
  var s = 0.0;
  for (var i = lid; i < VOCAB; i += WG) {
    let v = val(i);
    if (key_of(v) >= kmin) { s += exp((v - m) / t); }
  }
  return sum_f(s, lid);
}

// ---- RNG ------------------------------------------------------------------------------------

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn uniform01(p: SampleParams) -> f32 {
  return f32(pcg(p.seed_lo ^ pcg(p.seed_hi ^ pcg(p.counter))) >> 8u) * (1.0 / 16777216.0);
}

// ---- sampling -------------------------------------------------------------------------------

// Thread 0: survivors among the K sorted candidates. Returns n (1..K) if decided there, else 0.
fn survivors_in_cands(p: SampleParams, m: f32, k_eff: u32, kc: u32, zp_in: f32) -> u32 {
  let walk = min(k_eff, kc);
  var n = select(NONE, k_eff, k_eff <= kc);
  if (p.top_p < 1.0) {
    var zp = zp_in;
    if (k_eff <= kc) { zp = 0.0; for (var j = 0u; j < walk; j++) { zp += cw[j]; } }
    let goal_mass = p.top_p * zp;
    var cum = 0.0;
    for (var j = 0u; j < walk; j++) {
      cum += cw[j];
      if (cum >= goal_mass) { n = min(n, j + 1u); break; }
    }
  }
  if (p.min_p > 0.0) {
    let tm = m + log(p.min_p);
    var j = 0u;
    while (j < walk && val_of(ck[j]) >= tm) { j++; }
    if (j < walk) { n = min(n, max(j, 1u)); }
  }
  return select(0u, n, n <= kc);
}

// Draw among the first n sorted candidates; returns (key, id).
fn draw_cands(p: SampleParams, m: f32, t: f32, n: u32, lid: u32) -> vec2<u32> {
  for (var j = lid; j < n; j += WG) { cw[j] = exp((val_of(ck[j]) - m) / t); }
  workgroupBarrier();
  if (lid == 0u) {
    var z = 0.0;
    for (var j = 0u; j < n; j++) { z += cw[j]; }
    let goal_mass = uniform01(p) * z;
    var pick = 0u;
    var cum = 0.0;
    for (var j = 0u; j < n; j++) {
      cum += cw[j];
      if (cw[j] > 0.0) { pick = j; }
      if (cum > goal_mass) { break; }
    }
    bc = vec4<u32>(ck[pick], ci[pick], 0u, 0u);
  }
  return workgroupUniformLoad(&bc).xy;
}

// Top-p over the full vocab: the smallest prefix of the order, within top-k set (ak, bk), whose
// T = 1 mass reaches top_p * zp. Binary search on the key threshold; returns (A, B) of that set.
fn top_p_threshold(p: SampleParams, m: f32, top: vec2<u32>, ak: u32, bk: u32, zp: f32, lid: u32) -> vec2<u32> {
  let goal_mass = p.top_p * zp;
  var lo = ak;           // mass of the top-k set >= goal_mass
  var hi = top.x + 1u;   // mass above the maximum is 0 < goal_mass
  var mass_hi = 0.0;
  while (hi - lo > 1u) {
    let mid = lo + (hi - lo) / 2u;
    let s = mass_ge(mid, m, 1.0, lid);
    if (s >= goal_mass) { lo = mid; } else { hi = mid; mass_hi = s; }
  }
  let e = exp(val_of(lo) - m);
  var avail = count_eq(lo, lid);
  if (lo == ak && bk > 0u) { avail = min(avail, bk); }
  let need = u32(clamp(ceil((goal_mass - mass_hi) / e), 1.0, f32(avail)));
  return vec2<u32>(lo, need);
}

// Draw from {key > A} + {first B entries with key A} in index order (chunked prefix sums).
fn draw_vocab(p: SampleParams, m: f32, t: f32, a: u32, b: u32, lid: u32) -> vec2<u32> {
  let ch = (VOCAB + WG - 1u) / WG;
  let c0 = min(lid * ch, VOCAB);
  let c1 = min(c0 + ch, VOCAB);
  var r0 = 0u;
  if (b > 0u) { r0 = ties_before(a, c0, c1, lid); }
  var s = 0.0;
  var r = r0;
  for (var i = c0; i < c1; i++) {
    let v = val(i);
    let k = key_of(v);
    var take = k > a;
    if (k == a) { take = r < b; r++; }
    if (take) { s += exp((v - m) / t); }
  }
  // Two-level inclusive scan of the chunk sums. Every partial is formed by the same sequence of
  // f32 additions wherever it is needed, so the intervals [ex, nx) are monotone and tile [0, total).
  red_f[lid] = s;
  workgroupBarrier();
  if (lid < NSEG) {
    var acc = 0.0;
    for (var j = lid * SEG; j < lid * SEG + SEG; j++) { acc += red_f[j]; red_f[j] = acc; }
    seg_f[lid] = acc;
  }
  workgroupBarrier();
  var off = 0.0;
  for (var g = 0u; g < lid / SEG; g++) { off += seg_f[g]; }
  let nx = off + red_f[lid];
  let ex = select(off + red_f[max(lid, 1u) - 1u], off, lid % SEG == 0u);
  if (lid == 0u) {
    var acc = 0.0;
    for (var g = 0u; g < NSEG; g++) { acc += seg_f[g]; }
    bcf = acc;
  }
  let total = workgroupUniformLoad(&bcf);
  let goal_mass = min(uniform01(p) * total, bitcast<f32>(bitcast<u32>(total) - 1u));
  if (ex <= goal_mass && goal_mass < nx) {
    let goal = goal_mass - ex;
    var cum = 0.0;
    var pick = vec2<u32>(0u, NONE);
    r = r0;
    for (var i = c0; i < c1; i++) {
      let v = val(i);
      let k = key_of(v);
      var take = k > a;
      if (k == a) { take = r < b; r++; }
      let w = select(0.0, exp((v - m) / t), take);
      if (w > 0.0) { pick = vec2<u32>(k, i); }
      cum += w;
      if (w > 0.0 && cum > goal) { break; }
    }
    bc = vec4<u32>(pick, 0u, 0u);
  }
  return workgroupUniformLoad(&bc).xy;
}

// Everything after the first maximum is known: choose the token for a non-greedy row.
fn sample_row(p: SampleParams, top: vec2<u32>, k_eff: u32, kc: u32, lid: u32) -> vec2<u32> {
  let m = val_of(top.x);
  let t = max(p.temperature, T_MIN);
  var sk = vec3<u32>(0u, 0u, 0u); // top-k set (A, B, C); A = 0, B = 0 is the whole vocab
  if (k_eff < VOCAB && k_eff > kc) { sk = select_rank(k_eff, lid); } // else n <= k_eff <= kc
  var zp = 0.0; // T = 1 mass of the top-k set, the top-p normaliser
  if (p.top_p < 1.0 && k_eff > kc) {
    if (k_eff < VOCAB) { zp = mass_ge(sk.x + 1u, m, 1.0, lid) + f32(sk.y) * exp(val_of(sk.x) - m); }
    else { zp = mass_ge(0u, m, 1.0, lid); }
  }
  for (var j = lid; j < kc; j += WG) { cw[j] = exp(val_of(ck[j]) - m); }
  workgroupBarrier();
  if (lid == 0u) { bc.x = survivors_in_cands(p, m, k_eff, kc, zp); }
  let n = workgroupUniformLoad(&bc).x;
  if (n > 0u) { return draw_cands(p, m, t, n, lid); }
  // Exact full-vocab path: intersect the prefix sets, each written as (A, B).
  var a = sk.x;
  var b = sk.y;
  if (p.min_p > 0.0) {
    let am = min(key_of(m + log(p.min_p)), top.x) - 1u;
    if (am >= a) { a = am; b = 0u; }
  }
  if (p.top_p < 1.0) {
    let s = top_p_threshold(p, m, top, sk.x, sk.y, zp, lid);
    if (s.x > a || (s.x == a && b > 0u && s.y < b)) { a = s.x; b = s.y; }
  }
  return draw_vocab(p, m, t, a, b, lid);
}

#if LOGPROBS
fn write_logprobs(row: u32, p: SampleParams, top: vec2<u32>, chosen: vec2<u32>, lid: u32) {
  let m = val_of(top.x);
  let t = select(1.0, max(p.temperature, T_MIN), p.temperature > 0.0);
  let lse = log(mass_ge(0u, m, t, lid));
  if (lid == 0u) {
    let o = row * (1u + 2u * TOP);
    lp[o] = bitcast<u32>((val_of(chosen.x) - m) / t - lse);
    for (var j = 0u; j < TOP; j++) {
      lp[o + 1u + j] = ci[j];
      lp[o + 1u + TOP + j] = bitcast<u32>((val_of(ck[j]) - m) / t - lse);
    }
  }
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = select(step.n_tokens, step.n_out, ROWS_FROM_OUT == 1u);
  let row = wg.y * nwg.x + wg.x;
  if (row >= rows) { return; } // uniform per workgroup, so the barriers below are safe
  let p = params[row];
  base = row * VOCAB;
  setup_penalty(row, p, lid);
  let top = max_pass(lid);
  let greedy = !(p.temperature > 0.0) || p.top_k == 1u;
  let k_eff = select(VOCAB, min(p.top_k, VOCAB), p.top_k > 0u);
  // Candidates: enough to decide the filters (when they can be decided) and to report TOP.
  let filters = k_eff <= CAP || p.top_p < 1.0 || p.min_p > 0.0;
  var kc = select(0u, min(k_eff, CAP), !greedy && filters);
#if LOGPROBS
  kc = max(kc, TOP);
#endif
  kc = min(kc, VOCAB);
  if (kc > 1u) {
    collect(select_rank(kc, lid), kc, lid);
  } else if (kc == 1u) {
    if (lid == 0u) { ck[0] = top.x; ci[0] = top.y; }
    workgroupBarrier();
  }
  var chosen = top;
  if (!greedy) { chosen = sample_row(p, top, k_eff, kc, lid); }
  if (lid == 0u) { ids[row] = chosen.y; }
#if LOGPROBS
  write_logprobs(row, p, top, chosen, lid);
#endif
}
