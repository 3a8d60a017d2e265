// Trains the default model's BPE tokenizer on the corpus, then tokenizes the corpus with Friday's
// own tokenizer (src/tokenizer, built from the same metadata the GGUF will carry), so the ids the
// model trains on are exactly the ids Friday and llama.cpp produce at inference.
//   node --import tsx scripts/train/tokenizer.ts --dir /tmp/friday-default --vocab 1024
// Reads DIR/corpus.jsonl; writes DIR/tokenizer.json, DIR/train.bin, DIR/val.bin (uint16 LE ids).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChatTemplate } from '../../src/engine/chat-template.js';
import { createTokenizer } from '../../src/tokenizer/index.js';
import { CHAT_TEMPLATE, CHAT_TOKENS, TOKEN_TYPE, tokenizerMetadataMap, type TokenizerData } from './vocab.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '/tmp/friday-default' },
    vocab: { type: 'string', default: '1024' },
    'val-fraction': { type: 'string', default: '0.02' },
  },
});
const dir = values.dir!;
const vocabSize = Number(values.vocab);

type Doc = { text: string } | { messages: { role: 'user' | 'assistant'; content: string }[] };
const docs: Doc[] = readFileSync(join(dir, 'corpus.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Doc);
const texts = docs.flatMap((d) => ('text' in d ? [d.text] : d.messages.map((m) => m.content)));

// ------------------------------------------------------------------------------------------------
// 1. Pre-tokens, as SentencePiece sees text: spaces become "▁" and start a piece; a space prefix at
// the start of every text (add_space_prefix); newlines stay out of pieces (they are byte tokens).
// Pieces also never mix letters with punctuation, which keeps merges on words.
const PRE = /▁?[A-Za-z0-9]+(?:'[A-Za-z]+)*|▁?[^A-Za-z0-9▁\n]+|▁/gu;
const counts = new Map<string, number>();
for (const t of texts) {
  for (const line of (' ' + t).replaceAll(' ', '▁').split('\n')) {
    for (const m of line.matchAll(PRE)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  }
}

// 2. Base vocabulary: control tokens, bytes, printable ASCII (space as "▁").
const tokens: string[] = ['<unk>', '<s>', '</s>'];
const types: number[] = [TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control];
for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(TOKEN_TYPE.byte); }
for (const c of CHAT_TOKENS) { tokens.push(c); types.push(TOKEN_TYPE.control); }
const chars = ['▁'];
for (let c = 0x21; c < 0x7f; c++) chars.push(String.fromCharCode(c));
const nFixed = tokens.length + chars.length;
const nMerges = vocabSize - nFixed;
if (nMerges <= 0) throw new Error(`vocab ${vocabSize} is too small (${nFixed} fixed tokens)`);

// 3. BPE: repeatedly merge the most frequent adjacent pair (ties: lexicographically smallest).
const words = [...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([w, n]) => ({ syms: [...w], n }));
const known = new Set(chars);
const merges: string[] = [];
const mergedTokens: string[] = [];
const t0 = performance.now();
while (merges.length < nMerges) {
  const pairs = new Map<string, number>();
  for (const w of words) {
    for (let i = 0; i + 1 < w.syms.length; i++) {
      const k = w.syms[i] + '\u0000' + w.syms[i + 1];
      pairs.set(k, (pairs.get(k) ?? 0) + w.n);
    }
  }
  let best = '', bestN = 0;
  for (const [k, n] of pairs) {
    // A merge must make a new token (two different pairs can concatenate to the same text).
    if (known.has(k.replace('\u0000', ''))) continue;
    if (n > bestN || (n === bestN && k < best)) { best = k; bestN = n; }
  }
  if (bestN < 2) break;
  const [l, r] = best.split('\u0000') as [string, string];
  const tok = l + r;
  merges.push(`${l} ${r}`);
  mergedTokens.push(tok);
  known.add(tok);
  for (const w of words) {
    if (w.syms.length < 2) continue;
    const out: string[] = [];
    for (let i = 0; i < w.syms.length; i++) {
      if (i + 1 < w.syms.length && w.syms[i] === l && w.syms[i + 1] === r) { out.push(tok); i++; } else out.push(w.syms[i]!);
    }
    w.syms = out;
  }
}
process.stderr.write(`bpe: ${merges.length} merges in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

// 4. Scores: merge i scores -i (the SPM encoder prefers higher); characters rank below all merges.
const scores: number[] = tokens.map(() => 0);
for (const [i, m] of mergedTokens.entries()) { tokens.push(m); types.push(TOKEN_TYPE.normal); scores.push(-i); }
for (const [i, c] of chars.entries()) { tokens.push(c); types.push(TOKEN_TYPE.normal); scores.push(-(mergedTokens.length + i)); }
const data: TokenizerData = { tokens, scores, types, merges };
writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(data));

// 5. Check: Friday's SPM encoder reproduces the BPE segmentation of every pre-token.
const tok = createTokenizer(tokenizerMetadataMap(data));
const id = new Map(tokens.map((t, i) => [t, i]));
let same = 0, diff = 0, weighted = 0, total = 0;
const examples: string[] = [];
for (const w of words) {
  const expect = w.syms.map((s) => id.get(s)!);
  const got: number[] = [];
  // Encode the piece on its own: a leading "▁" is the text's space prefix.
  const text = w.syms.join('');
  const ids = tok.encode(text.startsWith('▁') ? text.slice(1) : text, { addSpecial: false });
  // Without a leading "▁" the encoder would add one: compare only pieces that start with it.
  if (!text.startsWith('▁')) continue;
  got.push(...ids);
  total += w.n;
  if (got.length === expect.length && got.every((x, i) => x === expect[i])) same++;
  else { diff++; weighted += w.n; if (examples.length < 5) examples.push(`${text}: bpe ${expect.map((i) => tokens[i]).join('|')} spm ${got.map((i) => tokens[i]).join('|')}`); }
}
process.stderr.write(`spm check: ${same} pre-tokens identical, ${diff} differ (${((100 * weighted) / total).toFixed(3)}% of occurrences)${examples.length ? '\n  ' + examples.join('\n  ') : ''}\n`);

// 6. Encode: stories are <s> text </s>; chats go through the chat template (which ends each
// assistant turn with </s>) and are encoded with special tokens parsed.
const template = new ChatTemplate(CHAT_TEMPLATE, { bosToken: '<s>', eosToken: '</s>' });
const eos = tokens.indexOf('</s>');
const encodeDoc = (d: Doc): number[] => {
  if ('text' in d) return [...tok.encode(d.text, { addSpecial: true }), eos];
  return tok.encode(template.render(d.messages, { addGenerationPrompt: false }), { addSpecial: true, parseSpecial: true });
};
const nVal = Math.max(1, Math.round(docs.length * Number(values['val-fraction'])));
const write = (name: string, ds: Doc[]) => {
  const ids = ds.flatMap(encodeDoc);
  if (ids.some((x) => x >= 65536)) throw new Error('ids need uint16');
  writeFileSync(join(dir, name), new Uint8Array(Uint16Array.from(ids).buffer));
  return ids.length;
};
const t1 = performance.now();
const nTrainTok = write('train.bin', docs.slice(0, docs.length - nVal));
const nValTok = write('val.bin', docs.slice(docs.length - nVal));
const nChars = texts.reduce((a, t) => a + t.length, 0);
// Round trip on a sample of stories: decode(encode(x)) === x.
let bad = 0;
for (const d of docs.slice(0, 2000)) if ('text' in d && tok.decode(tok.encode(d.text, { addSpecial: true }), { skipSpecial: true }) !== d.text) bad++;
const lens = docs.filter((d) => 'text' in d).slice(0, 2000).map((d) => encodeDoc(d).length).sort((a, b) => a - b);
const meta = {
  vocab_size: tokens.length, merges: merges.length, documents: docs.length, characters: nChars,
  train_tokens: nTrainTok, val_tokens: nValTok, chars_per_token: nChars / (nTrainTok + nValTok),
  story_tokens: { median: lens[lens.length >> 1], p95: lens[Math.floor(lens.length * 0.95)], max: lens[lens.length - 1] },
  roundtrip_failures: bad,
};
writeFileSync(join(dir, 'tokens.json'), JSON.stringify(meta, null, 1));
process.stderr.write(`encode: ${((performance.now() - t1) / 1000).toFixed(1)} s ${JSON.stringify(meta)}\n`);
if (bad) throw new Error(`${bad} stories do not round-trip`);
