// Waiting in a test for a state, not for a time: a fixed sleep is a guess about how fast the
// machine is, and SwiftShader under CI load makes that guess wrong.
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `cond` every `everyMs` until it holds or `timeoutMs` passes; returns whether it held. */
export async function until(cond: () => boolean, timeoutMs = 60_000, everyMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() >= deadline) return false;
    await sleep(everyMs);
  }
  return true;
}
