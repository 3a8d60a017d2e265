// Tokenizer built from GGUF metadata, reproducing llama.cpp's llama_tokenize / llama_detokenize.
// The vocabulary is loaded once (vocab.ts); each model type has its own encoder (spm.ts, bpe.ts,
// wpm.ts); special-token texts are cut out first (special.ts); decoding lives in decode.ts.
import type { Metadata } from '../model/gguf/metadata.js';
import { BpeTokenizer } from './bpe.js';
import { createStreamingDecoder, Pieces, type StreamingDecoder } from './decode.js';
import { partition } from './special.js';
import { SpmTokenizer } from './spm.js';
import { wellFormed } from './unicode.js';
import { ATTR_CONTROL, loadVocab, type TokenizerModel, type Vocab } from './vocab.js';
import { wpmTokenize } from './wpm.js';

export type { StreamingDecoder } from './decode.js';
export type { TokenizerModel } from './vocab.js';

export interface EncodeOptions {
  /** Add BOS/EOS as the metadata asks (BERT: [CLS] … [SEP]). Default true. */
  addSpecial?: boolean;
  /** Recognise control-token text such as "<s>" or "<|eot_id|>" in the input. Default false. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Render control and unknown tokens (BOS, EOS, …) as nothing. Default false: their text is shown. */
  skipSpecial?: boolean;
}

export interface CreateDecoderOptions extends DecodeOptions {
  /** Nothing but BOS precedes: strip the SentencePiece leading space of the first piece. */
  atStart?: boolean;
}

export interface Tokenizer {
  /** tokenizer.ggml.model: 'llama' (SentencePiece BPE), 'gpt2' (byte-level BPE) or 'bert' (WordPiece). */
  readonly model: TokenizerModel;
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly eotId: number | undefined;
  readonly padId: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  encode(text: string, opts?: EncodeOptions): number[];
  /** Whole-sequence decode; the SentencePiece leading space of the first text piece (after any BOS) is dropped. */
  decode(ids: number[], opts?: DecodeOptions): string;
  /** Raw bytes of a token's piece: byte tokens give their byte, byte-level BPE its decoded bytes. */
  tokenBytes(id: number): Uint8Array;
  /** End of generation: EOS, EOT, EOM and the other tokens llama.cpp treats as stops. */
  isEog(id: number): boolean;
  isControl(id: number): boolean;
  createDecoder(opts?: CreateDecoderOptions): StreamingDecoder;
}

export function createTokenizer(metadata: Metadata): Tokenizer {
  const v = loadVocab(metadata);
  const pieces = new Pieces(v);
  const bpe = v.type === 'bpe' ? new BpeTokenizer(v) : undefined;
  const spm = v.type === 'spm' ? new SpmTokenizer(v) : undefined;
  return {
    model: v.model,
    vocabSize: v.tokens.length,
    bosId: v.bos,
    eosId: v.eos,
    eotId: v.eot,
    padId: v.pad,
    addBos: v.addBos,
    addEos: v.addEos,
    encode: (text, opts = {}) => encode(v, bpe, spm, text, opts.addSpecial ?? true, opts.parseSpecial ?? false),
    decode(ids, opts = {}) {
      const d = createStreamingDecoder(v, pieces, { atStart: true, skipSpecial: opts.skipSpecial ?? false });
      let s = '';
      for (const id of ids) s += d.push(id);
      return s + d.flush();
    },
    tokenBytes: (id) => pieces.bytes(id).slice(),
    isEog: (id) => v.eog.has(id),
    isControl: (id) => id >= 0 && id < v.tokens.length && (v.attrs[id]! & ATTR_CONTROL) !== 0,
    createDecoder: (opts = {}) => createStreamingDecoder(v, pieces, opts),
  };
}

function encode(v: Vocab, bpe: BpeTokenizer | undefined, spm: SpmTokenizer | undefined, text: string, addSpecial: boolean, parseSpecial: boolean): number[] {
  const out: number[] = [];
  const frags = partition(v, wellFormed(text), parseSpecial);
  if (addSpecial && (v.addBos || v.type === 'wpm') && v.bos !== undefined) out.push(v.bos);
  // SentencePiece adds its space prefix to text at the start and after every special token.
  let afterSpecial = true;
  for (const f of frags) {
    if (typeof f === 'number') {
      out.push(f);
      afterSpecial = true;
      continue;
    }
    if (v.type === 'spm') {
      const t = v.addSpacePrefix && afterSpecial ? ' ' + f : f;
      spm!.tokenize(t.replaceAll(' ', '▁'), out);
    } else if (v.type === 'bpe') {
      bpe!.tokenize(f, out);
    } else {
      wpmTokenize(v, f, out);
    }
    afterSpecial = false;
  }
  if (addSpecial) {
    if (v.type === 'wpm') {
      if (v.sep !== undefined) out.push(v.sep);
    } else if (v.addEos && v.eos !== undefined) {
      out.push(v.eos);
    }
  }
  return out;
}
