import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../src/stream/stop.js';
import { Channel } from '../../src/stream/channel.js';

function feed(stops: string[], pieces: string[]): { out: string; stopped: boolean } {
  const m = new StopMatcher(stops);
  let out = '';
  for (const p of pieces) {
    const r = m.push(p);
    out += r.emit;
    if (r.stopped) return { out, stopped: true };
  }
  return { out: out + m.flush(), stopped: false };
}

describe('StopMatcher', () => {
  it('never emits a stop string split across pieces', () => {
    expect(feed(['END'], ['hello E', 'N', 'D more'])).toEqual({ out: 'hello ', stopped: true });
  });
  it('releases held text once it cannot be a stop prefix', () => {
    const m = new StopMatcher(['\n\n']);
    expect(m.push('a\n')).toEqual({ emit: 'a', stopped: false });
    expect(m.push('b')).toEqual({ emit: '\nb', stopped: false });
  });
  it('picks the earliest of several stops and flushes a held tail at the end', () => {
    expect(feed(['xyz', 'b'], ['a', 'xy', 'b'])).toEqual({ out: 'axy', stopped: true });
    expect(feed(['xyz', 'yb'], ['a', 'xy', 'b'])).toEqual({ out: 'ax', stopped: true });
    expect(feed(['xyz'], ['a', 'xy'])).toEqual({ out: 'axy', stopped: false });
  });
  it('passes through with no stops', () => {
    expect(feed([], ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });
});

describe('Channel', () => {
  it('delivers in order, then ends', async () => {
    const c = new Channel<number>(4);
    c.push(1); c.push(2);
    setTimeout(() => { c.push(3); c.close(); }, 5);
    const got: number[] = [];
    for await (const x of c) got.push(x);
    expect(got).toEqual([1, 2, 3]);
  });
  it('reports overflow and drain without blocking the producer', async () => {
    const log: string[] = [];
    const c = new Channel<number>(4, { onOverflow: () => log.push('full'), onDrain: () => log.push('drain') });
    for (let i = 0; i < 6; i++) c.push(i);
    expect(log).toEqual(['full']);
    const it = c[Symbol.asyncIterator]();
    for (let i = 0; i < 5; i++) await it.next();
    expect(log).toEqual(['full', 'drain']);
  });
  it('propagates failure and cancel', async () => {
    const c = new Channel<number>();
    c.push(1);
    c.fail(new Error('boom'));
    const it = c[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(1);
    await expect(it.next()).rejects.toThrow('boom');
    let cancelled = false;
    const d = new Channel<number>(8, { onCancel: () => { cancelled = true; } });
    d.push(1);
    const reader = d.toReadableStream().getReader();
    expect((await reader.read()).value).toBe(1);
    await reader.cancel();
    expect(cancelled).toBe(true);
  });
});
