// ReferenceLlama: a whole Llama forward pass on the CPU, written to be read top to bottom like
// llama2.c's run.c. It is the oracle for the GPU engine's logits, including ragged batches that mix
// several sequences (each with its own KV cache), so continuous batching can be checked token by token.
import type { LlamaConfig } from '../../src/model/config.js';
import { attendOne, matmul, prepareWeight, rmsnorm, rope, swiglu, weightRow, type ActMode, type AttnRounding, type AttentionShape, type PreparedWeight } from './ops.js';
import { dequantize, roundToF16 } from './quant.js';

export interface RawTensor {
  type: number; // GGML type id
  dims: number[]; // ggml order
  data: Uint8Array;
}

export interface ReferenceOptions {
  /** See ActMode in ops.ts. Default 'f32'. */
  actMode?: ActMode;
  /** 'f16' rounds K and V when they are stored, like llama.cpp's default cache. Default 'f32'. */
  kvDtype?: 'f32' | 'f16';
  /** With actMode 'llamacpp' and an f16 cache: emulate ggml_flash_attn_ext (true, llama.cpp's
   *  default on CPU) or the plain mul_mat/soft_max graph (false). Default true. */
  flashAttention?: boolean;
}

export interface BatchToken {
  seq: number; // sequence id: selects the KV cache
  token: number;
  pos: number; // position in its sequence; attends to cache rows 0..pos
}

interface LayerWeights {
  attnNorm: Float32Array; // [dim]
  wq: PreparedWeight; // [dim] -> [nHeads * headDim]
  wk: PreparedWeight; // [dim] -> [kvDim]
  wv: PreparedWeight; // [dim] -> [kvDim]
  wo: PreparedWeight; // [dim] -> [dim]
  ffnNorm: Float32Array; // [dim]
  wGate: PreparedWeight; // w1: [dim] -> [ffnDim]
  wUp: PreparedWeight; // w3: [dim] -> [ffnDim]
  wDown: PreparedWeight; // w2: [ffnDim] -> [dim]
}

/** Per-forward activations, all f32 with n = batch length. */
interface Scratch {
  x: Float32Array; // [n, dim] residual stream
  xb: Float32Array; // [n, dim] normed input of a branch
  q: Float32Array; // [n, nHeads * headDim]
  k: Float32Array; // [n, kvDim]
  v: Float32Array; // [n, kvDim]
  att: Float32Array; // [n, dim] attention output, before wo
  xb2: Float32Array; // [n, dim] branch output
  hb: Float32Array; // [n, ffnDim] gate, then silu(gate) * up
  hb2: Float32Array; // [n, ffnDim] up
}

interface SeqCache {
  k: Float32Array[]; // per layer [contextLength, kvDim]
  v: Float32Array[]; // per layer [contextLength, kvDim]
  filled: Uint8Array; // [contextLength] 1 where row pos has been written
}

export class ReferenceLlama {
  readonly actMode: ActMode;
  readonly kvDtype: 'f32' | 'f16';
  readonly attnRounding: AttnRounding;
  private readonly embd: PreparedWeight; // token_embd [dim] x vocab rows
  private readonly outputNorm: Float32Array; // [dim]
  private readonly wcls: PreparedWeight; // output (or token_embd when tied): [dim] -> [vocab]
  private readonly layers: LayerWeights[] = [];
  private readonly seqs = new Map<number, SeqCache>();

  constructor(readonly cfg: LlamaConfig, tensors: Map<string, RawTensor>, opts: ReferenceOptions = {}) {
    this.actMode = opts.actMode ?? 'f32';
    this.kvDtype = opts.kvDtype ?? 'f32';
    const emulate = this.actMode === 'llamacpp' && this.kvDtype === 'f16';
    this.attnRounding = !emulate ? 'exact' : opts.flashAttention ?? true ? 'ggml-flash' : 'ggml';
    const get = (name: string): RawTensor => {
      const t = tensors.get(name);
      if (!t) throw new Error(`reference: tensor ${name} missing`);
      return t;
    };
    const weight = (name: string) => { const t = get(name); return prepareWeight(t.type, t.dims, t.data); };
    const vector = (name: string) => { const t = get(name); return dequantize(t.type, t.data, t.dims[0]!); };
    this.embd = weight('token_embd.weight');
    this.outputNorm = vector('output_norm.weight');
    this.wcls = cfg.tiedEmbeddings ? this.embd : weight('output.weight');
    for (let l = 0; l < cfg.nLayers; l++) {
      const b = `blk.${l}.`;
      this.layers.push({
        attnNorm: vector(b + 'attn_norm.weight'),
        wq: weight(b + 'attn_q.weight'), wk: weight(b + 'attn_k.weight'), wv: weight(b + 'attn_v.weight'),
        wo: weight(b + 'attn_output.weight'),
        ffnNorm: vector(b + 'ffn_norm.weight'),
        wGate: weight(b + 'ffn_gate.weight'), wUp: weight(b + 'ffn_up.weight'), wDown: weight(b + 'ffn_down.weight'),
      });
    }
  }

  /** Forgets a sequence's KV cache (its next forward must start again at pos 0). */
  resetSeq(seq: number): void {
    this.seqs.delete(seq);
  }

  /** Runs one ragged batch; returns logits [batch.length, vocab] f32, row i for batch[i]. Tokens
   *  of the same sequence may appear several times (a prompt chunk); each sees its sequence's cache
   *  rows 0..pos, written earlier or by this batch. */
  forward(batch: readonly BatchToken[]): Float32Array {
    const c = this.cfg, n = batch.length, dim = c.dim;
    const s = this.scratch(n);
    const caches = batch.map((b) => this.cacheFor(b));
    const positions = batch.map((b) => b.pos);

    // 1. token embeddings (ggml_get_rows dequantizes quantized rows exactly)
    for (let t = 0; t < n; t++) weightRow(this.embd, this.checkToken(batch[t]!.token), s.x, t * dim);
    // 2-8. the transformer blocks
    for (let l = 0; l < c.nLayers; l++) this.layer(l, s, n, caches, positions);
    // 9. final rmsnorm and classifier
    rmsnorm(s.x, s.x, this.outputNorm, n, dim, c.normEps);
    const logits = new Float32Array(n * c.vocabSize); // [n, vocab]
    matmul(logits, s.x, this.wcls, n, this.actMode);
    return logits;
  }

  private layer(l: number, s: Scratch, n: number, caches: SeqCache[], positions: number[]): void {
    const c = this.cfg, w = this.layers[l]!, mode = this.actMode;
    const { dim, ffnDim, nHeads, nKvHeads, headDim } = c;
    const kvDim = nKvHeads * headDim;
    // 2. attention rmsnorm
    rmsnorm(s.xb, s.x, w.attnNorm, n, dim, c.normEps);
    // 3. q, k, v projections
    matmul(s.q, s.xb, w.wq, n, mode);
    matmul(s.k, s.xb, w.wk, n, mode);
    matmul(s.v, s.xb, w.wv, n, mode);
    // 4. RoPE on q and k at each token's own position (llama.cpp builds its angles in f32)
    const angles = mode === 'llamacpp' ? 'ggml' : 'exact';
    rope(s.q, n, nHeads, headDim, c.ropeDim, positions, c.ropeTheta, angles);
    rope(s.k, n, nKvHeads, headDim, c.ropeDim, positions, c.ropeTheta, angles);
    // 5. write k, v into each token's sequence cache at its position, in the cache's precision
    for (let t = 0; t < n; t++) this.store(caches[t]!, l, positions[t]!, s.k, s.v, t * kvDim);
    if (l === 0) for (let t = 0; t < n; t++) checkFilled(caches[t]!, positions[t]!);
    // 6. causal attention: token t attends to rows 0..pos of its own sequence
    const shape: AttentionShape = { nHeads, nKvHeads, headDim };
    for (let t = 0; t < n; t++) {
      const cache = caches[t]!;
      attendOne(s.att, t * dim, s.q, t * dim, cache.k[l]!, cache.v[l]!, positions[t]! + 1, shape, this.attnRounding);
    }
    // 7. output projection and residual
    matmul(s.xb2, s.att, w.wo, n, mode);
    for (let i = 0; i < n * dim; i++) s.x[i] = s.x[i]! + s.xb2[i]!;
    // 8. ffn rmsnorm, then w2(silu(w1 x) * w3 x), and residual
    rmsnorm(s.xb, s.x, w.ffnNorm, n, dim, c.normEps);
    matmul(s.hb, s.xb, w.wGate, n, mode);
    matmul(s.hb2, s.xb, w.wUp, n, mode);
    swiglu(s.hb, s.hb, s.hb2, n * ffnDim, mode, ffnDim);
    matmul(s.xb2, s.hb, w.wDown, n, mode);
    for (let i = 0; i < n * dim; i++) s.x[i] = s.x[i]! + s.xb2[i]!;
  }

  /** Activation buffers for an n-token batch (fresh each forward: batches are small). */
  private scratch(n: number): Scratch {
    const { dim, ffnDim, nKvHeads, headDim } = this.cfg;
    const f = (len: number) => new Float32Array(n * len);
    return {
      x: f(dim), xb: f(dim), q: f(dim), k: f(nKvHeads * headDim), v: f(nKvHeads * headDim),
      att: f(dim), xb2: f(dim), hb: f(ffnDim), hb2: f(ffnDim),
    };
  }

  private checkToken(tok: number): number {
    if (!Number.isInteger(tok) || tok < 0 || tok >= this.cfg.vocabSize) throw new Error(`reference: token ${tok} outside vocab [0, ${this.cfg.vocabSize})`);
    return tok;
  }

  private cacheFor(b: BatchToken): SeqCache {
    const c = this.cfg, kvDim = c.nKvHeads * c.headDim;
    if (!Number.isInteger(b.pos) || b.pos < 0 || b.pos >= c.contextLength) throw new Error(`reference: seq ${b.seq} pos ${b.pos} outside context [0, ${c.contextLength})`);
    let s = this.seqs.get(b.seq);
    if (!s) {
      const layer = () => new Float32Array(c.contextLength * kvDim);
      s = { k: Array.from({ length: c.nLayers }, layer), v: Array.from({ length: c.nLayers }, layer), filled: new Uint8Array(c.contextLength) };
      this.seqs.set(b.seq, s);
    }
    return s;
  }

  private store(s: SeqCache, l: number, pos: number, k: Float32Array, v: Float32Array, off: number): void {
    const kvDim = this.cfg.nKvHeads * this.cfg.headDim, round = this.kvDtype === 'f16';
    const kc = s.k[l]!, vc = s.v[l]!;
    for (let i = 0; i < kvDim; i++) {
      kc[pos * kvDim + i] = round ? roundToF16(k[off + i]!) : k[off + i]!;
      vc[pos * kvDim + i] = round ? roundToF16(v[off + i]!) : v[off + i]!;
    }
    s.filled[pos] = 1;
  }
}

/** Attention reads rows 0..pos; a hole means the caller skipped a position of this sequence. */
function checkFilled(s: SeqCache, pos: number): void {
  for (let p = 0; p <= pos; p++) {
    if (!s.filled[p]) throw new Error(`reference: position ${pos} attends to row ${p}, which no forward has written`);
  }
}
