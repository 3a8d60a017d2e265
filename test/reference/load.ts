// Loads a GGUF for the CPU reference: header via readGGUF, every tensor's raw bytes via
// readTensorBytes. Only for the tiny test models (it holds the whole file in memory).
import { readLlamaConfig, readTensorBytes, type LlamaConfig } from '../../src/model/config.js';
import { readGGUF, type GGUFFile } from '../../src/model/gguf/index.js';
import { FileSource } from '../../src/model/source/file.js';
import { ReferenceLlama, type RawTensor, type ReferenceOptions } from './llama.js';

export interface ReferenceModel {
  gguf: GGUFFile; // header and metadata (tokenizer.ggml.* for decoding)
  cfg: LlamaConfig;
  tensors: Map<string, RawTensor>;
}

export async function loadReferenceModel(path: string): Promise<ReferenceModel> {
  const src = await FileSource.open(path);
  try {
    const gguf = await readGGUF(src);
    const cfg = readLlamaConfig(gguf);
    const tensors = new Map<string, RawTensor>();
    for (const t of gguf.tensors) {
      tensors.set(t.name, { type: t.type, dims: t.dims, data: await readTensorBytes(src, t) });
    }
    return { gguf, cfg, tensors };
  } finally {
    await src.close();
  }
}

/** loadReferenceModel + new ReferenceLlama. */
export async function loadReferenceLlama(path: string, opts: ReferenceOptions = {}): Promise<{ model: ReferenceModel; llama: ReferenceLlama }> {
  const model = await loadReferenceModel(path);
  return { model, llama: new ReferenceLlama(model.cfg, model.tensors, opts) };
}
