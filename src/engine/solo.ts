// Generation for one sequence on a loaded model: prefill the prompt in chunks of maxBatchTokens
// (one pass per chunk, matmuls over [chunk, dim]), then decode one token per step.
// The continuous-batching engine (src/engine/local.ts) drives the same ForwardPass for many.
import { FridayError, throwIfAborted } from '../api/errors.js';
import { createRng } from '../sampling/rng.js';
import { sampleToken } from '../sampling/cpu.js';
import type { LoadedModel } from './model.js';

export interface SoloParams {
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  seed?: number;
  signal?: AbortSignal;
}

export interface SoloResult {
  tokens: number[];
  finishReason: 'stop' | 'length';
  prefillMs: number;
  decodeMs: number;
}

/** Runs `promptIds` (BOS included by the caller) and calls onToken for each generated id (EOS excluded). */
export async function generateSolo(model: LoadedModel, promptIds: number[], p: SoloParams, onToken?: (id: number) => void): Promise<SoloResult> {
  const { forward, kv, tokenizer } = model;
  if (promptIds.length === 0) throw new FridayError('INVALID_REQUEST', 'The prompt is empty and the model adds no BOS token; give a prompt.');
  const ctx = model.contextLength;
  if (promptIds.length >= ctx) throw new FridayError('CONTEXT_LENGTH_EXCEEDED', `The prompt has ${promptIds.length} tokens; the context is ${ctx}. Shorten the prompt or raise --ctx.`, { promptTokens: promptIds.length, contextLength: ctx });
  // Slot 0 owns pages 0..n in order: a single sequence needs no allocator.
  kv.setPages(0, Array.from({ length: kv.shape.maxPagesPerSeq }, (_, i) => i));
  const greedy = !(p.temperature && p.temperature > 0);
  const rng = createRng(p.seed ?? 0);
  const history = [...promptIds];
  const out: number[] = [];
  const chunk = forward.opts.maxBatchTokens;
  const t0 = performance.now();
  let next = -1;
  // 1. Prefill: each chunk is one step; only the last one's logits matter.
  for (let start = 0; start < promptIds.length; start += chunk) {
    throwIfAborted(p.signal);
    const ids = promptIds.slice(start, start + chunk);
    next = await stepOnce(model, ids, start, greedy, p, history, rng);
  }
  const t1 = performance.now();
  // 2. Decode: feed the sampled token back until EOS, max tokens or the context end.
  let finishReason: SoloResult['finishReason'] = 'length';
  while (true) {
    if (tokenizer.isEog(next)) { finishReason = 'stop'; break; }
    out.push(next);
    history.push(next);
    onToken?.(next);
    if (out.length >= p.maxTokens || history.length >= ctx) break;
    throwIfAborted(p.signal);
    next = await stepOnce(model, [next], history.length - 1, greedy, p, history, rng);
  }
  return { tokens: out, finishReason, prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
}

async function stepOnce(model: LoadedModel, ids: number[], startPos: number, greedy: boolean, p: SoloParams, history: number[], rng: ReturnType<typeof createRng>): Promise<number> {
  const n = ids.length;
  const batch = {
    tokens: Uint32Array.from(ids),
    positions: Uint32Array.from({ length: n }, (_, i) => startPos + i),
    slots: new Uint32Array(n),
    outRows: Uint32Array.of(n - 1),
  };
  if (greedy) return (await model.forward.step(batch, 'ids'))[0]!;
  const logits = await model.forward.step(batch, 'logits');
  return sampleToken(logits, {
    temperature: p.temperature ?? 1, topK: p.topK ?? 40, topP: p.topP ?? 0.95, minP: p.minP ?? 0.05,
    repeatPenalty: p.repeatPenalty ?? 1, repeatLastN: p.repeatLastN ?? 64, recentTokens: history,
  }, rng);
}
