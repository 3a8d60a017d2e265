// The default model's tokenizer as data: a SentencePiece-style ("llama") BPE vocabulary with
// <unk>/<s>/</s>, byte fallback <0x00>..<0xFF>, two chat control tokens, single characters and
// merges. Scores rank merges (higher = earlier) so llama.cpp's / Friday's SPM encoder, which
// merges the adjacent pair whose concatenation scores highest, reproduces the trained BPE.
import type { WriterValue } from '../../src/model/gguf/writer.js';
import type { GGUFValue } from '../../src/model/gguf/types.js';

export const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
export const CHAT_TOKENS = ['<|user|>', '<|assistant|>'] as const;

/** Jinja chat template: BOS comes from add_bos_token, each assistant turn ends with EOS. */
export const CHAT_TEMPLATE =
  "{%- for message in messages -%}" +
  "{%- if message['role'] == 'system' -%}{{ message['content'] + '\\n' }}" +
  "{%- elif message['role'] == 'user' -%}{{ '<|user|>' + message['content'] }}" +
  "{%- elif message['role'] == 'assistant' -%}{{ '<|assistant|>' + message['content'] + eos_token }}" +
  "{%- endif -%}" +
  "{%- endfor -%}" +
  "{%- if add_generation_prompt -%}{{ '<|assistant|>' }}{%- endif -%}";

export interface TokenizerData {
  tokens: string[];
  scores: number[];
  types: number[];
  /** Merges in training order, as "left right" (for the record; the scores encode them). */
  merges: string[];
}

/** tokenizer.* GGUF metadata for the writer. */
export function tokenizerMetadata(t: TokenizerData): Record<string, WriterValue> {
  return {
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'array', elem: 'string', value: t.tokens },
    'tokenizer.ggml.scores': { type: 'array', elem: 'f32', value: t.scores },
    'tokenizer.ggml.token_type': { type: 'array', elem: 'i32', value: t.types },
    'tokenizer.ggml.unknown_token_id': { type: 'u32', value: t.tokens.indexOf('<unk>') },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: t.tokens.indexOf('<s>') },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: t.tokens.indexOf('</s>') },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: true },
    'tokenizer.ggml.add_eos_token': { type: 'bool', value: false },
    'tokenizer.ggml.add_space_prefix': { type: 'bool', value: true },
    'tokenizer.chat_template': { type: 'string', value: CHAT_TEMPLATE },
  };
}

/** The same metadata as the reader would return it, for createTokenizer() without a file. */
export function tokenizerMetadataMap(t: TokenizerData, extra: Record<string, GGUFValue> = {}): Map<string, GGUFValue> {
  const m = new Map<string, GGUFValue>();
  for (const [k, v] of Object.entries(tokenizerMetadata(t))) {
    if (v.type === 'array') m.set(k, v.elem === 'string' ? (v.value as string[]) : v.elem === 'f32' ? Float32Array.from(v.value) : Int32Array.from(v.value));
    else m.set(k, v.value as GGUFValue);
  }
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return m;
}
