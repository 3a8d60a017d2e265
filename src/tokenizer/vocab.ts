// The vocabulary as llama.cpp's llama_vocab::impl::load builds it from GGUF metadata: token
// texts, scores, attributes, special ids, flags and the end-of-generation set.
import { FridayError } from '../api/errors.js';
import { metaBool, metaNumbers, metaOptNumber, metaString, metaStrings, type Metadata } from '../model/gguf/metadata.js';
import { preTokenizerFor, type PreTokenizer } from './pretokenize.js';
import { utf8Length } from './unicode.js';

// Token attributes (llama_token_attr).
export const ATTR_UNKNOWN = 1 << 0;
export const ATTR_UNUSED = 1 << 1;
export const ATTR_NORMAL = 1 << 2;
export const ATTR_CONTROL = 1 << 3;
export const ATTR_USER_DEFINED = 1 << 4;
export const ATTR_BYTE = 1 << 5;
export const ATTR_LSTRIP = 1 << 7;
export const ATTR_RSTRIP = 1 << 8;

// tokenizer.ggml.token_type values → attributes; anything else is "undefined" (0).
const TYPE_TO_ATTR: Record<number, number> = { 1: ATTR_NORMAL, 2: ATTR_UNKNOWN, 3: ATTR_CONTROL, 4: ATTR_USER_DEFINED, 5: ATTR_UNUSED, 6: ATTR_BYTE };

export type VocabType = 'spm' | 'bpe' | 'wpm';
export const SUPPORTED_MODELS = ['llama', 'gpt2', 'bert'] as const;
export type TokenizerModel = (typeof SUPPORTED_MODELS)[number];

export interface Vocab {
  model: TokenizerModel;
  type: VocabType;
  tokens: string[];
  scores: Float32Array;
  attrs: Uint16Array;
  tokenToId: Map<string, number>;
  /** Longest token in UTF-16 units (WordPiece search bound). */
  maxTokenLen: number;
  bos: number | undefined; eos: number | undefined; eot: number | undefined; eom: number | undefined;
  unk: number | undefined; sep: number | undefined; pad: number | undefined;
  eog: Set<number>;
  addBos: boolean; addEos: boolean; addSep: boolean;
  addSpacePrefix: boolean;
  /** gpt2 only: merge rank by "left\nright". */
  merges: Map<string, number> | undefined;
  pre: PreTokenizer | undefined;
  lowercase: boolean; stripAccents: boolean;
  /** Control, user-defined and unknown tokens, longest (in bytes) first, for tokenizer_st_partition. */
  specialTokens: number[];
}

function invalid(message: string, details: Record<string, unknown> = {}): FridayError {
  return new FridayError('TOKENIZER_INVALID', message, details);
}

// Texts llama.cpp recognises as end-of-turn/end-of-generation when metadata does not say so.
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];
const EOG_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>', '<|endoftext|>', '</s>',
  '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>',
  '<｜end▁of▁sentence｜>', '[e~[', '<|content_model_end_sampling|>',
];
const FIM_TEXTS = {
  pad: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'],
  rep: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'],
  sep: ['<|file_sep|>'],
};

function defaultsFor(model: TokenizerModel) {
  switch (model) {
    case 'llama': return { type: 'spm' as const, bos: 1, eos: 2, unk: 0, sep: undefined, pad: undefined, addBos: true, addSep: false, addSpacePrefix: true };
    case 'bert': return { type: 'wpm' as const, bos: 101, eos: undefined, unk: 100, sep: 102, pad: 0, addBos: true, addSep: true, addSpacePrefix: false };
    case 'gpt2': return { type: 'bpe' as const, bos: 11, eos: 11, unk: undefined, sep: undefined, pad: undefined, addBos: false, addSep: false, addSpacePrefix: false };
  }
}

function readTokens(m: Metadata, type: VocabType) {
  const list = metaStrings(m, 'tokenizer.ggml.tokens');
  if (!list || list.length === 0) throw invalid('GGUF metadata has no "tokenizer.ggml.tokens": the model file carries no vocabulary. Re-convert it with a current llama.cpp.');
  const tokens = list.slice(); // empty texts get renamed below; leave the caller's metadata alone
  const n = tokens.length;
  const rawScores = metaNumbers(m, 'tokenizer.ggml.scores');
  const rawTypes = metaNumbers(m, 'tokenizer.ggml.token_type');
  if (rawScores && rawScores.length < n) throw invalid(`"tokenizer.ggml.scores" has ${rawScores.length} entries for ${n} tokens.`);
  if (rawTypes && rawTypes.length < n) throw invalid(`"tokenizer.ggml.token_type" has ${rawTypes.length} entries for ${n} tokens.`);
  const scores = new Float32Array(n);
  const attrs = new Uint16Array(n);
  const tokenToId = new Map<string, number>();
  let maxTokenLen = 0;
  for (let i = 0; i < n; i++) {
    // llama.cpp renames empty tokens so every text stays a distinct map key.
    const text = tokens[i] === '' ? `[EMPTY_${i}]` : tokens[i]!;
    tokens[i] = text;
    tokenToId.set(text, i);
    if (text.length > maxTokenLen) maxTokenLen = text.length;
    if (rawScores) scores[i] = rawScores[i]!;
    attrs[i] = rawTypes ? (TYPE_TO_ATTR[rawTypes[i]!] ?? 0) : ATTR_NORMAL;
  }
  if (type === 'spm' && !rawScores) throw invalid('A "llama" (SentencePiece) tokenizer needs "tokenizer.ggml.scores" to rank merges, but the metadata has none.');
  return { tokens, scores, attrs, tokenToId, maxTokenLen };
}

function readMerges(m: Metadata): Map<string, number> {
  const list = metaStrings(m, 'tokenizer.ggml.merges');
  if (!list) throw invalid('A "gpt2" (BPE) tokenizer needs "tokenizer.ggml.merges", but the metadata has none. Re-convert the model with a current llama.cpp.');
  const merges = new Map<string, number>();
  for (let i = 0; i < list.length; i++) {
    const word = list[i]!;
    const pos = word.indexOf(' ', 1);
    const key = pos < 0 ? '\n' : word.slice(0, pos) + '\n' + word.slice(pos + 1);
    if (!merges.has(key)) merges.set(key, i);
  }
  return merges;
}

/** An id from metadata; out-of-range ids (e.g. 0xFFFFFFFF for "none") keep the default, as in llama.cpp. */
function readId(m: Metadata, key: string, n: number, fallback: number | undefined): number | undefined {
  const v = metaOptNumber(m, key);
  return v !== undefined && v >= 0 && v < n ? v : fallback;
}

export function loadVocab(m: Metadata): Vocab {
  const modelName = metaString(m, 'tokenizer.ggml.model');
  if (!(SUPPORTED_MODELS as readonly string[]).includes(modelName)) {
    throw invalid(`Unsupported tokenizer.ggml.model "${modelName}": Friday supports ${SUPPORTED_MODELS.map((s) => `"${s}"`).join(', ')}.`, { model: modelName });
  }
  const model = modelName as TokenizerModel;
  const d = defaultsFor(model);
  const { tokens, scores, attrs, tokenToId, maxTokenLen } = readTokens(m, d.type);
  const n = tokens.length;
  const pre = d.type === 'bpe' ? preTokenizerFor(metaString(m, 'tokenizer.ggml.pre', '')) : undefined;
  const has = (id: number | undefined): id is number => id !== undefined;

  const v: Vocab = {
    model, type: d.type, tokens, scores, attrs, tokenToId, maxTokenLen,
    bos: pre?.noBos ? undefined : d.bos, eos: d.eos, eot: undefined, eom: undefined, unk: d.unk, sep: d.sep, pad: d.pad,
    eog: new Set(),
    addBos: pre ? pre.addBos : d.addBos, addEos: false, addSep: d.addSep,
    addSpacePrefix: metaBool(m, 'tokenizer.ggml.add_space_prefix', d.addSpacePrefix),
    merges: d.type === 'bpe' ? readMerges(m) : undefined,
    pre,
    lowercase: metaBool(m, 'tokenizer.ggml.normalizer.lowercase', true), stripAccents: false,
    specialTokens: [],
  };
  v.stripAccents = metaBool(m, 'tokenizer.ggml.normalizer.strip_accents', v.lowercase);
  if (model === 'bert') v.bos = readId(m, 'tokenizer.ggml.cls_token_id', n, v.bos);
  v.bos = readId(m, 'tokenizer.ggml.bos_token_id', n, v.bos);
  v.eos = readId(m, 'tokenizer.ggml.eos_token_id', n, v.eos);
  v.eot = readId(m, 'tokenizer.ggml.eot_token_id', n, undefined);
  v.eom = readId(m, 'tokenizer.ggml.eom_token_id', n, undefined);
  v.unk = readId(m, 'tokenizer.ggml.unknown_token_id', n, v.unk);
  v.sep = readId(m, 'tokenizer.ggml.seperator_token_id', n, v.sep);
  v.pad = readId(m, 'tokenizer.ggml.padding_token_id', n, v.pad);
  v.addBos = metaBool(m, 'tokenizer.ggml.add_bos_token', v.addBos);
  v.addEos = metaBool(m, 'tokenizer.ggml.add_eos_token', v.addEos);
  v.addSep = metaBool(m, 'tokenizer.ggml.add_sep_token', v.addSep);
  for (const id of [v.bos, v.eos, v.unk, v.sep, v.pad]) if (has(id) && id >= n) throw invalid(`Special token id ${id} is outside the ${n}-token vocabulary.`);

  findEog(m, v);
  v.specialTokens = collectSpecial(v);
  applyNameQuirks(m, v);
  return v;
}

/** The EOT/EOG detection of llama.cpp: metadata ids plus well-known texts, which become control tokens. */
function findEog(m: Metadata, v: Vocab): void {
  const n = v.tokens.length;
  const makeControl = (id: number) => { v.attrs[id] = v.attrs[id]! | ATTR_CONTROL; };
  const lookup = (texts: string[]) => texts.map((t) => v.tokenToId.get(t)).find((id) => id !== undefined);
  if (v.eot === undefined) v.eot = lookup(EOT_TEXTS);
  if (v.eom === undefined) v.eom = v.tokenToId.get('<|eom_id|>');
  for (const id of [v.eot, v.eom]) if (id !== undefined) makeControl(id);

  const fimKeys = { pad: 'tokenizer.ggml.fim_pad_token_id', rep: 'tokenizer.ggml.fim_rep_token_id', sep: 'tokenizer.ggml.fim_sep_token_id' };
  for (const k of ['pad', 'rep', 'sep'] as const) {
    let id = readId(m, fimKeys[k], n, undefined);
    if (id === undefined) {
      id = lookup(FIM_TEXTS[k]);
      if (id !== undefined) makeControl(id);
    }
    if (id !== undefined) v.eog.add(id);
  }
  for (const text of EOG_TEXTS) {
    const id = v.tokenToId.get(text);
    if (id === undefined) continue;
    v.eog.add(id);
    makeControl(id);
  }
  // gpt-oss: these structural tokens must always render.
  for (const text of ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']) {
    const id = v.tokenToId.get(text);
    if (id !== undefined) v.attrs[id] = ATTR_USER_DEFINED;
  }
  for (const id of [v.eos, v.eot, v.eom]) if (id !== undefined) v.eog.add(id);

  // Harmony / solar-open chat formats use <|end|> between messages, not as a stop.
  const has = (t: string) => { const id = v.tokenToId.get(t); return id !== undefined && v.eog.has(id); };
  const end = v.tokenToId.get('<|end|>');
  if (end !== undefined && v.eog.has(end) && ((has('<|return|>') && has('<|call|>')) || ((has('<|call|>') || has('<|calls|>')) && has('<|flush|>')))) {
    v.eog.delete(end);
    v.attrs[end] = ATTR_USER_DEFINED;
  }
  // Gemma 4 uses </s> as ordinary text.
  const s = v.tokenToId.get('</s>');
  if (s !== undefined && v.eog.has(s) && has('<|tool_response>')) {
    v.eog.delete(s);
    v.attrs[s] = ATTR_NORMAL;
  }
}

function collectSpecial(v: Vocab): number[] {
  const ids: number[] = [];
  for (let id = 0; id < v.tokens.length; id++) {
    if (v.attrs[id]! & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) ids.push(id);
  }
  const bytes = new Map(ids.map((id) => [id, utf8Length(v.tokens[id]!)]));
  return ids.sort((a, b) => bytes.get(b)! - bytes.get(a)! || a - b);
}

/** Per-token strip attributes that llama.cpp hard-codes by model or pre-tokenizer name. */
function applyNameQuirks(m: Metadata, v: Vocab): void {
  const name = metaString(m, 'general.name', '').toLowerCase();
  const pre = metaString(m, 'tokenizer.ggml.pre', '');
  const arch = metaString(m, 'general.architecture', '');
  const setAttr = (text: string, bit: number, on: boolean) => {
    const id = v.tokenToId.get(text);
    if (id !== undefined) v.attrs[id] = on ? v.attrs[id]! | bit : v.attrs[id]! & ~bit;
  };
  if (['jina-v2-de', 'jina-v2-es', 'jina-v2-code'].some((s) => pre.includes(s)) || ['nomic-bert-moe', 'jina-bert-v3'].some((s) => arch.includes(s))) {
    setAttr('<mask>', ATTR_LSTRIP, true);
  } else if (name.includes('phi-3') || name.includes('phi3')) {
    for (const id of v.specialTokens) v.attrs[id] = v.attrs[id]! | ATTR_RSTRIP;
    setAttr('</s>', ATTR_RSTRIP, true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) setAttr(t, ATTR_RSTRIP, false);
  } else if (name.includes('modern-bert')) {
    setAttr('[MASK]', ATTR_LSTRIP, true);
  }
}
