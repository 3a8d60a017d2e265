// WordPiece (llama.cpp's llm_tokenizer_wpm, used by BERT models): normalise, split on spaces and
// punctuation, then take the longest vocabulary match from the left. Word-initial pieces carry
// a "▁" prefix in GGUF vocabularies ("##" continuations were stripped at conversion).
import { CPT_CONTROL, CPT_MARK, CPT_PUNCTUATION, CPT_SYMBOL, CPT_WHITESPACE, cptFlags, nfdFirst, toLowerCpt } from './unicode.js';
import type { Vocab } from './vocab.js';

function isChineseChar(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf)
    || (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f)
    || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) // sic: HF uses 0x2B920
    || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

function splitWords(v: Vocab, text: string): string[] {
  const words: string[] = [''];
  const finish = () => { if (words[words.length - 1] !== '') words.push(''); };
  for (const ch of text) {
    let cp = ch.codePointAt(0)!;
    if (v.stripAccents) cp = nfdFirst(cp);
    const f = cptFlags(cp);
    if (f & CPT_WHITESPACE) { finish(); continue; }
    if (cp === 0 || cp === 0xfffd || f & CPT_CONTROL) continue;
    if (v.stripAccents && f & CPT_MARK) continue;
    const s = String.fromCodePoint(v.lowercase ? toLowerCpt(cp) : cp);
    if (f & CPT_PUNCTUATION || (cp < 0x7f && f & CPT_SYMBOL) || isChineseChar(cp)) {
      finish();
      words[words.length - 1] = s; // a word of its own
      words.push('');
    } else {
      words[words.length - 1] += s;
    }
  }
  if (words[words.length - 1] === '') words.pop();
  return words;
}

export function wpmTokenize(v: Vocab, text: string, out: number[]): void {
  for (const word of splitWords(v, text)) {
    if (word === '') continue;
    const w = '▁' + word;
    const start = out.length;
    for (let i = 0; i < w.length;) {
      let j = Math.min(w.length, i + v.maxTokenLen);
      let id: number | undefined;
      for (; j > i; j--) if ((id = v.tokenToId.get(w.slice(i, j))) !== undefined) break;
      if (id === undefined) { out.length = start; break; } // one unknown piece voids the word
      out.push(id);
      i = j;
    }
    if (out.length === start && v.unk !== undefined) out.push(v.unk);
  }
}
