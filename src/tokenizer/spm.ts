// SentencePiece-style BPE (llama.cpp's llm_tokenizer_spm): start from single characters and keep
// merging the adjacent pair whose concatenation is the highest-scoring vocabulary token.
import { Heap } from './heap.js';
import { utf8 } from './unicode.js';
import type { Vocab } from './vocab.js';

const CACHE_LIMIT = 50_000;
/** Longer pieces (text with no cut in it: long space runs, CJK, base64) are merged, not kept. */
const CACHE_MAX_PIECE = 64;
const pairKey = (a: number, b: number) => a * 0x110000 + b;

/**
 * The merge loop is run on pieces of the text, not on all of it at once: every merge makes a
 * vocabulary token, so no merge ever spans two adjacent characters that appear next to each other
 * in no token. Cutting the text there gives the same tokens as one pass (llama.cpp's), with small
 * queues instead of one the size of the prompt, and pieces that repeat (words, mostly) cached.
 */
export class SpmTokenizer {
  private readonly cache = new Map<string, readonly number[]>();
  /** pairKey of every two characters adjacent inside some token. */
  private readonly innerPairs: Set<number>;

  constructor(private readonly v: Vocab) {
    this.innerPairs = innerPairsOf(v);
  }

  /** Tokenizes text whose spaces are already escaped as "▁"; appends ids to `out`. */
  tokenize(text: string, out: number[]): void {
    const pairs = this.innerPairs;
    let from = 0;
    let prevCp = -1;
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      if (prevCp >= 0 && !pairs.has(pairKey(prevCp, cp))) {
        this.piece(text.slice(from, i), out);
        from = i;
      }
      prevCp = cp;
      i += cp > 0xffff ? 2 : 1;
    }
    if (from < text.length) this.piece(text.slice(from), out);
  }

  private piece(text: string, out: number[]): void {
    if (text.length > CACHE_MAX_PIECE) return mergePiece(this.v, text, out);
    let ids = this.cache.get(text);
    if (!ids) {
      const fresh: number[] = [];
      mergePiece(this.v, text, fresh);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(text, (ids = fresh));
    }
    for (const id of ids) out.push(id);
  }
}

function innerPairsOf(v: Vocab): Set<number> {
  const pairs = new Set<number>();
  for (const token of v.tokenToId.keys()) {
    let prev = -1;
    for (let i = 0; i < token.length; i++) {
      const cp = token.codePointAt(i)!;
      if (prev >= 0) pairs.add(pairKey(prev, cp));
      prev = cp;
      if (cp > 0xffff) i++;
    }
  }
  return pairs;
}

/** llama.cpp's merge loop on one piece; appends ids to `out`. */
function mergePiece(v: Vocab, text: string, out: number[]): void {
  // Symbols start as the characters of the text, kept as a linked list so merges are O(1). A
  // symbol is always a contiguous range of the text, kept as (start, length) in UTF-16 units.
  const start: number[] = [];
  for (let i = 0; i < text.length; i++) {
    start.push(i);
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) i++; // a surrogate pair is one character
  }
  const n = start.length;
  if (n === 0) return;
  const len = new Int32Array(n); // 0 once merged into its left neighbour
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    len[i] = (i + 1 < n ? start[i + 1]! : text.length) - start[i]!;
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }

  // Queued pairs, by index: each merge queues at most two, so 3n bounds them.
  const cap = 3 * n;
  const pairLeft = new Int32Array(cap), pairLen = new Int32Array(cap), pairRight = new Int32Array(cap);
  const pairScore = new Float32Array(cap);
  let numPairs = 0;
  // Highest score first; on ties the leftmost pair, as llm_bigram_spm::comparator orders them.
  const queue = new Heap<number>((a, b) => pairScore[a]! > pairScore[b]! || (pairScore[a] === pairScore[b] && pairLeft[a]! < pairLeft[b]!));
  const tryAdd = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const size = len[left]! + len[right]!;
    const id = v.tokenToId.get(text.slice(start[left]!, start[left]! + size));
    if (id === undefined) return;
    pairLeft[numPairs] = left; pairRight[numPairs] = right; pairLen[numPairs] = size; pairScore[numPairs] = v.scores[id]!;
    queue.push(numPairs++);
  };
  for (let i = 1; i < n; i++) tryAdd(i - 1, i);

  for (let p = queue.pop(); p !== undefined; p = queue.pop()) {
    const l = pairLeft[p]!, r = pairRight[p]!;
    // Skip pairs made stale by an earlier merge of either side.
    if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== pairLen[p]) continue;
    len[l] = pairLen[p]!;
    len[r] = 0;
    next[l] = next[r]!;
    if (next[r]! >= 0) prev[next[r]!] = l;
    tryAdd(prev[l]!, l);
    tryAdd(l, next[l]!);
  }

  for (let i = 0; i !== -1; i = next[i]!) {
    const piece = text.slice(start[i]!, start[i]! + len[i]!);
    const id = v.tokenToId.get(piece);
    if (id !== undefined) out.push(id);
    else for (const byte of utf8(piece)) pushByte(v, byte, out);
  }
}

/** llama.cpp's byte_to_token for SPM: "<0xNN>", else the byte as a one-character token. */
function pushByte(v: Vocab, byte: number, out: number[]): void {
  const hex = byte.toString(16).toUpperCase().padStart(2, '0');
  let id = v.tokenToId.get(`<0x${hex}>`);
  if (id === undefined && byte < 0x80) id = v.tokenToId.get(String.fromCharCode(byte));
  // llama.cpp throws here; a vocabulary without byte tokens gets <unk> instead.
  id ??= v.unk;
  if (id !== undefined) out.push(id);
}
