// SentencePiece BPE the slow, obvious way, as the oracle for src/tokenizer/spm.ts: over the whole
// text at once, merge the adjacent pair whose concatenation is the highest-scoring token (the
// leftmost on ties) until no pair is a token; unmatched pieces fall back to byte tokens.
import type { Vocab } from '../../src/tokenizer/vocab.js';

export function referenceSpm(v: Vocab, text: string): number[] {
  const sym = [...text];
  for (;;) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i + 1 < sym.length; i++) {
      const id = v.tokenToId.get(sym[i]! + sym[i + 1]!);
      if (id !== undefined && v.scores[id]! > bestScore) { best = i; bestScore = v.scores[id]!; }
    }
    if (best < 0) break;
    sym.splice(best, 2, sym[best]! + sym[best + 1]!);
  }
  const out: number[] = [];
  for (const s of sym) {
    const id = v.tokenToId.get(s);
    if (id !== undefined) { out.push(id); continue; }
    for (const byte of new TextEncoder().encode(s)) {
      const hex = byte.toString(16).toUpperCase().padStart(2, '0');
      const b = v.tokenToId.get(`<0x${hex}>`) ?? (byte < 0x80 ? v.tokenToId.get(String.fromCharCode(byte)) : undefined) ?? v.unk;
      if (b !== undefined) out.push(b);
    }
  }
  return out;
}
