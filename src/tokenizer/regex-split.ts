// Pre-tokenizer splitting, ported from llama.cpp's unicode_regex_split. Each expression splits
// every piece produced by the previous one; text between matches is kept as its own piece.
// The GPT-2 and Llama-3 expressions use llama.cpp's hand-written splitters; the others run as JS
// regexes over the same "collapsed" text llama.cpp feeds std::regex (every non-ASCII codepoint
// replaced by one byte standing for its category), so \p{..} and \s behave exactly as there.
import { CPT_CATEGORIES, CPT_LETTER, CPT_MARK, CPT_NUMBER, CPT_PUNCTUATION, CPT_SYMBOL, CPT_WHITESPACE, cptFlags, codepoints, fromCodepoints, toLowerCpt } from './unicode.js';

export const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
export const LLAMA3_REGEX = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Stand-in bytes for non-ASCII codepoints of each category, and the ASCII members of it.
const COLLAPSE: Record<string, { flag: number; code: number; ascii: string }> = {
  '\\p{N}': { flag: CPT_NUMBER, code: 0xd1, ascii: '0-9' },
  '\\p{L}': { flag: CPT_LETTER, code: 0xd2, ascii: 'A-Za-z' },
  '\\p{P}': { flag: CPT_PUNCTUATION, code: 0xd3, ascii: '!-#%-*,-/:-;?-@\\[-\\]_\\{\\}' },
  '\\p{M}': { flag: CPT_MARK, code: 0xd4, ascii: '' },
  '\\p{S}': { flag: CPT_SYMBOL, code: 0xd5, ascii: '\\$\\+<->^`\\|' },
};
const COLLAPSED_CODE = new Map(Object.values(COLLAPSE).map((c) => [c.flag, c.code]));
const COLLAPSED_OTHER = 0xd0;
const COLLAPSED_SPACE = 0x0b; // std::regex's \s only knows ASCII spaces; vertical tab stands in

const usesCategories = (expr: string) => Object.keys(COLLAPSE).some((k) => expr.includes(k));

/** llama.cpp's rewrite of \p{X} into a class over the collapsed alphabet. */
function collapseRegex(expr: string): RegExp {
  let out = '';
  let inside = false;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '[' && (i === 0 || expr[i - 1] !== '\\')) { out += '['; inside = true; continue; }
    if (inside && c === ']' && expr[i - 1] !== '\\') { out += ']'; inside = false; continue; }
    const cat = c === '\\' && expr[i + 2] === '{' && expr[i + 4] === '}' ? COLLAPSE[expr.slice(i, i + 5)] : undefined;
    if (cat) {
      const cls = String.fromCharCode(cat.code) + cat.ascii;
      out += inside ? cls : `[${cls}]`;
      i += 4;
      continue;
    }
    out += c;
  }
  return new RegExp(out, 'g');
}

/** Expressions without categories run on real codepoints; \s keeps std::wregex's ASCII meaning. */
function plainRegex(expr: string): RegExp {
  let out = '';
  let inside = false;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '\\') {
      const e = expr[i + 1];
      if (e === 's') out += inside ? '\\t-\\r ' : '[\\t-\\r ]';
      else if (e === 'S' && !inside) out += '[^\\t-\\r ]';
      else out += c + (e ?? '');
      i++;
      continue;
    }
    if (c === '[' && !inside) inside = true;
    else if (c === ']' && inside) inside = false;
    out += c;
  }
  return new RegExp(out, 'gu');
}

function collapsedText(cpts: Uint32Array): string {
  const units = new Uint32Array(cpts.length);
  for (let i = 0; i < cpts.length; i++) {
    const cp = cpts[i]!;
    if (cp < 0x80) { units[i] = cp; continue; }
    const f = cptFlags(cp);
    units[i] = f & CPT_WHITESPACE ? COLLAPSED_SPACE : (COLLAPSED_CODE.get(f & CPT_CATEGORIES) ?? COLLAPSED_OTHER);
  }
  return fromCodepoints(units);
}

/** Splits each [start, start+len) range of `text` (one UTF-16 unit per codepoint) with `re`. */
function splitCollapsed(text: string, re: RegExp, lengths: number[]): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of lengths) {
    const piece = text.slice(start, start + len);
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(piece); m; m = re.exec(piece)) {
      if (m[0].length === 0) { re.lastIndex++; continue; }
      if (m.index > last) out.push(m.index - last);
      out.push(m[0].length);
      last = m.index + m[0].length;
    }
    if (last < len) out.push(len - last);
    start += len;
  }
  return out;
}

function countCpts(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) i++;
  }
  return n;
}

/** The text with non-ASCII whitespace collapsed to one space, as llama.cpp's plain regexes see it. */
function plainText(cpts: Uint32Array): string {
  return fromCodepoints(cpts.map((cp) => (cp > 0x7f && cptFlags(cp) & CPT_WHITESPACE ? COLLAPSED_SPACE : cp)));
}

/** As splitCollapsed, but on plainText(cpts), where a codepoint may take two UTF-16 units. */
function splitPlain(cpts: Uint32Array, text: string, re: RegExp, lengths: number[]): number[] {
  const out: number[] = [];
  let cp = 0;
  let unit = 0;
  for (const len of lengths) {
    const from = unit;
    for (const end = cp + len; cp < end; cp++) unit += cpts[cp]! > 0xffff ? 2 : 1;
    const piece = text.slice(from, unit);
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(piece); m; m = re.exec(piece)) {
      if (m[0].length === 0) { re.lastIndex++; continue; }
      if (m.index > last) out.push(countCpts(piece.slice(last, m.index)));
      out.push(countCpts(m[0]));
      last = m.index + m[0].length;
    }
    if (last < piece.length) out.push(countCpts(piece.slice(last)));
  }
  return out;
}

/** Walks one range with llama.cpp's conventions: flags are 0 outside it, tokens are added by end position. */
class RangeScanner {
  out: number[] = [];
  private ini = 0;
  private end = 0;
  private prevEnd = 0;
  constructor(private readonly cpts: Uint32Array) {}
  reset(ini: number, end: number): void { this.ini = ini; this.end = end; this.prevEnd = ini; }
  cpt(pos: number): number { return pos >= this.ini && pos < this.end ? this.cpts[pos]! : -1; }
  flags(pos: number): number { return pos >= this.ini && pos < this.end ? cptFlags(this.cpts[pos]!) : 0; }
  add(end: number): number {
    const len = end - this.prevEnd;
    if (len > 0) this.out.push(len);
    this.prevEnd = end;
    return len;
  }
  /** 's 't 're 've 'm 'll 'd at pos; returns the new position or -1. */
  contraction(pos: number, fold: (c: number) => number): number {
    if (this.cpt(pos) !== 0x27 || pos + 1 >= this.end) return -1;
    const a = fold(this.cpt(pos + 1));
    if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return pos + this.add(pos + 2);
    if (pos + 2 >= this.end) return -1;
    const b = fold(this.cpt(pos + 2));
    if ((a === 0x72 && b === 0x65) || (a === 0x76 && b === 0x65) || (a === 0x6c && b === 0x6c)) return pos + this.add(pos + 3);
    return -1;
  }
  /** \s+(?!\S) then \s+ (with \s*[\r\n]+ first when `newlines`). */
  whitespace(pos: number, newlines: boolean): number {
    let n = 0;
    let lastNewline = 0;
    while (this.flags(pos + n) & CPT_WHITESPACE) {
      const c = this.cpt(pos + n);
      if (c === 0x0d || c === 0x0a) lastNewline = pos + n + 1;
      n++;
    }
    if (newlines && lastNewline > 0) { this.add(lastNewline); return lastNewline; }
    if (n > 1 && this.cpt(pos + n) !== -1) { this.add(pos + n - 1); return pos + n - 1; }
    if (n > 0) { this.add(pos + n); return pos + n; }
    this.add(pos + 1);
    return pos + 1;
  }
}

const notWordLike = (f: number) => f !== 0 && !(f & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER));

function splitGpt2(cpts: Uint32Array, lengths: number[]): number[] {
  const s = new RangeScanner(cpts);
  let start = 0;
  for (const len of lengths) {
    s.reset(start, start + len);
    for (let pos = start; pos < start + len;) {
      const c = s.cpt(pos);
      const after = s.contraction(pos, (x) => x);
      if (after >= 0) { pos = after; continue; }
      let f2 = c === 0x20 ? s.flags(pos + 1) : s.flags(pos);
      const run = f2 & CPT_LETTER ? CPT_LETTER : f2 & CPT_NUMBER ? CPT_NUMBER : 0;
      if (run || notWordLike(f2)) {
        if (c === 0x20) pos++;
        while (run ? f2 & run : notWordLike(f2)) f2 = s.flags(++pos);
        s.add(pos);
        continue;
      }
      pos = s.whitespace(pos, false);
    }
    start += len;
  }
  return s.out;
}

function splitLlama3(cpts: Uint32Array, lengths: number[]): number[] {
  const s = new RangeScanner(cpts);
  let start = 0;
  for (const len of lengths) {
    s.reset(start, start + len);
    for (let pos = start; pos < start + len;) {
      const c = s.cpt(pos);
      const f = s.flags(pos);
      const after = s.contraction(pos, toLowerCpt);
      if (after >= 0) { pos = after; continue; }
      if (c !== 0x0d && c !== 0x0a && !(f & CPT_NUMBER) && (f & CPT_LETTER || s.flags(pos + 1) & CPT_LETTER)) {
        pos++; // [^\r\n\p{L}\p{N}]?\p{L}+
        while (s.flags(pos) & CPT_LETTER) pos++;
        s.add(pos);
        continue;
      }
      if (f & CPT_NUMBER) { // \p{N}{1,3}
        let ini = pos;
        while (s.flags(pos) & CPT_NUMBER) {
          if (++pos - ini >= 3) { s.add(pos); ini = pos; }
        }
        s.add(pos);
        continue;
      }
      let f2 = c === 0x20 ? s.flags(pos + 1) : f;
      if (!(f2 & (CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER)) && f !== 0) { //  ?[^\s\p{L}\p{N}]+[\r\n]*
        if (c === 0x20) pos++;
        while (notWordLike(f2)) f2 = s.flags(++pos);
        while (s.cpt(pos) === 0x0d || s.cpt(pos) === 0x0a) pos++;
        s.add(pos);
        continue;
      }
      pos = s.whitespace(pos, true);
    }
    start += len;
  }
  return s.out;
}

/**
 * Splits `text` into words with llama.cpp's semantics for the given expressions.
 * Returns the words as strings (not yet byte-encoded).
 */
export function regexSplit(text: string, exprs: readonly string[]): string[] {
  const cpts = codepoints(text);
  let lengths = cpts.length > 0 ? [cpts.length] : [];
  let collapsed: string | undefined;
  let plain: string | undefined;
  for (const expr of exprs) {
    if (expr === GPT2_REGEX) lengths = splitGpt2(cpts, lengths);
    else if (expr === LLAMA3_REGEX) lengths = splitLlama3(cpts, lengths);
    else if (usesCategories(expr)) {
      collapsed ??= collapsedText(cpts);
      lengths = splitCollapsed(collapsed, compiled(expr, collapseRegex), lengths);
    } else {
      plain ??= plainText(cpts);
      lengths = splitPlain(cpts, plain, compiled(expr, plainRegex), lengths);
    }
  }
  // Turn codepoint lengths back into substrings of the original text.
  const words: string[] = [];
  let unit = 0;
  let cp = 0;
  for (const len of lengths) {
    const from = unit;
    for (let i = 0; i < len; i++, cp++) unit += cpts[cp]! > 0xffff ? 2 : 1;
    words.push(text.slice(from, unit));
  }
  return words;
}

const regexCache = new Map<string, RegExp>();
function compiled(expr: string, build: (e: string) => RegExp): RegExp {
  let re = regexCache.get(expr);
  if (!re) {
    re = build(expr);
    regexCache.set(expr, re);
  }
  return re;
}
