// Waiting in a test for a state, not for a time: a fixed sleep is a guess about how fast the
// machine is, and SwiftShader under CI load makes that guess wrong. No Node imports: the browser
// tests use it too.

/** Polls `cond` every 20 ms until it holds; throws, naming `what`, after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
