// The paged KV pool and its prefix cache, as in vLLM v1. The GPU KV cache is numPages pages of
// pageSize token positions each; a sequence owns a list of pages (its row in the page table).
//
// A page that is full of computed tokens gets a content hash chained over every page before it, so
// the hash names the whole prefix. A later request whose prompt has the same prefix takes those pages
// by reference instead of recomputing them. Full pages are never written again, so sharing them is
// safe. When its last owner lets go, a hashed page stays cached (evictable, LRU) until a free page is
// needed; a page with no hash goes straight back to the free list.
//
// Hashes are 53 bits of FNV-1a 64, so collisions are possible: a match also compares the page's
// tokens and the identity of its parent page (cacheId, never reused), never the hash alone.

/** Where a sequence's chain of committed full pages ends; the next full page hangs below it. */
export interface ChainCursor {
  /** Leading pages of the sequence already committed (hashed or matched). */
  numPages: number;
  /** Hash of the last committed page; ROOT_CURSOR.hash before the first. */
  hash: number;
  /** cacheId of the last committed page; 0 before the first. */
  cacheId: number;
}

export const ROOT_CURSOR: ChainCursor = { numPages: 0, hash: 0, cacheId: 0 };

export interface PrefixMatch {
  /** Cached pages covering the prompt's first pages.length * pageSize tokens, in order. */
  pages: number[];
  cursor: ChainCursor;
}

// FNV-1a 64 in two uint32 halves, BigInt-free. prime = 2^40 + 0x1b3, so x * prime = x * 0x1b3 + (lo << 40);
// every partial product stays below 2^53 and is exact in a double.
let fnvHi = 0;
let fnvLo = 0;

function fnvReset(): void {
  fnvHi = 0xcbf29ce4;
  fnvLo = 0x84222325;
}

function fnvByte(byte: number): void {
  fnvLo = (fnvLo ^ byte) >>> 0;
  const loTimesPrime = fnvLo * 0x1b3;
  const newLo = loTimesPrime >>> 0;
  const carry = (loTimesPrime - newLo) / 4294967296;
  fnvHi = (fnvHi * 0x1b3 + carry + ((fnvLo << 8) >>> 0)) >>> 0;
  fnvLo = newLo;
}

function fnvWord(word: number): void {
  fnvByte(word & 0xff);
  fnvByte((word >>> 8) & 0xff);
  fnvByte((word >>> 16) & 0xff);
  fnvByte((word >>> 24) & 0xff);
}

/** Plain FNV-1a 64 of bytes as [hi, lo] uint32 halves; exported so tests can check known vectors. */
export function fnv1a64(bytes: ArrayLike<number>): [number, number] {
  fnvReset();
  for (let i = 0; i < bytes.length; i++) fnvByte(bytes[i]! & 0xff);
  return [fnvHi, fnvLo];
}

/** Hash of one full page given its parent's hash: 53 bits, so it is an exact Map key. */
export function hashPage(parentHash: number, tokens: readonly number[], start: number, end: number): number {
  fnvReset();
  fnvWord(Math.floor(parentHash / 4294967296));
  fnvWord(parentHash >>> 0);
  for (let i = start; i < end; i++) fnvWord(tokens[i]!);
  return (fnvHi & 0x1fffff) * 4294967296 + fnvLo;
}

export type PageHashFn = (parentHash: number, tokens: readonly number[], start: number, end: number) => number;

export class KvPagePool {
  readonly numPages: number;
  readonly pageSize: number;
  private readonly hash: PageHashFn;
  private readonly refCounts: Int32Array;
  /** 0 = not cached; otherwise a unique id of this page's cached identity. */
  private readonly cacheIds: Float64Array;
  private readonly parentCacheIds: Float64Array;
  private readonly hashes: Float64Array;
  private readonly pageTokens: (number[] | null)[];
  /** hash -> cached pages with that hash (more than one only on a collision). */
  private readonly byHash = new Map<number, number[]>();
  /** Unreferenced, unhashed pages; popped from the end so page 0 goes first. */
  private readonly freeList: number[] = [];
  /** Unreferenced hashed pages in LRU order: a Set iterates in insertion order, oldest first. */
  private readonly evictable = new Set<number>();
  private nextCacheId = 1;

  /** `hash` is replaceable so tests can force collisions. */
  constructor(numPages: number, pageSize: number, hash: PageHashFn = hashPage) {
    this.numPages = numPages;
    this.pageSize = pageSize;
    this.hash = hash;
    this.refCounts = new Int32Array(numPages);
    this.cacheIds = new Float64Array(numPages);
    this.parentCacheIds = new Float64Array(numPages);
    this.hashes = new Float64Array(numPages);
    this.pageTokens = new Array<number[] | null>(numPages).fill(null);
    for (let page = numPages - 1; page >= 0; page--) this.freeList.push(page);
  }

  /** Pages that allocate() can hand out: free ones plus cached ones it may evict. */
  get numAvailable(): number {
    return this.freeList.length + this.evictable.size;
  }

  get numUsed(): number {
    return this.numPages - this.numAvailable;
  }

  get numFree(): number {
    return this.freeList.length;
  }

  get numCached(): number {
    return this.evictable.size;
  }

  refCount(page: number): number {
    return this.refCounts[page]!;
  }

  /** True if the page holds a hashed full page (referenced or not); such a page must never be written. */
  isCached(page: number): boolean {
    return this.cacheIds[page] !== 0;
  }

  /** numAvailable after acquire() of these pages: acquiring an evictable page takes it out of reach. */
  availableAfterAcquiring(pages: readonly number[]): number {
    let n = this.numAvailable;
    for (const page of pages) if (this.refCounts[page] === 0) n--;
    return n;
  }

  /** A page with refcount 1 and no contents; evicts the least recently used cached page if none is free. */
  allocate(): number {
    let page = this.freeList.pop();
    if (page === undefined) {
      const lru = this.evictable.values().next();
      if (lru.done) throw new Error('KvPagePool: out of pages (caller must check numAvailable)');
      page = lru.value;
      this.evictable.delete(page);
      this.uncache(page);
    }
    this.refCounts[page] = 1;
    return page;
  }

  /** Take another reference to a cached page found by matchPrefix(). */
  acquire(page: number): void {
    if (this.refCounts[page] === 0) this.evictable.delete(page);
    this.refCounts[page]!++;
  }

  /**
   * Drop one reference to each page. Released in reverse so a sequence's tail pages are evicted
   * before its head: the head is the part other requests are most likely to share.
   */
  release(pages: readonly number[]): void {
    for (let i = pages.length - 1; i >= 0; i--) {
      const page = pages[i]!;
      if (this.refCounts[page]! <= 0) throw new Error(`KvPagePool: page ${page} released twice`);
      if (--this.refCounts[page]! > 0) continue;
      if (this.cacheIds[page] !== 0) this.evictable.add(page);
      else this.freeList.push(page);
    }
  }

  /** Longest chain of cached pages equal to tokens' first pages, at most maxPages. Takes no references. */
  matchPrefix(tokens: readonly number[], maxPages: number): PrefixMatch {
    const pages: number[] = [];
    let cursor = ROOT_CURSOR;
    while (pages.length < maxPages) {
      const start = pages.length * this.pageSize;
      const hash = this.hash(cursor.hash, tokens, start, start + this.pageSize);
      const page = this.find(hash, cursor.cacheId, tokens, start);
      if (page < 0) break;
      pages.push(page);
      cursor = { numPages: pages.length, hash, cacheId: this.cacheIds[page]! };
    }
    return { pages, cursor };
  }

  /**
   * Hash every page of a sequence that became full since `cursor` (tokens [0, numComputed) have KV).
   * If an equal page is already cached the sequence keeps its own copy unhashed and the chain
   * continues from the cached twin, so one prefix is cached once.
   */
  commitFullPages(cursor: ChainCursor, pages: readonly number[], tokens: readonly number[], numComputed: number): ChainCursor {
    const numFull = Math.floor(numComputed / this.pageSize);
    while (cursor.numPages < numFull) {
      const index = cursor.numPages;
      const start = index * this.pageSize;
      const hash = this.hash(cursor.hash, tokens, start, start + this.pageSize);
      let twin = this.find(hash, cursor.cacheId, tokens, start);
      if (twin < 0) {
        twin = pages[index]!;
        this.cache(twin, hash, cursor.cacheId, tokens.slice(start, start + this.pageSize));
      }
      cursor = { numPages: index + 1, hash, cacheId: this.cacheIds[twin]! };
    }
    return cursor;
  }

  private find(hash: number, parentCacheId: number, tokens: readonly number[], start: number): number {
    const candidates = this.byHash.get(hash);
    if (candidates === undefined) return -1;
    for (const page of candidates) {
      if (this.parentCacheIds[page] !== parentCacheId) continue;
      const own = this.pageTokens[page]!;
      let same = true;
      for (let i = 0; i < this.pageSize && same; i++) same = own[i] === tokens[start + i];
      if (same) return page;
    }
    return -1;
  }

  private cache(page: number, hash: number, parentCacheId: number, tokens: number[]): void {
    this.cacheIds[page] = this.nextCacheId++;
    this.parentCacheIds[page] = parentCacheId;
    this.hashes[page] = hash;
    this.pageTokens[page] = tokens;
    const bucket = this.byHash.get(hash);
    if (bucket === undefined) this.byHash.set(hash, [page]);
    else bucket.push(page);
  }

  // Children of an evicted page stay cached but unreachable: their parentCacheId names an identity
  // that no longer exists. They age out of the LRU like any other page.
  private uncache(page: number): void {
    const hash = this.hashes[page]!;
    const bucket = this.byHash.get(hash)!;
    bucket.splice(bucket.indexOf(page), 1);
    if (bucket.length === 0) this.byHash.delete(hash);
    this.cacheIds[page] = 0;
    this.parentCacheIds[page] = 0;
    this.hashes[page] = 0;
    this.pageTokens[page] = null;
  }
}
