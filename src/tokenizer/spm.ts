// SentencePiece-style BPE (llama.cpp's llm_tokenizer_spm): start from single characters and keep
// merging the adjacent pair whose concatenation is the highest-scoring vocabulary token.
import { Heap } from './heap.js';
import { utf8 } from './unicode.js';
import type { Vocab } from './vocab.js';

interface Bigram { left: number; right: number; score: number; size: number }

// Highest score first; on ties the leftmost pair, as llm_bigram_spm::comparator orders them.
const before = (a: Bigram, b: Bigram) => a.score > b.score || (a.score === b.score && a.left < b.left);

/** Tokenizes text whose spaces are already escaped as "▁"; appends ids to `out`. */
export function spmTokenize(v: Vocab, text: string, out: number[]): void {
  // Symbols are the characters of the text, kept as a linked list so merges are O(1).
  const sym: string[] = [];
  for (const ch of text) sym.push(ch);
  const n = sym.length;
  if (n === 0) return;
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }

  const queue = new Heap<Bigram>(before);
  const tryAdd = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const merged = sym[left]! + sym[right]!;
    const id = v.tokenToId.get(merged);
    if (id === undefined) return;
    queue.push({ left, right, score: v.scores[id]!, size: merged.length });
  };
  for (let i = 1; i < n; i++) tryAdd(i - 1, i);

  for (let b = queue.pop(); b; b = queue.pop()) {
    const l = sym[b.left]!;
    const r = sym[b.right]!;
    // Skip pairs made stale by an earlier merge of either side.
    if (l.length === 0 || r.length === 0 || l.length + r.length !== b.size) continue;
    sym[b.left] = l + r;
    sym[b.right] = '';
    next[b.left] = next[b.right]!;
    if (next[b.right]! >= 0) prev[next[b.right]!] = b.left;
    tryAdd(prev[b.left]!, b.left);
    tryAdd(b.left, next[b.left]!);
  }

  for (let i = 0; i !== -1; i = next[i]!) {
    const id = v.tokenToId.get(sym[i]!);
    if (id !== undefined) out.push(id);
    else for (const byte of utf8(sym[i]!)) pushByte(v, byte, out);
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
