// Synthetic Llama models: valid GGUF of any shape and weight type, random weights from a seed, a
// small built-in vocabulary (./vocab.ts). Written to disk tensor by tensor in bounded chunks, so a
// multi-GB model needs no more than a few MiB of memory. Optionally split like llama.cpp's
// gguf-split (name-00001-of-0000N.gguf, metadata in the first part, split.* keys in all).
import { open, type FileHandle } from 'node:fs/promises';
import { GGMLType, tensorByteSize } from '../../src/model/dtypes.js';
import { encodeGGUFHeader, type WriterValue } from '../../src/model/gguf/writer.js';
import { f32ToF16 } from '../train/quant.js';
import { buildVocab, vocabMetadata } from './vocab.js';

export type SynthDtype = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';

export interface SynthSpec {
  dim: number;
  layers: number;
  dtype: SynthDtype;
  seed: number;
  /** Default: 8/3 dim rounded up to a multiple of 32. */
  ffnDim?: number;
  /** Default: dim / 64 heads (at least 1). */
  heads?: number;
  /** Default: heads. */
  kvHeads?: number;
  /** Default 512. */
  vocab?: number;
  /** Default 2048. */
  contextLength?: number;
  /** No output.weight: logits use token_embd. Default false. */
  tied?: boolean;
  /** RMSNorm epsilon. Default 1e-5. */
  normEps?: number;
  /** Write this many parts (gguf-split layout). Default 1. */
  split?: number;
  name?: string;
}

interface TensorSpec { name: string; dims: number[]; type: number }

const TYPE_ID: Record<SynthDtype, number> = { F32: GGMLType.F32, F16: GGMLType.F16, Q8_0: GGMLType.Q8_0, Q4_0: GGMLType.Q4_0 };
const CHUNK_ELEMS = 1 << 20; // per write; a multiple of 32 (quant block)

export function resolveSpec(s: SynthSpec): Required<SynthSpec> {
  const heads = s.heads ?? Math.max(1, Math.floor(s.dim / 64));
  const r: Required<SynthSpec> = {
    dim: s.dim, layers: s.layers, dtype: s.dtype, seed: s.seed, heads, kvHeads: s.kvHeads ?? heads, vocab: s.vocab ?? 512,
    ffnDim: s.ffnDim ?? Math.ceil((s.dim * 8) / 3 / 32) * 32, contextLength: s.contextLength ?? 2048, tied: s.tied ?? false, split: s.split ?? 1, normEps: s.normEps ?? 1e-5,
    name: s.name ?? `synthetic-${s.dtype}-d${s.dim}-l${s.layers}-s${s.seed}`,
  };
  const headDim = r.dim / r.heads;
  const bad = (why: string) => { throw new Error(`invalid synthetic model: ${why}`); };
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) bad(`dim ${r.dim} / heads ${r.heads} must be an even integer`);
  if (r.heads % r.kvHeads !== 0) bad(`heads ${r.heads} must be a multiple of kv heads ${r.kvHeads}`);
  if (r.dtype.startsWith('Q') && (r.dim % 32 || r.ffnDim % 32)) bad('dim and ffn must be multiples of 32 for quantized types');
  if (!(r.layers >= 1 && r.split >= 1)) bad('layers and split must be >= 1');
  return r;
}

/** The tensors of a llama model, in llama.cpp's order. Norms are F32 as llama.cpp keeps them. */
export function synthTensors(r: Required<SynthSpec>): TensorSpec[] {
  const t = TYPE_ID[r.dtype], kv = r.kvHeads * (r.dim / r.heads);
  const out: TensorSpec[] = [{ name: 'token_embd.weight', dims: [r.dim, r.vocab], type: t }];
  for (let l = 0; l < r.layers; l++) {
    const b = `blk.${l}.`;
    out.push(
      { name: b + 'attn_norm.weight', dims: [r.dim], type: GGMLType.F32 },
      { name: b + 'attn_q.weight', dims: [r.dim, r.dim], type: t },
      { name: b + 'attn_k.weight', dims: [r.dim, kv], type: t },
      { name: b + 'attn_v.weight', dims: [r.dim, kv], type: t },
      { name: b + 'attn_output.weight', dims: [r.dim, r.dim], type: t },
      { name: b + 'ffn_norm.weight', dims: [r.dim], type: GGMLType.F32 },
      { name: b + 'ffn_gate.weight', dims: [r.dim, r.ffnDim], type: t },
      { name: b + 'ffn_up.weight', dims: [r.dim, r.ffnDim], type: t },
      { name: b + 'ffn_down.weight', dims: [r.ffnDim, r.dim], type: t },
    );
  }
  out.push({ name: 'output_norm.weight', dims: [r.dim], type: GGMLType.F32 });
  if (!r.tied) out.push({ name: 'output.weight', dims: [r.dim, r.vocab], type: t });
  return out;
}

const bytesOf = (t: TensorSpec) => tensorByteSize(t.type, t.dims.reduce((a, b) => a * b, 1));

/** Tensor data bytes of a spec (the file adds the header and alignment padding). */
export function synthWeightBytes(s: SynthSpec): number {
  return synthTensors(resolveSpec(s)).reduce((n, t) => n + bytesOf(t), 0);
}

/** The smallest layer count (at least 1) whose weights reach `bytes` at this width. */
export function layersFor(bytes: number, s: Omit<SynthSpec, 'layers'>): number {
  const one = synthWeightBytes({ ...s, layers: 1 }), two = synthWeightBytes({ ...s, layers: 2 });
  return Math.max(1, 1 + Math.ceil((bytes - one) / (two - one)));
}

function metadata(r: Required<SynthSpec>): Record<string, WriterValue> {
  return {
    'general.architecture': { type: 'string', value: 'llama' },
    'general.name': { type: 'string', value: r.name },
    'llama.context_length': { type: 'u32', value: r.contextLength },
    'llama.embedding_length': { type: 'u32', value: r.dim },
    'llama.block_count': { type: 'u32', value: r.layers },
    'llama.feed_forward_length': { type: 'u32', value: r.ffnDim },
    'llama.attention.head_count': { type: 'u32', value: r.heads },
    'llama.attention.head_count_kv': { type: 'u32', value: r.kvHeads },
    'llama.rope.dimension_count': { type: 'u32', value: r.dim / r.heads },
    'llama.rope.freq_base': { type: 'f32', value: 10000 },
    'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: r.normEps },
    'llama.vocab_size': { type: 'u32', value: r.vocab },
    ...vocabMetadata(buildVocab(r.vocab)),
  };
}

/** xorshift32, one stream per tensor. */
function prng(seed: number): () => number {
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < 8; i++) x = step(x);
  return () => (x = step(x));
}
const step = (x: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };

/** A random int8 quant in [-127, 127] from the low byte of x (-128 is not a Q8_0 value). */
const q8 = (x: number) => ((x & 0xff) === 0x80 ? 0x81 : x & 0xff);

/**
 * Fills `out` (a fresh, aligned buffer) with `n` elements of type `type`: uniform weights of
 * standard deviation `sd`. Typed-array views write little-endian, as GGUF is, on the hosts we run.
 */
function fill(out: Uint8Array, n: number, type: number, sd: number, rand: () => number, f16Table: Uint16Array): number {
  const a = sd * Math.sqrt(3); // uniform [-a, a] has standard deviation sd
  if (type === GGMLType.F32) {
    const f = new Float32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) f[i] = (rand() / 2 ** 31 - 1) * a;
    return 4 * n;
  }
  if (type === GGMLType.F16) {
    const h = new Uint16Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) h[i] = f16Table[rand() & 1023]!;
    return 2 * n;
  }
  const q8type = type === GGMLType.Q8_0;
  const bs = q8type ? 34 : 18;
  const d = f32ToF16(q8type ? a / 127 : a / 8); // Q8_0: quants in [-127, 127]; Q4_0: nibbles 0..15 stand for -8..7
  for (let o = 0; o < (n / 32) * bs; o += bs) {
    out[o] = d & 0xff;
    out[o + 1] = d >>> 8;
    for (let j = o + 2; j < o + bs; j += 4) {
      const r = rand();
      out[j] = q8type ? q8(r) : r;
      out[j + 1] = q8type ? q8(r >>> 8) : r >>> 8;
      out[j + 2] = q8type ? q8(r >>> 16) : r >>> 16;
      out[j + 3] = q8type ? q8(r >>> 24) : r >>> 24;
    }
  }
  return (n / 32) * bs;
}

/** Which tensors go to which part: contiguous runs of about equal bytes. */
function partition(tensors: TensorSpec[], parts: number): TensorSpec[][] {
  const total = tensors.reduce((s, t) => s + bytesOf(t), 0);
  const out: TensorSpec[][] = Array.from({ length: parts }, () => []);
  let acc = 0;
  for (const t of tensors) {
    const i = Math.min(parts - 1, Math.floor((acc / total) * parts));
    out[i]!.push(t);
    acc += bytesOf(t);
  }
  if (out.some((p) => p.length === 0)) throw new Error(`cannot split ${tensors.length} tensors into ${parts} non-empty parts`);
  return out;
}

/** File names for `out` split in `n` parts (llama.cpp's naming), or [out]. */
export function partNames(out: string, n: number): string[] {
  if (n === 1) return [out];
  const base = out.replace(/\.gguf$/i, '');
  return Array.from({ length: n }, (_, i) => `${base}-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.gguf`);
}

/** Writes the model; returns the files written and their total size. */
export async function writeSyntheticModel(out: string, spec: SynthSpec): Promise<{ files: string[]; bytes: number }> {
  const r = resolveSpec(spec);
  const tensors = synthTensors(r);
  const groups = partition(tensors, r.split);
  const files = partNames(out, r.split);
  const f16Table = Uint16Array.from({ length: 1024 }, (_, i) => f32ToF16(((i + 0.5) / 1024) * 2 - 1)); // scaled per tensor below
  let bytes = 0, index = 0;
  for (let p = 0; p < groups.length; p++) {
    const meta: Record<string, WriterValue> = p === 0 ? metadata(r) : {};
    if (r.split > 1) {
      meta['split.no'] = { type: 'u16', value: p };
      meta['split.count'] = { type: 'u16', value: r.split };
      meta['split.tensors.count'] = { type: 'i32', value: tensors.length };
    }
    bytes += await writePart(files[p]!, meta, groups[p]!, r.seed, () => index++, f16Table);
  }
  return { files, bytes };
}

async function writePart(path: string, meta: Record<string, WriterValue>, tensors: TensorSpec[], seed: number, nextIndex: () => number, f16Unit: Uint16Array): Promise<number> {
  const { header, offsets, dataSize } = encodeGGUFHeader(meta, tensors);
  const fh = await open(path, 'w');
  try {
    await writeAll(fh, header);
    const buf = new Uint8Array(CHUNK_ELEMS * 4);
    let at = 0;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!, rand = prng(seed * 7919 + nextIndex());
      if (offsets[i]! > at) await writeAll(fh, new Uint8Array(offsets[i]! - at)); // alignment padding
      at = offsets[i]!;
      const n = t.dims.reduce((a, b) => a * b, 1);
      if (t.dims.length === 1) { // norm weights: 1.0, as trained models roughly are
        const ones = new Float32Array(n).fill(1);
        await writeAll(fh, new Uint8Array(ones.buffer));
        at += 4 * n;
        continue;
      }
      const sd = t.name === 'token_embd.weight' ? 1 : 1 / Math.sqrt(t.dims[0]!);
      const table = t.type === GGMLType.F16 ? Uint16Array.from(f16Unit, (h) => f32ToF16(halfToFloat(h) * sd * Math.sqrt(3))) : f16Unit;
      for (let done = 0; done < n; done += CHUNK_ELEMS) {
        const m = Math.min(CHUNK_ELEMS, n - done);
        const len = fill(buf, m, t.type, sd, rand, table);
        await writeAll(fh, buf.subarray(0, len));
        at += len;
      }
    }
    if (at !== dataSize) throw new Error(`internal: wrote ${at} data bytes, expected ${dataSize}`);
    return header.byteLength + dataSize;
  } finally {
    await fh.close();
  }
}

/** FileHandle.write may write less than asked; loop until it's all out. */
async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let o = 0; o < bytes.byteLength; ) o += (await fh.write(bytes, o, bytes.byteLength - o)).bytesWritten;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
