// lib_select: workgroup-wide order statistics over one logits row, for shaders/sample.wgsl:
// first-maximum and sum reductions, prefix scans, a radix select of the n-th entry of the order,
// and collecting plus bitonic-sorting the first n entries. Inlined with `#include "lib_select"`.
//
// "Order" means: larger key first, smaller index first on ties (beats). Keys come from the
// includer's key(i), so the penalty and NaN rules stay in one place (sample.wgsl).
// Every function contains barriers: call it from uniform control flow only.
//
// Bindings: none of its own. It owns no declarations either, so the includer's workgroup memory
// budget stays visible in one file. The includer must declare:
//   override VOCAB, WG (threads per row), SEG = WG / NSEG, BPT = 256 / WG, CAP; const NSEG, NONE
//   fn key(i: u32) -> u32                       order-preserving u32 key of entry i of the row
//   var<workgroup> hist: array<atomic<u32>, 256>;   radix histogram, one digit (8 bits) at a time
//   var<workgroup> n_cand: atomic<u32>;             candidates collected so far
//   var<workgroup> red_k, red_i: array<u32, WG>;    per-thread partials (keys / indices / counts)
//   var<workgroup> red_f: array<f32, WG>;           per-thread f32 partials
//   var<workgroup> seg_k, seg_i: array<u32, NSEG>;  per-segment partials
//   var<workgroup> seg_f: array<f32, NSEG>;
//   var<workgroup> ck, ci: array<u32, CAP>;         candidate keys / token ids (collect output)
//   var<workgroup> bc: vec4<u32>; bcf: f32;         thread 0 -> workgroup broadcast

// ---- workgroup reductions and scans (call from uniform control flow) ----------------------

fn beats(ka: u32, ia: u32, kb: u32, ib: u32) -> bool { return ka > kb || (ka == kb && ia < ib); }

// Reductions and scans are two-level (NSEG threads each walk SEG entries, then the NSEG partials
// are combined in a fixed order): few barriers, and a deterministic summation order.

// (key, index) of the first entry of the order: the first maximum.
fn max_pass(lid: u32) -> vec2<u32> {
  var bk = 0u;
  var bi = NONE;
  for (var i = lid; i < VOCAB; i += WG) {
    let k = key(i);
    if (beats(k, i, bk, bi)) { bk = k; bi = i; }
  }
  red_k[lid] = bk;
  red_i[lid] = bi;
  workgroupBarrier();
  if (lid < NSEG) {
    bk = red_k[lid * SEG];
    bi = red_i[lid * SEG];
    for (var j = lid * SEG + 1u; j < lid * SEG + SEG; j++) {
      if (beats(red_k[j], red_i[j], bk, bi)) { bk = red_k[j]; bi = red_i[j]; }
    }
    seg_k[lid] = bk;
    seg_i[lid] = bi;
  }
  workgroupBarrier();
  if (lid == 0u) {
    for (var j = 1u; j < NSEG; j++) {
      if (beats(seg_k[j], seg_i[j], bk, bi)) { bk = seg_k[j]; bi = seg_i[j]; }
    }
    bc = vec4<u32>(bk, bi, 0u, 0u);
  }
  return workgroupUniformLoad(&bc).xy;
}

fn sum_f(x: f32, lid: u32) -> f32 {
  red_f[lid] = x;
  workgroupBarrier();
  if (lid < NSEG) {
    var a = 0.0;
    for (var j = lid * SEG; j < lid * SEG + SEG; j++) { a += red_f[j]; }
    seg_f[lid] = a;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var a = 0.0;
    for (var j = 0u; j < NSEG; j++) { a += seg_f[j]; }
    bcf = a;
  }
  return workgroupUniformLoad(&bcf);
}

// Inclusive prefix sum of x over lid.
fn scan_u(x: u32, lid: u32) -> u32 {
  red_k[lid] = x;
  workgroupBarrier();
  if (lid < NSEG) {
    var a = 0u;
    for (var j = lid * SEG; j < lid * SEG + SEG; j++) { a += red_k[j]; red_k[j] = a; }
    seg_k[lid] = a;
  }
  workgroupBarrier();
  var r = red_k[lid];
  for (var g = 0u; g < lid / SEG; g++) { r += seg_k[g]; }
  return r;
}

fn count_eq(k: u32, lid: u32) -> u32 {
  var c = 0u;
  for (var i = lid; i < VOCAB; i += WG) { c += select(0u, 1u, key(i) == k); }
  let incl = scan_u(c, lid);
  if (lid == WG - 1u) { bc.x = incl; }
  return workgroupUniformLoad(&bc).x;
}

// ---- selection ------------------------------------------------------------------------------

// The n-th entry of the order (1 <= n <= VOCAB) as (A, B, C): its key A, B = how many entries
// with key A belong to the first n (by index), C = how many entries have key A.
fn select_rank(n: u32, lid: u32) -> vec3<u32> {
  var prefix = 0u;
  var mask = 0u;
  var rem = n;
  var cnt = 0u;
  for (var b = lid; b < 256u; b += WG) { atomicStore(&hist[b], 0u); }
  workgroupBarrier();
  let own0 = 255u - lid * BPT; // thread lid owns buckets own0, own0 - 1, ..: the scan runs from the top
  for (var digit = 0u; digit < 4u; digit++) {
    let shift = 24u - 8u * digit;
    for (var i = lid; i < VOCAB; i += WG) {
      let k = key(i);
      if ((k & mask) == prefix) { atomicAdd(&hist[(k >> shift) & 255u], 1u); }
    }
    workgroupBarrier();
    var own = 0u;
    for (var q = 0u; q < BPT; q++) { own += atomicLoad(&hist[own0 - q]); }
    let incl = scan_u(own, lid);
    var above = incl - own; // entries in buckets above this thread's
    if (above < rem && incl >= rem) {
      for (var q = 0u; q < BPT; q++) {
        let c = atomicLoad(&hist[own0 - q]);
        if (above + c >= rem) { bc = vec4<u32>(own0 - q, rem - above, c, 0u); break; }
        above += c;
      }
    }
    // Ready for the next digit: only this thread touches its buckets until the barrier below.
    for (var q = 0u; q < BPT; q++) { atomicStore(&hist[own0 - q], 0u); }
    let r = workgroupUniformLoad(&bc);
    prefix |= r.x << shift;
    mask |= 255u << shift;
    rem = r.y;
    cnt = r.z;
  }
  return vec3<u32>(prefix, rem, cnt);
}

// Entries with key A before this thread's chunk (chunks are contiguous index ranges).
fn ties_before(a: u32, c0: u32, c1: u32, lid: u32) -> u32 {
  var t = 0u;
  for (var i = c0; i < c1; i++) { t += select(0u, 1u, key(i) == a); }
  return scan_u(t, lid) - t;
}

// Fills ck/ci with the first s_n entries of the order, s = select_rank(s_n), then sorts them.
fn collect(s: vec3<u32>, s_n: u32, lid: u32) {
  for (var j = lid; j < CAP; j += WG) { ck[j] = 0u; ci[j] = NONE; }
  if (lid == 0u) { atomicStore(&n_cand, 0u); }
  let ch = (VOCAB + WG - 1u) / WG;
  let c0 = min(lid * ch, VOCAB);
  let c1 = min(c0 + ch, VOCAB);
  var r = 0u;
  if (s.y < s.z) { r = ties_before(s.x, c0, c1, lid); }
  workgroupBarrier();
  for (var i = c0; i < c1; i++) {
    let k = key(i);
    var take = k > s.x;
    if (k == s.x) { take = r < s.y; r++; }
    if (take) {
      let j = atomicAdd(&n_cand, 1u);
      ck[j] = k;
      ci[j] = i;
    }
  }
  workgroupBarrier();
  var np2 = 2u;
  while (np2 < s_n) { np2 <<= 1u; }
  sort_cands(np2, lid);
}

// Bitonic sort of ck/ci[0 .. np2) into the order (empty slots have key 0 and sort last).
fn sort_cands(np2: u32, lid: u32) {
  for (var size = 2u; size <= np2; size <<= 1u) {
    for (var stride = size >> 1u; stride > 0u; stride >>= 1u) {
      for (var t = lid; t < np2 / 2u; t += WG) {
        let lo = 2u * t - (t & (stride - 1u));
        let hi = lo + stride;
        let fwd = (lo & size) == 0u;
        if (select(beats(ck[lo], ci[lo], ck[hi], ci[hi]), beats(ck[hi], ci[hi], ck[lo], ci[lo]), fwd)) {
          let k = ck[lo]; ck[lo] = ck[hi]; ck[hi] = k;
          let i = ci[lo]; ci[lo] = ci[hi]; ci[hi] = i;
        }
      }
      workgroupBarrier();
    }
  }
}
