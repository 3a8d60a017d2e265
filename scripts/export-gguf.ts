// Builds models/friday-default.gguf from the trainer's output with Friday's own GGUF writer.
//   node --import tsx scripts/export-gguf.ts --dir /tmp/friday-default --out models/friday-default.gguf --type f16
// Reads DIR/weights.json + DIR/weights.bin (scripts/train/train.py) and DIR/tokenizer.json
// (scripts/train/tokenizer.ts). Matrices are stored as --type (f16 or q8_0), norms as F32.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dequantize } from '../src/engine/cpu/dequant.js';
import { GGMLType } from '../src/model/dtypes.js';
import { writeGGUF, type WriterTensor, type WriterValue } from '../src/model/gguf/writer.js';
import { encodeF16, encodeF32, encodeQ8_0 } from './train/quant.js';
import { tokenizerMetadata, type TokenizerData } from './train/vocab.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '/tmp/friday-default' },
    out: { type: 'string', default: 'models/friday-default.gguf' },
    type: { type: 'string', default: 'f16' },
    name: { type: 'string', default: 'Friday Default Stories' },
  },
});

interface WeightsJson {
  config: { dim: number; layers: number; heads: number; kv_heads: number; ffn: number; context: number; rope_base: number; eps: number; vocab: number };
  training: Record<string, unknown>;
  tensors: { name: string; dims: number[]; offset: number }[];
}

const dir = values.dir!;
const meta = JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')) as WeightsJson;
const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as TokenizerData;
const raw = readFileSync(join(dir, 'weights.bin'));
const c = meta.config;
const matType = values.type === 'q8_0' ? GGMLType.Q8_0 : values.type === 'f16' ? GGMLType.F16 : values.type === 'f32' ? GGMLType.F32 : NaN;
if (Number.isNaN(matType)) throw new Error('--type must be f16, q8_0 or f32');

const tensors: WriterTensor[] = [];
let maxErr = 0;
for (const t of meta.tensors) {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const x = new Float32Array(raw.buffer.slice(raw.byteOffset + t.offset, raw.byteOffset + t.offset + 4 * n));
  const type = t.dims.length === 1 ? GGMLType.F32 : matType;
  const data = type === GGMLType.Q8_0 ? encodeQ8_0(x) : type === GGMLType.F16 ? encodeF16(x) : encodeF32(x);
  const back = dequantize(type, data, n);
  for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(back[i]! - x[i]!));
  tensors.push({ name: t.name, dims: t.dims, type, data });
}

const u32 = (value: number): WriterValue => ({ type: 'u32', value });
const f32 = (value: number): WriterValue => ({ type: 'f32', value });
const metadata: Record<string, WriterValue> = {
  'general.architecture': { type: 'string', value: 'llama' },
  'general.name': { type: 'string', value: values.name! },
  'general.description': { type: 'string', value: 'A tiny Llama that tells simple children\'s stories. Trained by Friday\'s scripts/train on a procedurally generated corpus (scripts/corpus); see models/README.md.' },
  'general.license': { type: 'string', value: 'MIT' },
  'general.file_type': u32(matType === GGMLType.Q8_0 ? 7 : matType === GGMLType.F16 ? 1 : 0),
  ...(matType === GGMLType.Q8_0 ? { 'general.quantization_version': u32(2) } : {}),
  'llama.context_length': u32(c.context),
  'llama.embedding_length': u32(c.dim),
  'llama.block_count': u32(c.layers),
  'llama.feed_forward_length': u32(c.ffn),
  'llama.attention.head_count': u32(c.heads),
  'llama.attention.head_count_kv': u32(c.kv_heads),
  'llama.rope.dimension_count': u32(c.dim / c.heads),
  'llama.rope.freq_base': f32(c.rope_base),
  'llama.attention.layer_norm_rms_epsilon': f32(c.eps),
  'llama.vocab_size': u32(tok.tokens.length),
  ...tokenizerMetadata(tok),
};
const bytes = writeGGUF(metadata, tensors);
writeFileSync(values.out!, bytes);
process.stderr.write(`wrote ${values.out}: ${(bytes.byteLength / 1e6).toFixed(2)} MB, ${tensors.length} tensors, matrices ${values.type}, max abs rounding error ${maxErr.toExponential(2)}\n`);
