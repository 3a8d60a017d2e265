// Token sampling on the CPU from one row of logits, with llama.cpp's sampler-chain semantics in
// llama.cpp's default order: repetition penalty, top-k, top-p, min-p, temperature, softmax, draw.
// Candidates are kept as index lists so a 128k vocabulary never gets fully sorted: top-k uses a
// quickselect, and top-p first drops tokens too unlikely to ever be in the nucleus.
import { FridayError } from '../api/errors.js';
import type { Rng } from './rng.js';

export interface SamplingParams {
  /** <= 0: greedy (argmax after the repetition penalty, first index on ties). */
  temperature: number;
  /** Keep the k most likely tokens; <= 0 disables. */
  topK: number;
  /** Keep the smallest most-likely set whose probability reaches topP (0 keeps one); >= 1 disables. */
  topP: number;
  /** Drop tokens with probability < minP * p(most likely); <= 0 disables. */
  minP: number;
  /** llama.cpp repeat penalty: logit > 0 ? logit / penalty : logit * penalty; 1 disables. */
  repeatPenalty: number;
  /** How many of the most recent tokens the penalty looks at: default 64 (llama.cpp's),
   *  0 disables, -1 means all of recentTokens. */
  repeatLastN?: number;
  /** Tokens seen so far (prompt and generated), oldest first. */
  recentTokens?: readonly number[];
}

/** Candidate token ids, optionally sorted by logit descending (ties: lower id first). */
interface Candidates {
  ids: Uint32Array;
  sorted: boolean;
}

export function sampleToken(logits: Float32Array, params: SamplingParams, rng: Rng): number {
  checkParams(params);
  const l = applyRepeatPenalty(logits, params); // [vocab] f32, a copy when penalized
  if (params.temperature <= 0) return argmax(l);
  let cand = topK(l, params.topK);
  if (params.topP < 1) cand = topP(l, cand, params.topP);
  if (params.minP > 0) cand = minP(l, cand, params.minP);
  return draw(l, cand, params.temperature, rng);
}

/** First index of the maximum. */
export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function checkParams(p: SamplingParams): void {
  const bad = (what: string) => { throw new FridayError('INVALID_REQUEST', `Invalid sampling parameter: ${what}.`, { params: { ...p, recentTokens: undefined } }); };
  if (Number.isNaN(p.temperature)) bad('temperature is NaN');
  if (!Number.isInteger(p.topK)) bad(`top_k ${p.topK} must be an integer`);
  if (!(p.topP >= 0)) bad(`top_p ${p.topP} must be at least 0`);
  if (!(p.minP >= 0 && p.minP <= 1)) bad(`min_p ${p.minP} must be in [0, 1]`);
  if (!(p.repeatPenalty > 0) || !Number.isFinite(p.repeatPenalty)) bad(`repeat_penalty ${p.repeatPenalty} must be a positive number`);
}

/** llama_sampler_penalties: each distinct token among the last repeatLastN is penalized once. */
function applyRepeatPenalty(logits: Float32Array, p: SamplingParams): Float32Array {
  const recent = p.recentTokens ?? [];
  const lastN = p.repeatLastN ?? 64;
  if (p.repeatPenalty === 1 || lastN === 0 || recent.length === 0) return logits;
  const out = Float32Array.from(logits);
  const seen = new Set<number>();
  for (let i = lastN < 0 ? 0 : Math.max(0, recent.length - lastN); i < recent.length; i++) {
    const tok = recent[i]!;
    if (seen.has(tok) || !(tok >= 0 && tok < out.length)) continue;
    seen.add(tok);
    const v = out[tok]!;
    out[tok] = v <= 0 ? v * p.repeatPenalty : v / p.repeatPenalty;
  }
  return out;
}

/** The k largest logits, sorted; all tokens (unsorted) when k <= 0 or k >= vocab. */
function topK(l: Float32Array, k: number): Candidates {
  const n = l.length;
  if (k <= 0 || k >= n) return { ids: iota(n), sorted: false };
  const thr = kthLargest(Float32Array.from(l), k);
  const ids = new Uint32Array(k);
  let m = 0;
  for (let i = 0; i < n && m < k; i++) if (l[i]! > thr) ids[m++] = i;
  for (let i = 0; i < n && m < k; i++) if (l[i] === thr) ids[m++] = i; // ties: lowest ids
  return { ids: sortByLogit(l, ids), sorted: true };
}

/** llama_sampler_top_p: softmax over the candidates, keep the sorted prefix up to and including
 *  the token where the cumulative probability first reaches p (at least one token). */
function topP(l: Float32Array, cand: Candidates, p: number): Candidates {
  const probs = softmaxOver(l, cand.ids, 1); // [vocab] f64, only candidate entries set
  let ids = cand.ids;
  if (!cand.sorted) {
    // A token with probability below (1 - p) / (m - 1) has more than p of mass above it, so it
    // can never be in the nucleus: skip it before sorting (the argmax always stays).
    const cutoff = (1 - p) / Math.max(1, ids.length - 1);
    const best = argmaxOf(l, ids);
    ids = ids.filter((id) => probs[id]! >= cutoff || id === best);
    ids = sortByLogit(l, ids);
  }
  let cum = 0;
  for (let i = 0; i < ids.length; i++) {
    cum += probs[ids[i]!]!;
    if (cum >= p) return { ids: ids.subarray(0, i + 1), sorted: true };
  }
  return { ids, sorted: true };
}

/** llama_sampler_min_p: keep logits >= max + ln(p), i.e. probability >= p * max probability. */
function minP(l: Float32Array, cand: Candidates, p: number): Candidates {
  const minLogit = l[argmaxOf(l, cand.ids)]! + Math.log(p);
  const ids = cand.ids.filter((id) => l[id]! >= minLogit);
  return { ids, sorted: cand.sorted };
}

/** Temperature, softmax over the survivors, then one uniform draw walked along their order. */
function draw(l: Float32Array, cand: Candidates, temperature: number, rng: Rng): number {
  const probs = softmaxOver(l, cand.ids, temperature);
  const r = rng.nextFloat();
  let cdf = 0;
  for (let i = 0; i < cand.ids.length; i++) {
    cdf += probs[cand.ids[i]!]!;
    if (r < cdf) return cand.ids[i]!;
  }
  return cand.ids[cand.ids.length - 1]!; // r landed in the rounding gap below 1
}

/** softmax(l[id] / temperature) over ids, into a fresh [vocab] f64 array (other entries 0). */
function softmaxOver(l: Float32Array, ids: Uint32Array, temperature: number): Float64Array {
  const out = new Float64Array(l.length);
  const max = l[argmaxOf(l, ids)]! / temperature;
  let sum = 0;
  for (const id of ids) {
    out[id] = Math.exp(l[id]! / temperature - max);
    sum += out[id]!;
  }
  for (const id of ids) out[id] = out[id]! / sum;
  return out;
}

function argmaxOf(l: Float32Array, ids: Uint32Array): number {
  let best = ids[0]!;
  for (const id of ids) if (l[id]! > l[best]!) best = id;
  return best;
}

function sortByLogit(l: Float32Array, ids: Uint32Array): Uint32Array {
  return Uint32Array.from(Array.from(ids).sort((a, b) => l[b]! - l[a]! || a - b));
}

function iota(n: number): Uint32Array {
  const ids = new Uint32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  return ids;
}

/** The k-th largest value (1-based) of `a`, by in-place quickselect (a is scratch). */
function kthLargest(a: Float32Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  const target = k - 1; // index in descending order
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) { const t = a[i]!; a[i] = a[j]!; a[j] = t; i++; j--; }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}
