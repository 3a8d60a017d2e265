// Generation for one sequence on the CPU model, with generateSolo's semantics (src/engine/solo.ts):
// the prompt (BOS included by the caller) runs first, then one token per step until an
// end-of-generation token, maxTokens or the end of the context. Greedy is the plain argmax.
import { FridayError, throwIfAborted } from '../../api/errors.js';
import { argmax, sampleToken } from '../../sampling/cpu.js';
import { createRng } from '../../sampling/rng.js';
import type { SoloParams, SoloResult } from '../solo.js';
import type { CpuLlama } from './llama.js';

/** Yield to the event loop this often so output flushes and aborts are seen. */
const YIELD_EVERY = 8;

export async function generateCpu(model: CpuLlama, promptIds: number[], p: SoloParams, onToken?: (id: number) => void): Promise<SoloResult> {
  const ctx = model.contextLength;
  if (promptIds.length === 0) throw new FridayError('INVALID_REQUEST', 'The prompt is empty and the model adds no BOS token; give a prompt.');
  if (promptIds.length >= ctx) throw new FridayError('CONTEXT_LENGTH_EXCEEDED', `The prompt has ${promptIds.length} tokens; the context is ${ctx}. Shorten the prompt.`, { promptTokens: promptIds.length, contextLength: ctx });
  const greedy = !(p.temperature && p.temperature > 0);
  const rng = createRng(p.seed ?? 0);
  const history = [...promptIds];
  const out: number[] = [];
  const pick = (logits: Float32Array): number => greedy ? argmax(logits) : sampleToken(logits, {
    temperature: p.temperature!, topK: p.topK ?? 40, topP: p.topP ?? 0.95, minP: p.minP ?? 0.05,
    repeatPenalty: p.repeatPenalty ?? 1, repeatLastN: p.repeatLastN ?? 64, recentTokens: history,
  }, rng);

  const t0 = performance.now();
  let logits!: Float32Array;
  for (let i = 0; i < promptIds.length; i++) {
    if (i % 64 === 0) throwIfAborted(p.signal);
    logits = model.forward(promptIds[i]!, i);
  }
  let next = pick(logits);
  const t1 = performance.now();
  let finishReason: SoloResult['finishReason'] = 'length';
  while (true) {
    if (model.tokenizer.isEog(next)) { finishReason = 'stop'; break; }
    out.push(next);
    history.push(next);
    onToken?.(next);
    if (out.length >= p.maxTokens || history.length >= ctx) break;
    if (out.length % YIELD_EVERY === 0) {
      await new Promise((r) => setTimeout(r, 0));
      throwIfAborted(p.signal);
    }
    next = pick(model.forward(next, history.length - 1));
  }
  return { tokens: out, finishReason, prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
}
