import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../src/stream/stop.js';
import { Channel } from '../../src/stream/channel.js';
import { PULL, PULL_END, PULL_WAIT, isPullable, type PullSink } from '../../src/stream/pull.js';
import { iteratorToReadableStream } from '../../src/stream/readable.js';

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
  it('reports takes only while open, and fail(e, discard) drops what is queued', async () => {
    let taken = 0;
    const c = new Channel<number>(8, { onTake: () => { taken++; } });
    const it = c[Symbol.asyncIterator]();
    const pending = it.next(); // handed over directly by push
    c.push(1); c.push(2); c.push(3);
    expect((await pending).value).toBe(1);
    expect((await it.next()).value).toBe(2);
    expect(taken).toBe(2);
    expect(c.settled).toBe(false);
    c.close();
    expect(c.settled).toBe(true);
    expect((await it.next()).value).toBe(3); // read after close: nobody to tell
    expect(taken).toBe(2);
    const d = new Channel<number>();
    d.push(1);
    d.fail(new Error('aborted'), true);
    await expect(d[Symbol.asyncIterator]().next()).rejects.toThrow('aborted');
  });
});

describe('Channel as a Pullable', () => {
  /** A sink that records what it is given. */
  const sink = () => {
    const got: (IteratorResult<number> | { error: unknown })[] = [];
    const s: PullSink<number> = {
      pulled: (value) => { got.push({ value, done: false }); },
      pulledEnd: () => { got.push({ value: undefined, done: true }); },
      pullFailed: (error) => { got.push({ error }); },
    };
    return { s, got };
  };

  it('hands over a queued item at once, and calls a waiting sink once, from push', () => {
    const taken: number[] = [];
    const ch = new Channel<number>(8, { onTake: () => { taken.push(ch.size); } });
    expect(isPullable(ch)).toBe(true);
    expect(isPullable({ pull: () => undefined })).toBe(false); // a method merely named pull is not the protocol
    const { s, got } = sink();
    ch.push(1);
    expect(ch[PULL](s)).toBe(1);
    expect(ch[PULL](s)).toBe(PULL_WAIT); // nothing queued: the sink waits
    expect(got).toEqual([]);
    ch.push(2);
    expect(got).toEqual([{ value: 2, done: false }]);
    expect(ch.size).toBe(0); // given to the sink, not queued
    ch.push(3); // nobody waits now: queued
    expect(got).toHaveLength(1);
    expect(ch[PULL](s)).toBe(3);
    expect(taken).toHaveLength(3);
  });

  it('ends a waiting sink on close (after what is queued), and fails it on fail', () => {
    const a = new Channel<number>();
    const { s, got } = sink();
    a.push(1);
    a.close();
    expect(a[PULL](s)).toBe(1);
    expect(a[PULL](s)).toBe(PULL_END);
    const b = new Channel<number>();
    expect(b[PULL](s)).toBe(PULL_WAIT);
    b.close();
    expect(got).toEqual([{ value: undefined, done: true }]);
    const c = new Channel<number>();
    expect(c[PULL](s)).toBe(PULL_WAIT);
    const boom = new Error('boom');
    c.fail(boom);
    expect(got[1]).toEqual({ error: boom });
    expect(() => c[PULL](s)).toThrow('boom'); // failed: a later pull throws
  });

  it('is its own iterator, consumable once; return() cancels and drops a waiting sink', async () => {
    let cancelled = 0;
    const ch = new Channel<number>(8, { onCancel: () => { cancelled++; } });
    const it = ch[Symbol.asyncIterator]();
    expect(it).toBe(ch);
    expect(() => ch[Symbol.asyncIterator]()).toThrow(/only be consumed once/);
    const { s, got } = sink();
    expect(ch[PULL](s)).toBe(PULL_WAIT);
    await it.return!();
    ch.push(5); // after the consumer left: nothing reaches the old sink
    expect(got).toEqual([]);
    expect(cancelled).toBe(1);
  });

  it('is closed before its cancel hook runs: what the producer pushes or fails from inside the hook reaches nobody', async () => {
    const ch: Channel<number> = new Channel<number>(8, { onCancel: () => { ch.push(7); ch.fail(new Error('late')); } });
    const it = ch[Symbol.asyncIterator]();
    await it.return!();
    expect(ch.settled).toBe(true);
    expect(ch.size).toBe(0);
    await expect(it.next()).resolves.toEqual({ value: undefined, done: true });
  });
});

describe('iteratorToReadableStream', () => {
  it('reads ahead only as the strategy allows, and cancel calls return()', async () => {
    const pulled: number[] = [];
    let returned = 0;
    const counter = (): AsyncIterator<number> => {
      let n = 0;
      return {
        next: async () => { pulled.push(++n); return { value: n, done: false }; },
        return: async () => { returned++; return { value: undefined, done: true }; },
      };
    };
    const lazy = iteratorToReadableStream(counter(), { highWaterMark: 0 }).getReader();
    await new Promise((r) => setTimeout(r, 5));
    expect(pulled).toEqual([]);
    expect((await lazy.read()).value).toBe(1);
    await lazy.cancel();
    expect(returned).toBe(1);
    pulled.length = 0;
    const eager = iteratorToReadableStream(counter()).getReader(); // WHATWG default: one item ahead
    await new Promise((r) => setTimeout(r, 5));
    expect(pulled).toEqual([1]);
    await eager.cancel();
    expect(returned).toBe(2);
  });
  it('errors the stream when next() rejects', async () => {
    const it: AsyncIterator<number> = { next: () => Promise.reject(new Error('broken')) };
    await expect(iteratorToReadableStream(it).getReader().read()).rejects.toThrow('broken');
  });
});
