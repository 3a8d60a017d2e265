// A small SentencePiece-style ("llama") vocabulary built from nothing: the three specials, the 256
// byte-fallback tokens, then single characters and pairs, ranked by score. Every text tokenizes
// (unknown characters fall back to bytes) and every piece is reachable by merging two others, so
// both Friday's tokenizer and llama.cpp's accept it. No third-party data.
import type { WriterValue } from '../../src/model/gguf/writer.js';

const TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_BYTE = 6;
const SPACE = '\u2581'; // SentencePiece's visible space
const LOWER = 'etaoinshrdlcumwfgypbvkjxqz'; // by English frequency: the common pairs come first
const CHARS = LOWER + LOWER.toUpperCase() + '0123456789.,!?\'"-:;()';

export const MIN_VOCAB = 3 + 256 + 1 + CHARS.length;

export interface Vocab {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
}

export function buildVocab(size: number): Vocab {
  if (!Number.isInteger(size) || size < MIN_VOCAB) throw new Error(`vocab size must be an integer >= ${MIN_VOCAB} (specials, 256 bytes and the base characters)`);
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [TYPE_UNKNOWN, TYPE_CONTROL, TYPE_CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TYPE_BYTE);
  }
  const seen = new Set<string>();
  const pieces = [SPACE, ...CHARS];
  for (const a of LOWER) pieces.push(SPACE + a);
  for (const a of LOWER) for (const b of LOWER) pieces.push(a + b);
  for (const a of LOWER) for (const b of LOWER) pieces.push(SPACE + a + b);
  for (const p of pieces) {
    if (tokens.length >= size) break;
    if (seen.has(p)) continue;
    seen.add(p);
    tokens.push(p);
    types.push(TYPE_NORMAL);
  }
  for (let i = 0; tokens.length < size; i++) { // filler, never produced by merges
    tokens.push(`<extra_${i}>`);
    types.push(TYPE_NORMAL);
  }
  // Scores rank merges: earlier pieces win. Specials and bytes score 0 like llama.cpp's converters.
  const scores = Float32Array.from(tokens, (_, i) => (types[i] === TYPE_NORMAL ? -(i - 259) : 0));
  return { tokens, scores, types: Int32Array.from(types) };
}

/** tokenizer.* metadata for a llama model. */
export function vocabMetadata(v: Vocab): Record<string, WriterValue> {
  return {
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'array', elem: 'string', value: v.tokens },
    'tokenizer.ggml.scores': { type: 'array', elem: 'f32', value: v.scores },
    'tokenizer.ggml.token_type': { type: 'array', elem: 'i32', value: v.types },
    'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: true },
    'tokenizer.ggml.add_eos_token': { type: 'bool', value: false },
  };
}
