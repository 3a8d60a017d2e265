// Llama-family hyperparameters from GGUF metadata, and the tensor names the forward pass needs.
import { FridayError } from '../api/errors.js';
import { assertGpuType } from './dtypes.js';
import { metaNumber, metaOptNumber, metaString, type Metadata } from './gguf/metadata.js';
import type { GGUFFile, GGUFTensorInfo } from './gguf/types.js';

export const SUPPORTED_ARCHITECTURES = ['llama'] as const;

export interface LlamaConfig {
  architecture: 'llama';
  name: string;
  nLayers: number;
  dim: number; // embedding_length
  ffnDim: number; // feed_forward_length
  nHeads: number;
  nKvHeads: number;
  headDim: number; // dim / nHeads
  ropeDim: number; // rotated dims per head (rope.dimension_count), <= headDim
  ropeTheta: number;
  normEps: number;
  contextLength: number;
  vocabSize: number;
  /** No output.weight in the file: logits use token_embd.weight. */
  tiedEmbeddings: boolean;
}

export function readLlamaConfig(gguf: GGUFFile): LlamaConfig {
  const m: Metadata = gguf.metadata;
  const arch = metaString(m, 'general.architecture', 'unknown');
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new FridayError('UNSUPPORTED_ARCHITECTURE', `Model architecture "${arch}" is not supported. Supported: ${SUPPORTED_ARCHITECTURES.join(', ')} (Llama 1/2/3, TinyLlama, SmolLM, Mistral without sliding window).`, { architecture: arch, supported: [...SUPPORTED_ARCHITECTURES] });
  }
  const k = (s: string) => `${arch}.${s}`;
  if (metaOptNumber(m, k('attention.sliding_window'))) {
    throw new FridayError('UNSUPPORTED_ARCHITECTURE', 'Sliding-window attention is not supported yet; use a model without llama.attention.sliding_window.', { architecture: arch });
  }
  const dim = metaNumber(m, k('embedding_length'));
  const nHeads = metaNumber(m, k('attention.head_count'));
  const nKvHeads = metaNumber(m, k('attention.head_count_kv'), nHeads);
  const embd = tensorInfo(gguf, 'token_embd.weight');
  const vocabSize = metaOptNumber(m, k('vocab_size')) ?? embd.dims[1]!;
  const headDim = metaOptNumber(m, k('attention.key_length')) ?? dim / nHeads;
  const cfg: LlamaConfig = {
    architecture: 'llama',
    name: metaString(m, 'general.name', 'unnamed'),
    nLayers: metaNumber(m, k('block_count')),
    dim,
    ffnDim: metaNumber(m, k('feed_forward_length')),
    nHeads,
    nKvHeads,
    headDim,
    ropeDim: metaOptNumber(m, k('rope.dimension_count')) ?? headDim,
    ropeTheta: metaNumber(m, k('rope.freq_base'), 10000),
    normEps: metaNumber(m, k('attention.layer_norm_rms_epsilon'), 1e-5),
    contextLength: metaNumber(m, k('context_length'), 2048),
    vocabSize,
    tiedEmbeddings: !gguf.tensors.some((t) => t.name === 'output.weight'),
  };
  validateConfig(cfg, gguf);
  return cfg;
}

function validateConfig(c: LlamaConfig, gguf: GGUFFile): void {
  const fail = (what: string) => { throw new FridayError('GGUF_INVALID', `Inconsistent llama model: ${what}. The file is corrupt or mislabelled.`, { config: c }); };
  if (!Number.isInteger(c.headDim) || c.headDim * c.nHeads !== c.dim) fail(`embedding_length ${c.dim} is not head_count ${c.nHeads} x head size`);
  if (c.nHeads % c.nKvHeads !== 0) fail(`head_count ${c.nHeads} is not a multiple of head_count_kv ${c.nKvHeads}`);
  if (c.ropeDim > c.headDim || c.ropeDim % 2 !== 0) fail(`rope.dimension_count ${c.ropeDim} must be even and at most the head size ${c.headDim}`);
  const kvDim = c.nKvHeads * c.headDim;
  const expect = (name: string, dims: number[]) => {
    const t = tensorInfo(gguf, name);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) fail(`tensor ${name} has shape [${t.dims}], expected [${dims}]`);
    assertGpuType(t.type, name);
  };
  expect('token_embd.weight', [c.dim, c.vocabSize]);
  expect('output_norm.weight', [c.dim]);
  if (!c.tiedEmbeddings) expect('output.weight', [c.dim, c.vocabSize]);
  for (let l = 0; l < c.nLayers; l++) {
    const b = `blk.${l}.`;
    expect(b + 'attn_norm.weight', [c.dim]);
    expect(b + 'attn_q.weight', [c.dim, c.dim]);
    expect(b + 'attn_k.weight', [c.dim, kvDim]);
    expect(b + 'attn_v.weight', [c.dim, kvDim]);
    expect(b + 'attn_output.weight', [c.dim, c.dim]);
    expect(b + 'ffn_norm.weight', [c.dim]);
    expect(b + 'ffn_gate.weight', [c.dim, c.ffnDim]);
    expect(b + 'ffn_up.weight', [c.dim, c.ffnDim]);
    expect(b + 'ffn_down.weight', [c.ffnDim, c.dim]);
  }
}

export function tensorInfo(gguf: GGUFFile, name: string): GGUFTensorInfo {
  const t = gguf.tensors.find((x) => x.name === name);
  if (!t) throw new FridayError('GGUF_INVALID', `The model has no tensor "${name}", which a llama model needs. The file is incomplete or not a llama model.`, { tensor: name });
  return t;
}

/** Reads a tensor's raw bytes (small models, tests and the CPU reference path). */
export async function readTensorBytes(src: { read(o: number, n: number): Promise<Uint8Array> }, t: GGUFTensorInfo): Promise<Uint8Array> {
  const b = await src.read(t.offset, t.byteSize);
  if (b.byteLength !== t.byteSize) throw new FridayError('GGUF_INVALID', `Tensor "${t.name}" is truncated at byte ${t.offset + b.byteLength}.`, { tensor: t.name, offset: t.offset + b.byteLength });
  return b;
}
