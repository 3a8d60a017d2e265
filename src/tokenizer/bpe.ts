// Byte-level BPE (llama.cpp's llm_tokenizer_bpe): split text into words with the pre-tokenizer,
// spell each word in the GPT-2 byte alphabet, then apply merges lowest rank first.
import { Heap } from './heap.js';
import { regexSplit } from './regex-split.js';
import { byteEncode } from './unicode.js';
import type { Vocab } from './vocab.js';

interface Bigram { left: number; right: number; rank: number; text: string }

// Lowest rank first; on ties the leftmost pair (llm_bigram_bpe::comparator).
const before = (a: Bigram, b: Bigram) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

const CACHE_LIMIT = 50_000;

export class BpeTokenizer {
  // Natural text repeats words constantly; caching their ids skips the merge loop.
  private readonly cache = new Map<string, readonly number[]>();

  constructor(private readonly v: Vocab) {}

  /** Tokenizes one raw-text fragment (no special tokens in it); appends ids to `out`. */
  tokenize(text: string, out: number[]): void {
    for (const word of regexSplit(text, this.v.pre!.exprs)) {
      let ids = this.cache.get(word);
      if (!ids) {
        ids = this.encodeWord(byteEncode(word));
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  private encodeWord(word: string): number[] {
    const v = this.v;
    const whole = v.tokenToId.get(word);
    if (whole !== undefined && v.pre!.ignoreMerges) return [whole];

    const sym: string[] = [];
    for (const ch of word) sym.push(ch);
    const n = sym.length;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }

    const queue = new Heap<Bigram>(before);
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const rank = v.merges!.get(sym[left]! + '\n' + sym[right]!);
      if (rank !== undefined) queue.push({ left, right, rank, text: sym[left]! + sym[right]! });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);

    for (let b = queue.pop(); b; b = queue.pop()) {
      const l = sym[b.left]!;
      const r = sym[b.right]!;
      if (l.length === 0 || r.length === 0 || l + r !== b.text) continue; // stale pair
      sym[b.left] = b.text;
      sym[b.right] = '';
      next[b.left] = next[b.right]!;
      if (next[b.right]! >= 0) prev[next[b.right]!] = b.left;
      tryAdd(prev[b.left]!, b.left);
      tryAdd(b.left, next[b.left]!);
    }

    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      if (sym[i] === '') continue;
      const id = v.tokenToId.get(sym[i]!);
      if (id !== undefined) { ids.push(id); continue; }
      // No token for this piece: llama.cpp looks up each of its bytes as a one-byte string,
      // which only ever finds ASCII characters; the rest are dropped.
      for (const ch of sym[i]!) {
        const c = ch.charCodeAt(0);
        const byteId = c < 0x80 ? v.tokenToId.get(ch) : undefined;
        if (byteId !== undefined) ids.push(byteId);
      }
    }
    return ids;
  }
}
