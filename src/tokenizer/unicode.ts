// Unicode helpers shared by the tokenizers. Codepoint classes follow llama.cpp's unicode tables
// (generated from Python's `regex` \p{..} categories and \s), so splits match llama.cpp.

export const CPT_NUMBER = 0x0002; // \p{N}
export const CPT_LETTER = 0x0004; // \p{L}
export const CPT_SEPARATOR = 0x0008; // \p{Z}
export const CPT_MARK = 0x0010; // \p{M}
export const CPT_PUNCTUATION = 0x0020; // \p{P}
export const CPT_SYMBOL = 0x0040; // \p{S}
export const CPT_CONTROL = 0x0080; // \p{C} (includes unassigned, as in Python's regex module)
export const CPT_CATEGORIES = 0x00ff;
export const CPT_WHITESPACE = 0x0100; // White_Space property: the 25 codepoints llama.cpp lists

const CATEGORY_TESTS: [RegExp, number][] = [
  [/^\p{N}$/u, CPT_NUMBER],
  [/^\p{L}$/u, CPT_LETTER],
  [/^\p{Z}$/u, CPT_SEPARATOR],
  [/^\p{M}$/u, CPT_MARK],
  [/^\p{P}$/u, CPT_PUNCTUATION],
  [/^\p{S}$/u, CPT_SYMBOL],
  [/^\p{C}$/u, CPT_CONTROL],
  [/^\p{White_Space}$/u, CPT_WHITESPACE],
];

// Every codepoint has exactly one category, so 0 means "not computed yet". Filled lazily because
// regex-testing all 1.1M codepoints up front would cost far more than the text we ever see.
let flagTable: Uint16Array | undefined;

export function cptFlags(cp: number): number {
  if (cp < 0 || cp > 0x10ffff) return 0;
  flagTable ??= new Uint16Array(0x110000);
  const cached = flagTable[cp]!;
  if (cached !== 0) return cached;
  const ch = String.fromCodePoint(cp);
  let f = 0;
  for (const [re, bit] of CATEGORY_TESTS) if (re.test(ch)) f |= bit;
  flagTable[cp] = f;
  return f;
}

export function isWhitespace(cp: number): boolean {
  return (cptFlags(cp) & CPT_WHITESPACE) !== 0;
}

/** Simple lower-casing: the first codepoint of the full mapping, like llama.cpp's table. */
export function toLowerCpt(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp;
  return String.fromCodePoint(cp).toLowerCase().codePointAt(0)!;
}

/** llama.cpp's "NFD" keeps only the first codepoint of the decomposition (accents are dropped). */
export function nfdFirst(cp: number): number {
  if (cp < 0xc0) return cp;
  return String.fromCodePoint(cp).normalize('NFD').codePointAt(0)!;
}

/** JS strings may hold lone surrogates; UTF-8 text cannot, so they become U+FFFD as in a UTF-8 round trip. */
export function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** The codepoints of `text` (one typed allocation: a long prompt's growing array cost GC time). */
export function codepoints(text: string): Uint32Array {
  const out = new Uint32Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i)!;
    out[n++] = cp;
    if (cp > 0xffff) i++;
  }
  return out.subarray(0, n);
}

/** The string of `cps`, built in chunks instead of a character at a time. */
export function fromCodepoints(cps: Uint32Array): string {
  const CHUNK = 4096;
  let s = '';
  for (let i = 0; i < cps.length; i += CHUNK) s += String.fromCodePoint.apply(null, cps.subarray(i, i + CHUNK) as unknown as number[]);
  return s;
}

export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

const encoder = new TextEncoder();
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

// GPT-2 byte-level alphabet: printable bytes map to themselves, the rest to U+0100.. in order.
const BYTE_TO_CHAR: string[] = new Array<string>(256);
const CHAR_TO_BYTE = new Map<number, number>();
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const cp = printable ? b : 256 + n++;
    BYTE_TO_CHAR[b] = String.fromCodePoint(cp);
    CHAR_TO_BYTE.set(cp, b);
  }
}

export function byteToChar(b: number): string {
  return BYTE_TO_CHAR[b]!;
}

/** The byte-level (GPT-2) spelling of a string: each UTF-8 byte becomes one printable character. */
export function byteEncode(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) { out += BYTE_TO_CHAR[c]; continue; }
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) cp = text.codePointAt(i++)!;
    if (cp < 0x800) {
      out += BYTE_TO_CHAR[0xc0 | (cp >> 6)]! + BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!;
    } else if (cp < 0x10000) {
      out += BYTE_TO_CHAR[0xe0 | (cp >> 12)]! + BYTE_TO_CHAR[0x80 | ((cp >> 6) & 0x3f)]! + BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!;
    } else {
      out += BYTE_TO_CHAR[0xf0 | (cp >> 18)]! + BYTE_TO_CHAR[0x80 | ((cp >> 12) & 0x3f)]!
        + BYTE_TO_CHAR[0x80 | ((cp >> 6) & 0x3f)]! + BYTE_TO_CHAR[0x80 | (cp & 0x3f)]!;
    }
  }
  return out;
}

/**
 * Bytes of a byte-level token text. Characters outside the byte alphabet (found in some added
 * tokens) keep their own UTF-8 bytes; llama.cpp prints an "[UNK_BYTE_..]" marker instead.
 */
export function byteDecode(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const b = CHAR_TO_BYTE.get(ch.codePointAt(0)!);
    if (b !== undefined) out.push(b);
    else for (const x of utf8(ch)) out.push(x);
  }
  return Uint8Array.from(out);
}
