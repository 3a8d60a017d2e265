// tokenizer.ggml.pre → the pre-tokenizer expressions and flags llama.cpp uses for it
// (llm_tokenizer_bpe and llama_vocab::impl::load in llama-vocab.cpp).
import { FridayError } from '../api/errors.js';
import { GPT2_REGEX, LLAMA3_REGEX } from './regex-split.js';

export interface PreTokenizer {
  name: string;
  exprs: readonly string[];
  /** Look the whole word up before merging (Llama 3, Tekken). */
  ignoreMerges: boolean;
  addBos: boolean;
  /** ChatGLM has no BOS unless metadata names one. */
  noBos: boolean;
}

const QWEN2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const DEEPSEEK_CJK = '[一-龥ࠀ-一가-퟿]+';
const DEEPSEEK_LLM = [
  '[\r\n]',
  '\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+',
  '\\s?[!-/:-~！-／：-～‘-‟　-。]+',
  '\\s+$',
  DEEPSEEK_CJK,
  '\\p{N}+',
];
const DEEPSEEK_CODER = ['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', DEEPSEEK_CJK, '\\p{N}'];
const DEEPSEEK_V3 = [
  '\\p{N}{1,3}',
  '[一-龥぀-ゟ゠-ヿ]+',
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
];
const FALCON = ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2_REGEX, '[0-9][0-9][0-9]'];
const STARCODER = ['\\p{N}', GPT2_REGEX];
const BLOOM = [' ?[^(\\s|.,!?…。，、।۔،)]+'];
const TEKKEN = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const CONTRACTION = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT4O = `[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+${CONTRACTION}?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*${CONTRACTION}?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const SEED_CODER = `${CONTRACTION}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const BAILINGMOE = "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
const DEFAULT = ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2_REGEX, '\\p{N}+', '[0-9][0-9][0-9]'];

interface Entry { exprs: readonly string[]; ignoreMerges?: boolean; addBos?: boolean; noBos?: boolean }

// One entry per llama.cpp pre-tokenizer type, with every tokenizer.ggml.pre name that maps to it.
const TABLE: [string[], Entry][] = [
  [['default'], { exprs: DEFAULT }],
  [['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'], { exprs: [LLAMA3_REGEX], ignoreMerges: true, addBos: true }],
  [['dbrx', 'smaug-bpe'], { exprs: [LLAMA3_REGEX] }],
  [['chatglm-bpe', 'glm4'], { exprs: [LLAMA3_REGEX], noBos: true }],
  [['deepseek-llm'], { exprs: DEEPSEEK_LLM }],
  [['deepseek-coder'], { exprs: DEEPSEEK_CODER }],
  [['deepseek-v3', 'hunyuan-dense', 'joyai-llm'], { exprs: DEEPSEEK_V3 }],
  [['falcon'], { exprs: FALCON }],
  [['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'], { exprs: STARCODER }],
  [['gpt-2', 'phi-2', 'jina-es', 'jina-de', 'gigachat', 'jina-v1-en', 'jina-v2-es', 'jina-v2-de', 'jina-v2-code', 'roberta-bpe', 'a.x-4.0', 'mellum', 'modern-bert',
    'mpt', 'olmo', 'jais', 'exaone4', 'trillion', 'granite-docling'], { exprs: [GPT2_REGEX] }],
  [['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'stablelm2', 'megrez', 'hunyuan', 'solar-open'], { exprs: [QWEN2] }],
  [['qwen35'], { exprs: [QWEN35] }],
  [['poro-chat', 'bloom', 'gpt3-finnish'], { exprs: BLOOM }],
  [['viking'], { exprs: [...BLOOM, '\\p{N}'] }],
  [['tekken'], { exprs: [TEKKEN], ignoreMerges: true, addBos: true }],
  [['chameleon'], { exprs: ['<sentinel:[0-9]+>', '(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z', '([\\t\\n]|    |  )', '\\p{N}', '[\\p{P}!-/:-@\\[-`{-~]', GPT2_REGEX], addBos: true }],
  [['gpt-4o', 'llama4', 'minimax-m2'], { exprs: [GPT4O] }],
  [['seed-coder'], { exprs: [SEED_CODER] }],
  [['bailingmoe', 'bailingmoe2', 'llada-moe'], { exprs: [BAILINGMOE] }],
  [['grok-2'], { exprs: [QWEN2] }],
];

const BY_NAME = new Map<string, Entry>();
for (const [names, entry] of TABLE) for (const n of names) BY_NAME.set(n, entry);

export function preTokenizerFor(name: string): PreTokenizer {
  // Old conversions have no "pre"; llama.cpp falls back to its default expressions.
  const entry = BY_NAME.get(name === '' ? 'default' : name);
  if (!entry) {
    throw new FridayError('TOKENIZER_INVALID',
      `Unsupported tokenizer.ggml.pre "${name}" for a gpt2 (BPE) tokenizer. Supported: ${[...BY_NAME.keys()].join(', ')}.`, { pre: name });
  }
  return { name: name || 'default', exprs: entry.exprs, ignoreMerges: entry.ignoreMerges ?? false, addBos: entry.addBos ?? false, noBos: entry.noBos ?? false };
}
