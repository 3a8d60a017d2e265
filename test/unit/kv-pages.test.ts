import { describe, expect, it } from 'vitest';
import { KvPagePool, ROOT_CURSOR, fnv1a64, hashPage } from '../../src/scheduler/kv-pages.js';

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const hex = ([hi, lo]: [number, number]): string => hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** Fills pages for `tokens` as a sequence would and commits its full pages; returns the pages. */
function computeSeq(pool: KvPagePool, tokens: number[]): number[] {
  const pages = Array.from({ length: Math.ceil(tokens.length / pool.pageSize) }, () => pool.allocate());
  pool.commitFullPages(ROOT_CURSOR, pages, tokens, tokens.length);
  return pages;
}

describe('fnv1a64', () => {
  it('matches the reference FNV-1a 64 test vectors', () => {
    expect(hex(fnv1a64([]))).toBe('cbf29ce484222325');
    expect(hex(fnv1a64(ascii('a')))).toBe('af63dc4c8601ec8c');
    expect(hex(fnv1a64(ascii('foobar')))).toBe('85944171f73967e8');
  });

  it('hashPage chains over the parent and fits in 53 bits', () => {
    const tokens = [1, 2, 3, 4];
    const a = hashPage(0, tokens, 0, 4);
    expect(hashPage(0, tokens, 0, 4)).toBe(a);
    expect(hashPage(a, tokens, 0, 4)).not.toBe(a);
    expect(hashPage(0, [1, 2, 3, 5], 0, 4)).not.toBe(a);
    expect(Number.isSafeInteger(a)).toBe(true);
  });
});

describe('KvPagePool', () => {
  it('allocates, counts references and frees', () => {
    const pool = new KvPagePool(4, 2);
    expect([pool.numAvailable, pool.numUsed, pool.numFree, pool.numCached]).toEqual([4, 0, 4, 0]);
    const a = pool.allocate();
    const b = pool.allocate();
    expect([a, b]).toEqual([0, 1]);
    expect(pool.refCount(a)).toBe(1);
    expect(pool.numUsed).toBe(2);
    pool.release([a, b]);
    expect([pool.numUsed, pool.numFree, pool.numCached]).toEqual([0, 4, 0]);
    expect(() => pool.release([a])).toThrow(/released twice/);
  });

  it('caches full pages only and finds the longest matching prefix', () => {
    const pool = new KvPagePool(8, 4);
    const tokens = range(100, 10); // 2 full pages + 2 tokens
    const pages = computeSeq(pool, tokens);
    expect(pages.map((p) => pool.isCached(p))).toEqual([true, true, false]);
    pool.release(pages);
    expect([pool.numUsed, pool.numCached, pool.numFree]).toEqual([0, 2, 6]);

    const match = pool.matchPrefix([...range(100, 8), 7, 7, 7], 10);
    expect(match.pages).toEqual(pages.slice(0, 2));
    expect(match.cursor.numPages).toBe(2);
    expect(pool.matchPrefix(tokens, 1).pages).toEqual(pages.slice(0, 1));
    // Same second page under a different first page is a different prefix.
    expect(pool.matchPrefix([9, 9, 9, 9, ...range(104, 4)], 2).pages).toEqual([]);
  });

  it('acquire() takes a cached page out of eviction reach', () => {
    const pool = new KvPagePool(3, 2);
    const pages = computeSeq(pool, [1, 2, 3, 4]);
    pool.release(pages);
    expect(pool.availableAfterAcquiring(pages)).toBe(1);
    pool.acquire(pages[0]!);
    expect([pool.numUsed, pool.numCached, pool.refCount(pages[0]!)]).toEqual([1, 1, 1]);
    pool.acquire(pages[0]!);
    expect(pool.refCount(pages[0]!)).toBe(2);
    pool.release([pages[0]!, pages[0]!]);
    expect([pool.numUsed, pool.numCached]).toEqual([0, 2]);
  });

  it('evicts least recently released first, a sequence tail before its head', () => {
    const pool = new KvPagePool(4, 2);
    const a = computeSeq(pool, [1, 2, 3, 4]);
    const b = computeSeq(pool, [5, 6, 7, 8]);
    pool.release(a);
    pool.release(b);
    expect(pool.numFree).toBe(0);
    expect(pool.allocate()).toBe(a[1]);
    expect(pool.matchPrefix([1, 2, 3, 4], 2).pages).toEqual([a[0]]);
    expect(pool.allocate()).toBe(a[0]);
    expect(pool.matchPrefix([1, 2, 3, 4], 2).pages).toEqual([]);
    expect(pool.matchPrefix([5, 6, 7, 8], 2).pages).toEqual(b);
    expect(pool.isCached(a[0]!)).toBe(false);
  });

  it('caches one copy when two sequences compute the same prefix', () => {
    const pool = new KvPagePool(8, 2);
    const first = computeSeq(pool, [1, 2, 3, 4]);
    const second = computeSeq(pool, [1, 2, 3, 4, 5, 6]);
    expect(second.map((p) => pool.isCached(p))).toEqual([false, false, true]);
    pool.release(second);
    // The twin's third page chains off the first sequence's pages.
    expect(pool.matchPrefix([1, 2, 3, 4, 5, 6], 3).pages).toEqual([...first, second[2]]);
    pool.release(first);
    expect([pool.numUsed, pool.numCached, pool.numFree]).toEqual([0, 3, 5]);
  });

  it('survives hash collisions by comparing tokens and parent identity', () => {
    const pool = new KvPagePool(8, 2, () => 42);
    const a = computeSeq(pool, [1, 2, 3, 4]);
    const b = computeSeq(pool, [3, 4, 1, 2]);
    expect([...a, ...b].every((p) => pool.isCached(p))).toBe(true);
    expect(pool.matchPrefix([1, 2, 3, 4], 2).pages).toEqual(a);
    expect(pool.matchPrefix([3, 4, 1, 2], 2).pages).toEqual(b);
    expect(pool.matchPrefix([1, 2, 1, 2], 2).pages).toEqual([a[0]]);
    expect(pool.matchPrefix([5, 6], 1).pages).toEqual([]);
    // Eviction must unlink the right page from the shared bucket.
    pool.release(a);
    pool.release(b);
    for (let i = 0; i < 4; i++) expect(pool.isCached(pool.allocate())).toBe(false);
    expect(pool.allocate()).toBe(a[1]);
    expect(pool.matchPrefix([1, 2, 3, 4], 2).pages).toEqual([a[0]]);
    expect(pool.matchPrefix([3, 4, 1, 2], 2).pages).toEqual(b);
  });

  it('never matches an orphan whose parent was evicted and recomputed', () => {
    const pool = new KvPagePool(5, 2);
    const a = computeSeq(pool, [1, 2, 3, 4]);
    pool.release([a[0]!]); // parent is now the oldest in the LRU,
    pool.release([a[1]!]); // then the child
    const held = [pool.allocate(), pool.allocate(), pool.allocate()];
    expect(pool.allocate()).toBe(a[0]); // evicts the parent; the child stays cached
    expect(pool.isCached(a[1]!)).toBe(true);
    pool.release([...held, a[0]!]);
    const again = computeSeq(pool, [1, 2]);
    // Same hashes as before, but the child belongs to the old parent identity.
    expect(pool.matchPrefix([1, 2, 3, 4], 2).pages).toEqual(again);
  });
});
