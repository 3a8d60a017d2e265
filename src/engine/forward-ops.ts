// The Llama forward step as data: kernels compiled at load, bind groups made once, and a function
// that lists the ops of a step of a given size, in the order run.c computes them.
import type { GpuContext } from '../gpu/context.js';
import type { Op } from '../gpu/ops.js';
import type { PipelineCache } from '../gpu/pipelines.js';
import { AddKernel } from '../gpu/kernels/add.js';
import { ArgmaxKernel } from '../gpu/kernels/argmax.js';
import { AttentionKernel } from '../gpu/kernels/attention.js';
import { EmbeddingKernel } from '../gpu/kernels/embedding.js';
import { GatherRowsKernel } from '../gpu/kernels/gather-rows.js';
import { KvWriteKernel } from '../gpu/kernels/kv-write.js';
import { MatmulKernel, needsQ8Activations } from '../gpu/kernels/matmul.js';
import { QuantizeQ8Kernel } from '../gpu/kernels/quantize-q8.js';
import { RmsNormKernel } from '../gpu/kernels/rmsnorm.js';
import { RopeKernel, buildRopeTable } from '../gpu/kernels/rope.js';
import { MAX_LOGPROBS, SampleKernel } from '../gpu/kernels/sample.js';
import { SwigluKernel } from '../gpu/kernels/swiglu.js';
import type { LlamaConfig } from '../model/config.js';
import type { GpuTensor, GpuWeights, WeightInfo } from '../model/weights.js';
import type { Activations, ForwardOptions } from './forward.js';
import type { KvCache } from './kv-cache.js';

type RowsOp = (rows: number) => Op;
/** A weight split over buffers runs as one op per part. */
type RowsOps = RowsOp | RowsOp[] | undefined;

export interface Kernels {
  ropeTable: GPUBuffer; // [maxPositions, ropeDim / 2, 2] f32 cos, sin
  get(key: string): unknown;
  destroy(): void;
}

const LAYER_MATS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;

/** Recent tokens per row seen by the repetition penalty (llama.cpp's penalty_last_n default). */
export const SAMPLE_WINDOW = 64;

export type StepMode = 'ids' | 'logits' | 'sample' | 'sample+logprobs';

/** Pipeline key of part `i` of a layer matmul weight: shapes (and part ranges) shared across layers. */
function matmulKey(t: WeightInfo, i: number): string {
  const p = t.parts[i]!;
  return `mm.${t.type}.${t.dims[0]}x${t.dims[1]}` + (t.parts.length > 1 ? `.rows${p.rowStart}+${p.rowCount}` : '');
}

/** Compiles each distinct pipeline once, in parallel. Returns them keyed by role. */
export async function compileKernels(gpu: GpuContext, cache: PipelineCache, c: LlamaConfig, w: GpuWeights, kv: KvCache, o: ForwardOptions): Promise<Kernels> {
  const kvShape = { headDim: c.headDim, nHeads: c.nHeads, nKvHeads: c.nKvHeads, pageSize: kv.shape.pageSize, maxPagesPerSeq: kv.shape.maxPagesPerSeq, kvF16: kv.shape.dtype === 'f16' };
  const dot4 = gpu.features.dot4I8Packed;
  const out = c.tiedEmbeddings ? w.info('token_embd.weight') : w.info('output.weight');
  const layerQ8 = (mats: readonly string[]) => Array.from({ length: c.nLayers }, (_, l) => mats.some((m) => needsQ8Activations(w.info(`blk.${l}.${m}.weight`).type))).some(Boolean);
  const jobs: Record<string, Promise<unknown>> = {
    norm: RmsNormKernel.create(cache, { dim: c.dim, eps: c.normEps, rows: 'tokens' }),
    normOut: RmsNormKernel.create(cache, { dim: c.dim, eps: c.normEps, rows: 'out' }),
    ropeQ: RopeKernel.create(cache, { headDim: c.headDim, ropeDim: c.ropeDim, nHeads: c.nHeads }),
    ropeK: RopeKernel.create(cache, { headDim: c.headDim, ropeDim: c.ropeDim, nHeads: c.nKvHeads }),
    kvWrite: KvWriteKernel.create(cache, kvShape),
    attention: AttentionKernel.create(cache, kvShape),
    swiglu: SwigluKernel.create(cache, { ffnDim: c.ffnDim }),
    add: AddKernel.create(cache, { dim: c.dim }),
    gather: GatherRowsKernel.create(cache, { dim: c.dim }),
    argmax: ArgmaxKernel.create(cache, { vocab: c.vocabSize }),
    sample: SampleKernel.create(cache, { vocab: c.vocabSize, window: SAMPLE_WINDOW }),
    sampleLp: SampleKernel.create(cache, { vocab: c.vocabSize, window: SAMPLE_WINDOW, logprobs: { top: Math.min(MAX_LOGPROBS, c.vocabSize) } }),
  };
  // A weight split by rows (larger than one binding) gets one pipeline per part: each part is its
  // own buffer, and writes its own range of output columns (matmul) or of token rows (embedding).
  const embd = w.info('token_embd.weight');
  embd.parts.forEach((p, i) => {
    jobs[`embed.${i}`] = EmbeddingKernel.create(cache, { dtype: embd.type, dim: c.dim, vocab: c.vocabSize, rowStart: p.rowStart, rowCount: p.rowCount });
  });
  out.parts.forEach((p, i) => {
    jobs[`lmHead.${i}`] = MatmulKernel.create(cache, { dtype: out.type, k: c.dim, n: p.rowCount, nOffset: p.rowStart, yStride: c.vocabSize, rows: 'out', dot4 });
  });
  // Quantized weights read activations quantized to Q8_0 blocks, as llama.cpp does.
  if (layerQ8(LAYER_MATS.filter((m) => m !== 'ffn_down'))) jobs.quantDim = QuantizeQ8Kernel.create(cache, { k: c.dim, rows: 'tokens' });
  if (layerQ8(['ffn_down'])) jobs.quantFfn = QuantizeQ8Kernel.create(cache, { k: c.ffnDim, rows: 'tokens' });
  if (needsQ8Activations(out.type)) jobs.quantOut = QuantizeQ8Kernel.create(cache, { k: c.dim, rows: 'out' });
  // One matmul pipeline per distinct (dtype, shape); layers share them.
  for (let l = 0; l < c.nLayers; l++) {
    for (const m of LAYER_MATS) {
      const t = w.info(`blk.${l}.${m}.weight`);
      t.parts.forEach((p, i) => {
        jobs[matmulKey(t, i)] ??= MatmulKernel.create(cache, { dtype: t.type, k: t.dims[0]!, n: p.rowCount, nOffset: p.rowStart, yStride: t.dims[1]!, rows: 'tokens', dot4 });
      });
    }
  }
  const entries = await Promise.all(Object.entries(jobs).map(async ([k, p]) => [k, await p] as const));
  const map = new Map<string, unknown>(entries);
  const maxPos = kv.shape.maxPagesPerSeq * kv.shape.pageSize;
  const ropeTable = gpu.createBufferFrom('rope.table', buildRopeTable(c.ropeDim, c.ropeTheta, maxPos));
  return {
    ropeTable,
    get: (key) => map.get(key),
    destroy: () => gpu.destroyBuffer(ropeTable),
  };
}

/** The ops of one layer, bound once; a step lists them with its row count. */
type LayerOps = Record<'attnNorm' | 'quantXn' | 'wq' | 'wk' | 'wv' | 'ropeQ' | 'ropeK' | 'kvWrite' | 'attention' | 'quantAtt' | 'wo' | 'addAtt'
  | 'ffnNorm' | 'quantFfnIn' | 'w1' | 'w3' | 'swiglu' | 'quantHidden' | 'w2' | 'addFfn', RowsOps>;
/** The ops after the layers: logit rows only, then token selection per mode. */
type HeadOps = Record<'gather' | 'finalNorm' | 'quantOut' | 'lmHead' | 'argmax' | 'sample' | 'sampleLp', RowsOps>;

/** Binding helpers over one model's kernels, weights and activations (`step`: the step uniform). */
function binder(gpu: GpuContext, K: Kernels, w: GpuWeights, a: Activations, step: GPUBuffer) {
  const k = <T>(key: string) => K.get(key) as T;
  const W = (name: string) => w.get(name);
  return {
    k, W, step,
    /** y = W x; quantized weights read x from the shared Q8_0 activation buffers. */
    matmul(label: string, wName: string, x: GPUBuffer, y: GPUBuffer, rowsFrom: 'tokens' | 'out' = 'tokens'): RowsOp[] {
      const t = W(wName);
      return t.parts.map((p, i) => {
        const kern = rowsFrom === 'out' ? k<MatmulKernel>(`lmHead.${i}`) : k<MatmulKernel>(matmulKey(t, i));
        return kern.bind(gpu, t.parts.length > 1 ? `${label}[${i}]` : label, { step, x, xq: a.xq, xd: a.xd, w: p.buffer, y });
      });
    },
    /** Quantizes x to Q8_0 when one of `weights` needs it, else no op. */
    quantFor(weights: string[], kernKey: string, label: string, x: GPUBuffer): RowsOp | undefined {
      return weights.some((n) => needsQ8Activations(W(n).type)) ? k<QuantizeQ8Kernel>(kernKey).bind(gpu, label, { step, x, xq: a.xq, xd: a.xd }) : undefined;
    },
  };
}
type Binder = ReturnType<typeof binder>;

function bindLayer(gpu: GpuContext, B: Binder, K: Kernels, kv: KvCache, a: Activations, l: number): LayerOps {
  const { k, W, step, matmul, quantFor } = B;
  const b = `blk.${l}.`;
  return {
    attnNorm: k<RmsNormKernel>('norm').bind(gpu, `${b}attn_norm`, { step, x: a.x, w: W(b + 'attn_norm.weight').buffer, y: a.xn }),
    quantXn: quantFor([b + 'attn_q.weight', b + 'attn_k.weight', b + 'attn_v.weight'], 'quantDim', `${b}q8(xn)`, a.xn),
    wq: matmul(`${b}attn_q`, b + 'attn_q.weight', a.xn, a.q),
    wk: matmul(`${b}attn_k`, b + 'attn_k.weight', a.xn, a.k),
    wv: matmul(`${b}attn_v`, b + 'attn_v.weight', a.xn, a.v),
    ropeQ: k<RopeKernel>('ropeQ').bind(gpu, `${b}rope_q`, { step, x: a.q, positions: a.positions, table: K.ropeTable }),
    ropeK: k<RopeKernel>('ropeK').bind(gpu, `${b}rope_k`, { step, x: a.k, positions: a.positions, table: K.ropeTable }),
    kvWrite: k<KvWriteKernel>('kvWrite').bind(gpu, `${b}kv_write`, { step, k: a.k, v: a.v, positions: a.positions, slots: a.slots, pageTable: kv.pageTable, kCache: kv.k[l]!, vCache: kv.v[l]! }),
    attention: k<AttentionKernel>('attention').bind(gpu, `${b}attention`, { step, q: a.q, kCache: kv.k[l]!, vCache: kv.v[l]!, pageTable: kv.pageTable, positions: a.positions, slots: a.slots, out: a.att }),
    quantAtt: quantFor([b + 'attn_output.weight'], 'quantDim', `${b}q8(att)`, a.att),
    wo: matmul(`${b}attn_output`, b + 'attn_output.weight', a.att, a.tmp),
    addAtt: k<AddKernel>('add').bind(gpu, `${b}residual_attn`, { step, x: a.tmp, y: a.x }),
    ffnNorm: k<RmsNormKernel>('norm').bind(gpu, `${b}ffn_norm`, { step, x: a.x, w: W(b + 'ffn_norm.weight').buffer, y: a.xn }),
    quantFfnIn: quantFor([b + 'ffn_gate.weight', b + 'ffn_up.weight'], 'quantDim', `${b}q8(xn)`, a.xn),
    w1: matmul(`${b}ffn_gate`, b + 'ffn_gate.weight', a.xn, a.gate),
    w3: matmul(`${b}ffn_up`, b + 'ffn_up.weight', a.xn, a.up),
    swiglu: k<SwigluKernel>('swiglu').bind(gpu, `${b}swiglu`, { step, gate: a.gate, up: a.up, out: a.gate }),
    quantHidden: quantFor([b + 'ffn_down.weight'], 'quantFfn', `${b}q8(hidden)`, a.gate),
    w2: matmul(`${b}ffn_down`, b + 'ffn_down.weight', a.gate, a.tmp),
    addFfn: k<AddKernel>('add').bind(gpu, `${b}residual_ffn`, { step, x: a.tmp, y: a.x }),
  };
}

function bindHead(gpu: GpuContext, B: Binder, c: LlamaConfig, a: Activations): HeadOps {
  const { k, W, step, matmul, quantFor } = B;
  const outName = c.tiedEmbeddings ? 'token_embd.weight' : 'output.weight';
  return {
    gather: k<GatherRowsKernel>('gather').bind(gpu, 'gather_out_rows', { step, src: a.x, idx: a.outRows, dst: a.xo }),
    finalNorm: k<RmsNormKernel>('normOut').bind(gpu, 'output_norm', { step, x: a.xo, w: W('output_norm.weight').buffer, y: a.xon }),
    quantOut: quantFor([outName], 'quantOut', 'q8(out)', a.xon),
    lmHead: matmul('output', outName, a.xon, a.logits, 'out'),
    argmax: k<ArgmaxKernel>('argmax').bind(gpu, 'argmax', { step, logits: a.logits, ids: a.ids }),
    sample: k<SampleKernel>('sample').bind(gpu, 'sample', { step, logits: a.logits, params: a.sampleParams, recent: a.recent, ids: a.ids }),
    sampleLp: k<SampleKernel>('sampleLp').bind(gpu, 'sample+logprobs', { step, logits: a.logits, params: a.sampleParams, recent: a.recent, ids: a.ids, logprobs: a.logprobs }),
  };
}

/** Creates every bind group once, and returns the op-list builder for a step of a given size. */
export function buildLayerOps(gpu: GpuContext, c: LlamaConfig, K: Kernels, w: GpuWeights, kv: KvCache, a: Activations, step: GPUBuffer): (nTokens: number, nOut: number, mode: StepMode) => Op[] {
  const B = binder(gpu, K, w, a, step);
  const embdParts = w.get('token_embd.weight').parts;
  const embed = embdParts.map((p, i) => B.k<EmbeddingKernel>(`embed.${i}`).bind(gpu, embdParts.length > 1 ? `embed[${i}]` : 'embed', { step, tokens: a.tokens, table: p.buffer, out: a.x }));
  const layers = Array.from({ length: c.nLayers }, (_, l) => bindLayer(gpu, B, K, kv, a, l));
  const head = bindHead(gpu, B, c, a);
  return (T, S, mode) => stepOps(embed, layers, head, T, S, mode);
}

/** The ops of a step of T token rows, S of which need logits, in the order run.c computes them. */
function stepOps(embed: RowsOps, layers: readonly LayerOps[], H: HeadOps, T: number, S: number, mode: StepMode): Op[] {
  const ops: Op[] = [];
  const push = (f: RowsOps, rows: number) => { for (const g of Array.isArray(f) ? f : f ? [f] : []) ops.push(g(rows)); };
  // 1. x = token embeddings                                           [T, dim]
  push(embed, T);
  for (const L of layers) {
    // 2. attention block: xn = rmsnorm(x); q,k,v = xn Wq, xn Wk, xn Wv  [T, dim], [T, kvDim]
    push(L.attnNorm, T); push(L.quantXn, T); push(L.wq, T); push(L.wk, T); push(L.wv, T);
    // 3. rotate q and k by position; store k, v in the paged cache
    push(L.ropeQ, T); push(L.ropeK, T); push(L.kvWrite, T);
    // 4. causal GQA attention over each row's own sequence; x += att Wo
    push(L.attention, T); push(L.quantAtt, T); push(L.wo, T); push(L.addAtt, T);
    // 5. feed-forward: x += (silu(xn W1) * (xn W3)) W2                 [T, ffnDim] -> [T, dim]
    push(L.ffnNorm, T); push(L.quantFfnIn, T); push(L.w1, T); push(L.w3, T); push(L.swiglu, T);
    push(L.quantHidden, T); push(L.w2, T); push(L.addFfn, T);
  }
  // 6. only the rows that need logits: gather, final norm, classifier  [S, vocab]
  push(H.gather, S); push(H.finalNorm, S); push(H.quantOut, S); push(H.lmHead, S);
  // 7. pick tokens on the GPU, so only ids (and asked-for logprobs) come back
  if (mode === 'ids') push(H.argmax, S);
  else if (mode === 'sample') push(H.sample, S);
  else if (mode === 'sample+logprobs') push(H.sampleLp, S);
  return ops;
}
