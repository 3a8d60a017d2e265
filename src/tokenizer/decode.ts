// Token → bytes (llama.cpp's token_to_piece) and incremental UTF-8 decoding of token streams.
import { FridayError } from '../api/errors.js';
import { byteDecode, utf8 } from './unicode.js';
import { ATTR_BYTE, ATTR_CONTROL, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_USER_DEFINED, type Vocab } from './vocab.js';

const EMPTY = new Uint8Array(0);

export class Pieces {
  private readonly cache: (Uint8Array | undefined)[];

  constructor(private readonly v: Vocab) {
    this.cache = new Array<Uint8Array | undefined>(v.tokens.length);
  }

  /** Bytes of a token as rendered with special tokens shown (their text). */
  bytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.v.tokens.length) {
      throw new FridayError('INVALID_REQUEST', `Token id ${id} is outside the ${this.v.tokens.length}-token vocabulary.`, { id });
    }
    return (this.cache[id] ??= this.render(id));
  }

  /** As bytes(), but control and unknown tokens render as nothing when `skipSpecial`. */
  piece(id: number, skipSpecial: boolean): Uint8Array {
    const b = this.bytes(id);
    return skipSpecial && this.v.attrs[id]! & (ATTR_CONTROL | ATTR_UNKNOWN) ? EMPTY : b;
  }

  private render(id: number): Uint8Array {
    const attr = this.v.attrs[id]!;
    const text = this.v.tokens[id]!;
    if (attr & (ATTR_CONTROL | ATTR_UNKNOWN | ATTR_USER_DEFINED)) return utf8(text);
    if (attr & ATTR_NORMAL) return this.v.type === 'bpe' ? byteDecode(text) : utf8(text.replaceAll('▁', ' '));
    if (attr & ATTR_BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      return m ? Uint8Array.of(parseInt(m[1]!, 16)) : utf8(text);
    }
    return EMPTY; // unused and undefined token types render as nothing, as in llama.cpp
  }
}

export interface DecoderOptions {
  /** Nothing but BOS precedes: drop the leading space SentencePiece adds to the first word. */
  atStart?: boolean;
  /** Render control and unknown tokens as nothing instead of their text. Default false. */
  skipSpecial?: boolean;
}

export interface StreamingDecoder {
  /** Newly completed text; bytes of an unfinished UTF-8 character are held back. */
  push(id: number): string;
  /** Whatever is held back, invalid bytes as U+FFFD. The decoder can then be reused. */
  flush(): string;
}

export function createStreamingDecoder(v: Vocab, pieces: Pieces, opts: DecoderOptions = {}): StreamingDecoder {
  // TextDecoder's streaming mode holds back incomplete sequences and turns invalid bytes into
  // U+FFFD exactly as a one-shot decode of the concatenated bytes would.
  const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  const skipSpecial = opts.skipSpecial ?? false;
  let stripSpace = (opts.atStart ?? false) && v.addSpacePrefix;
  return {
    push(id: number): string {
      let bytes = pieces.piece(id, skipSpecial);
      if (stripSpace && id !== v.bos) {
        stripSpace = false;
        if (bytes[0] === 0x20) bytes = bytes.subarray(1);
      }
      return bytes.length > 0 ? utf8Decoder.decode(bytes, { stream: true }) : '';
    },
    flush(): string {
      return utf8Decoder.decode();
    },
  };
}
