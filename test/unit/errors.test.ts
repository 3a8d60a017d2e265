import { describe, expect, it } from 'vitest';
import { abortedError, FridayError, sleepUnlessAborted, toFridayError, waitAtMost } from '../../src/api/errors.js';

describe('FridayError', () => {
  it('round-trips through JSON with its code and details', () => {
    const e = new FridayError('GGUF_INVALID', 'bad magic at byte 0', { offset: 0 });
    const back = FridayError.fromJSON(JSON.parse(JSON.stringify(e)));
    expect(back).toBeInstanceOf(FridayError);
    expect(back.code).toBe('GGUF_INVALID');
    expect(back.message).toBe('bad magic at byte 0');
    expect(back.details).toEqual({ offset: 0 });
  });
  it('wraps foreign errors and maps AbortError to ABORTED', () => {
    expect(toFridayError(new RangeError('x')).code).toBe('INTERNAL');
    const abort = new DOMException('stop', 'AbortError');
    expect(toFridayError(abort).code).toBe('ABORTED');
  });
});

describe('sleepUnlessAborted (retry back-off)', () => {
  it('resolves after its time and leaves no listener on the signal', async () => {
    const ac = new AbortController();
    let listeners = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...a: Parameters<typeof add>) => { listeners++; add(...a); }) as typeof add;
    ac.signal.removeEventListener = ((...a: Parameters<typeof remove>) => { listeners--; remove(...a); }) as typeof remove;
    await sleepUnlessAborted(5, ac.signal);
    expect(listeners).toBe(0);
  });
  it('rejects at once with ABORTED when the signal has already fired, saying what was aborted', async () => {
    const t0 = performance.now();
    const err = await sleepUnlessAborted(10_000, AbortSignal.abort(), 'load').catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(FridayError.is(err, 'ABORTED')).toBe(true);
    expect((err as FridayError).message).toBe('The load was aborted by the caller.');
  });
  it('rejects with ABORTED when the signal fires during the wait', async () => {
    const ac = new AbortController();
    const p = sleepUnlessAborted(10_000, ac.signal);
    setTimeout(() => ac.abort(), 5);
    const err = await p.catch((e: unknown) => e);
    expect(FridayError.is(err, 'ABORTED')).toBe(true);
    expect((err as FridayError).message).toBe('The request was aborted by the caller.');
  });
  it('keeps the cause of an abort it reports', () => {
    const cause = new Error('socket closed');
    expect(abortedError('request', cause).cause).toBe(cause);
    expect(abortedError().cause).toBeUndefined();
  });
});

describe('waitAtMost (a shutdown deadline)', () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  it('returns when the promise settles, resolved or rejected, and leaves no timer for the deadline', async () => {
    const t0 = timers();
    await waitAtMost(Promise.resolve(1), 600_000);
    await waitAtMost(Promise.reject(new Error('x')), 600_000);
    expect(timers()).toBe(t0);
  });
  it('returns at the deadline when the promise never settles (else this test times out)', { timeout: 5_000 }, async () => {
    const t0 = performance.now();
    await waitAtMost(new Promise(() => undefined), 20);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15); // it did wait for the deadline
  });
});
