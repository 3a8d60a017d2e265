// Reading a whole GenerationStream in a test, keeping what it delivered before any failure.
import type { FridayError } from '../../src/api/errors.js';
import type { FinalEvent, GenerateEvent } from '../../src/api/types.js';

export interface Outcome { tokens: number[]; text: string; final?: FinalEvent; error?: FridayError }

/** Drains `stream`; a rejection ends up in `error` (not thrown), so partial output can be checked. */
export async function drain(stream: AsyncIterable<GenerateEvent>, onToken?: (n: number) => void): Promise<Outcome> {
  const o: Outcome = { tokens: [], text: '' };
  try {
    for await (const ev of stream) {
      o.text += ev.text;
      if (ev.done) o.final = ev;
      else { o.tokens.push(ev.token); onToken?.(o.tokens.length); }
    }
  } catch (e) {
    o.error = e as FridayError;
  }
  return o;
}
