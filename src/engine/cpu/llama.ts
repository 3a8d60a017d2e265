// A Llama forward pass on the CPU, one token at a time, in the spirit of llama2.c's run.c: f32
// weights (dequantized at load), a KV cache, and plain loops. It is the fallback when there is no
// WebGPU adapter at all, sized for small models such as the built-in default one.
import { FridayError } from '../../api/errors.js';
import { readLlamaConfig, readTensorBytes, tensorInfo, type LlamaConfig } from '../../model/config.js';
import type { GGUFFile } from '../../model/gguf/types.js';
import { readModelHeader } from '../../model/source/split.js';
import type { ByteSource } from '../../model/source/types.js';
import { createTokenizer, type Tokenizer } from '../../tokenizer/index.js';
import { dequantize } from './dequant.js';

interface Layer {
  attnNorm: Float32Array; // [dim]
  wq: Float32Array; // [dim rows of dim]: q = wq x
  wk: Float32Array; // [kvDim rows of dim]
  wv: Float32Array; // [kvDim rows of dim]
  wo: Float32Array; // [dim rows of dim]
  ffnNorm: Float32Array; // [dim]
  wGate: Float32Array; // [ffnDim rows of dim] (w1)
  wUp: Float32Array; // [ffnDim rows of dim] (w3)
  wDown: Float32Array; // [dim rows of ffnDim] (w2)
}

export interface CpuLoadOptions {
  /** Max positions to cache; defaults to min(model context, 2048). */
  contextLength?: number;
  signal?: AbortSignal;
}

/** out[i] = sum_j w[i, j] x[j]: w is [d rows of n] row-major (ggml dims [n, d]). */
function matmul(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number): void {
  for (let i = 0; i < d; i++) {
    let s = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) s += w[row + j]! * x[j]!;
    out[i] = s;
  }
}

function rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array, eps: number): void {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  for (let i = 0; i < x.length; i++) out[i] = w[i]! * (x[i]! * scale);
}

function softmax(x: Float32Array, n: number): void {
  let max = x[0]!;
  for (let i = 1; i < n; i++) if (x[i]! > max) max = x[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) { x[i] = Math.exp(x[i]! - max); sum += x[i]!; }
  for (let i = 0; i < n; i++) x[i] = x[i]! / sum;
}

export class CpuLlama {
  readonly contextLength: number;
  private readonly embd: Float32Array; // [vocab rows of dim]
  private readonly outputNorm: Float32Array;
  private readonly wcls: Float32Array; // [vocab rows of dim]; token_embd when tied
  private readonly layers: Layer[];
  private readonly keyCache: Float32Array[]; // per layer [contextLength, kvDim]
  private readonly valueCache: Float32Array[];
  private readonly invFreq: Float64Array; // [ropeDim / 2]: base^(-2i / ropeDim)
  // activations
  private readonly x: Float32Array; private readonly xb: Float32Array; private readonly xb2: Float32Array;
  private readonly q: Float32Array; private readonly k: Float32Array; private readonly v: Float32Array;
  private readonly att: Float32Array; private readonly hb: Float32Array; private readonly hb2: Float32Array;
  private readonly logits: Float32Array;

  constructor(readonly config: LlamaConfig, readonly tokenizer: Tokenizer, weights: Map<string, Float32Array>, contextLength?: number) {
    const c = config;
    const get = (name: string) => {
      const w = weights.get(name);
      if (!w) throw new FridayError('GGUF_INVALID', `The model has no tensor "${name}".`, { tensor: name });
      return w;
    };
    this.contextLength = Math.min(contextLength ?? 2048, c.contextLength);
    this.embd = get('token_embd.weight');
    this.outputNorm = get('output_norm.weight');
    this.wcls = c.tiedEmbeddings ? this.embd : get('output.weight');
    this.layers = Array.from({ length: c.nLayers }, (_, l) => {
      const b = (s: string) => get(`blk.${l}.${s}.weight`);
      return {
        attnNorm: b('attn_norm'), wq: b('attn_q'), wk: b('attn_k'), wv: b('attn_v'), wo: b('attn_output'),
        ffnNorm: b('ffn_norm'), wGate: b('ffn_gate'), wUp: b('ffn_up'), wDown: b('ffn_down'),
      };
    });
    const kvDim = c.nKvHeads * c.headDim;
    this.keyCache = this.layers.map(() => new Float32Array(this.contextLength * kvDim));
    this.valueCache = this.layers.map(() => new Float32Array(this.contextLength * kvDim));
    this.invFreq = Float64Array.from({ length: c.ropeDim / 2 }, (_, i) => Math.pow(c.ropeTheta, (-2 * i) / c.ropeDim));
    const f = (n: number) => new Float32Array(n);
    this.x = f(c.dim); this.xb = f(c.dim); this.xb2 = f(c.dim);
    this.q = f(c.nHeads * c.headDim); this.k = f(kvDim); this.v = f(kvDim);
    this.att = f(this.contextLength); this.hb = f(c.ffnDim); this.hb2 = f(c.ffnDim);
    this.logits = f(c.vocabSize);
  }

  /** Reads a GGUF (header, tokenizer, every weight dequantized to f32). */
  static async load(source: ByteSource, opts: CpuLoadOptions = {}): Promise<CpuLlama> {
    const gguf: GGUFFile = await readModelHeader(source, opts.signal);
    const config = readLlamaConfig(gguf);
    const tokenizer = createTokenizer(gguf.metadata);
    const names = ['token_embd.weight', 'output_norm.weight', ...(config.tiedEmbeddings ? [] : ['output.weight'])];
    for (let l = 0; l < config.nLayers; l++) {
      for (const s of ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down']) names.push(`blk.${l}.${s}.weight`);
    }
    const weights = new Map<string, Float32Array>();
    for (const name of names) {
      const t = tensorInfo(gguf, name);
      weights.set(name, dequantize(t.type, await readTensorBytes(source, t), t.nElements));
    }
    return new CpuLlama(config, tokenizer, weights, opts.contextLength);
  }

  /** Runs `token` at position `pos` (0-based; earlier positions must have run) and returns the
   *  logits over the vocabulary. The returned array is reused by the next call. */
  forward(token: number, pos: number): Float32Array {
    const c = this.config;
    const { dim, nHeads, nKvHeads, headDim, ffnDim } = c;
    if (!Number.isInteger(token) || token < 0 || token >= c.vocabSize) throw new FridayError('INVALID_REQUEST', `Token id ${token} is outside the ${c.vocabSize}-token vocabulary.`, { token });
    if (!Number.isInteger(pos) || pos < 0 || pos >= this.contextLength) throw new FridayError('CONTEXT_LENGTH_EXCEEDED', `Position ${pos} is beyond the context of ${this.contextLength} tokens.`, { pos, contextLength: this.contextLength });
    const kvDim = nKvHeads * headDim;
    const group = nHeads / nKvHeads; // query heads per kv head
    const { x, xb, xb2, q, k, v, att, hb, hb2 } = this;
    x.set(this.embd.subarray(token * dim, (token + 1) * dim));

    for (let l = 0; l < c.nLayers; l++) {
      const w = this.layers[l]!;
      // attention: rmsnorm, q/k/v, RoPE, cache k/v, softmax(q k / sqrt(hd)) v, output projection
      rmsnorm(xb, x, w.attnNorm, c.normEps);
      matmul(q, xb, w.wq, dim, nHeads * headDim);
      matmul(k, xb, w.wk, dim, kvDim);
      matmul(v, xb, w.wv, dim, kvDim);
      this.rope(q, nHeads, pos);
      this.rope(k, nKvHeads, pos);
      const kc = this.keyCache[l]!, vc = this.valueCache[l]!;
      kc.set(k, pos * kvDim);
      vc.set(v, pos * kvDim);
      const scale = 1 / Math.sqrt(headDim);
      for (let h = 0; h < nHeads; h++) {
        const qo = h * headDim;
        const ko = Math.floor(h / group) * headDim;
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          const base = t * kvDim + ko;
          for (let i = 0; i < headDim; i++) s += q[qo + i]! * kc[base + i]!;
          att[t] = s * scale;
        }
        softmax(att, pos + 1);
        xb.fill(0, qo, qo + headDim);
        for (let t = 0; t <= pos; t++) {
          const a = att[t]!, base = t * kvDim + ko;
          for (let i = 0; i < headDim; i++) xb[qo + i] += a * vc[base + i]!;
        }
      }
      matmul(xb2, xb, w.wo, dim, dim);
      for (let i = 0; i < dim; i++) x[i] += xb2[i]!;

      // feed-forward: rmsnorm, w2(silu(w1 x) * w3 x)
      rmsnorm(xb, x, w.ffnNorm, c.normEps);
      matmul(hb, xb, w.wGate, dim, ffnDim);
      matmul(hb2, xb, w.wUp, dim, ffnDim);
      for (let i = 0; i < ffnDim; i++) {
        const g = hb[i]!;
        hb[i] = (g / (1 + Math.exp(-g))) * hb2[i]!;
      }
      matmul(xb2, hb, w.wDown, ffnDim, dim);
      for (let i = 0; i < dim; i++) x[i] += xb2[i]!;
    }

    rmsnorm(x, x, this.outputNorm, c.normEps);
    matmul(this.logits, x, this.wcls, dim, c.vocabSize);
    return this.logits;
  }

  /** GGUF "normal" RoPE: rotate adjacent pairs (x[2i], x[2i+1]) of each head's first ropeDim
   *  values by pos * base^(-2i / ropeDim). */
  private rope(vec: Float32Array, heads: number, pos: number): void {
    const { headDim } = this.config;
    for (let i = 0; i < this.invFreq.length; i++) {
      const angle = pos * this.invFreq[i]!;
      const cos = Math.cos(angle), sin = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const j = h * headDim + 2 * i;
        const x0 = vec[j]!, x1 = vec[j + 1]!;
        vec[j] = x0 * cos - x1 * sin;
        vec[j + 1] = x0 * sin + x1 * cos;
      }
    }
  }
}
