// llama.cpp's tokenizer_st_partition: cut special-token texts out of the input before the
// model's own tokenizer sees it. Tokens are tried longest first, each over all remaining text.
import { ATTR_CONTROL, ATTR_LSTRIP, ATTR_RSTRIP, ATTR_UNKNOWN, type Vocab } from './vocab.js';

/** A piece of input: raw text still to tokenize, or a special token already recognised. */
export type Fragment = string | number;

// C isspace(): llama.cpp strips with it, so only ASCII whitespace counts.
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';

export function partition(v: Vocab, text: string, parseSpecial: boolean): Fragment[] {
  let frags: Fragment[] = text === '' ? [] : [text];
  for (const id of v.specialTokens) {
    const attr = v.attrs[id]!;
    // Without parseSpecial only user-defined tokens are split out (as Hugging Face does).
    if (!parseSpecial && attr & (ATTR_CONTROL | ATTR_UNKNOWN)) continue;
    const needle = v.tokens[id]!;
    if (!frags.some((f) => typeof f === 'string' && f.includes(needle))) continue;
    const next: Fragment[] = [];
    for (const f of frags) {
      if (typeof f === 'number') next.push(f);
      else splitOn(f, needle, id, attr, next);
    }
    frags = next;
  }
  return frags;
}

function splitOn(text: string, needle: string, id: number, attr: number, out: Fragment[]): void {
  let from = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, from)) {
    let leftEnd = at;
    if (attr & ATTR_LSTRIP) while (leftEnd > from && isSpace(text[leftEnd - 1])) leftEnd--;
    if (leftEnd > from) out.push(text.slice(from, leftEnd));
    out.push(id);
    from = at + needle.length;
    if (attr & ATTR_RSTRIP) while (from < text.length && isSpace(text[from])) from++;
  }
  if (from < text.length) out.push(text.slice(from));
}
