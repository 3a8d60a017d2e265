// The OPFS model cache in Chromium, with the vite dev server as the HTTP origin (it serves the
// fixture under /@fs/… and honours Range). First load: a miss, written while it streams to the
// GPU; second load: a hit, read from OPFS, same output. A quota error (Chromium's own, with the
// origin's quota lowered through CDP) still loads the model, uncached, with a warning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdp } from 'vitest/browser';
import { GpuContext } from '../../src/gpu/context.js';
import type { LoadProgress } from '../../src/engine/load-progress.js';
import { LoadedModel } from '../../src/engine/model.js';
import { generateSolo } from '../../src/engine/solo.js';
import { CachingSource, OpfsModelCache } from '../../src/model/cache/index.js';
import { openSource } from '../../src/model/source/open.js';
import type { ByteSource } from '../../src/model/source/types.js';
import { acquireDevice } from '../../src/platform/gpu.js';

declare const __FIXTURES__: string;
const URL_ = new URL(`/@fs${__FIXTURES__}/models/stories260K.gguf`, location.href).href;
const OPTS = { contextLength: 64, maxBatchTokens: 16 };
const session = () => cdp() as unknown as { send(method: string, params?: Record<string, unknown>): Promise<unknown> };

describe('browser model cache (OPFS)', () => {
  let gpu: GpuContext;
  let have = false;

  beforeAll(async () => {
    have = (await fetch(URL_, { method: 'HEAD' })).ok;
    if (!have) console.warn(`shared fixtures not found at ${__FIXTURES__}: skipping the browser cache tests`);
    else gpu = new GpuContext(await acquireDevice());
  });
  afterAll(() => gpu?.destroy());

  async function run(src: ByteSource, events: LoadProgress[] = []): Promise<number[]> {
    try {
      const m = await LoadedModel.load(src, { ...OPTS, gpu, onProgress: (p: LoadProgress) => events.push(p) });
      try {
        return (await generateSolo(m, [m.tokenizer.bosId!], { maxTokens: 24 })).tokens;
      } finally {
        m.destroy();
      }
    } finally {
      await src.close();
    }
  }

  it('vite serves Range requests (so the URL source reads the header first)', async (ctx) => {
    if (!have) return ctx.skip();
    const res = await fetch(URL_, { headers: { range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toMatch(/^bytes 100-199\/\d+$/);
    expect((await res.arrayBuffer()).byteLength).toBe(100);
  });

  it('misses, caches while loading, then loads the same model from OPFS; list and delete', async (ctx) => {
    if (!have) return ctx.skip();
    const cache = await OpfsModelCache.open({ dir: 'friday-test-cache' });
    await cache.clear();
    const first = await openSource(URL_, { cache });
    expect(first).toBeInstanceOf(CachingSource);
    const ev1: LoadProgress[] = [];
    const tokens = await run(first, ev1);
    expect(cache.stats).toMatchObject({ hits: 0, misses: 1, stored: 1, failed: 0 });
    expect(ev1.some((e) => e.phase === 'download' && e.source === 'network')).toBe(true);
    const listed = await cache.list();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ url: URL_, size: first.size });
    expect(listed[0]!.version).toMatch(/^etag:/);

    const second = await openSource(URL_, { cache });
    expect((second as { fromCache?: boolean }).fromCache).toBe(true);
    const ev2: LoadProgress[] = [];
    expect(await run(second, ev2)).toEqual(tokens);
    expect(cache.stats).toMatchObject({ hits: 1, misses: 1 });
    expect(ev2.some((e) => e.phase === 'upload' && e.source === 'cache')).toBe(true);

    expect(await cache.delete(URL_)).toBe(1);
    expect(await cache.list()).toEqual([]);
  });

  it('keyed by sha256, a cached model opens without any request', async (ctx) => {
    if (!have) return ctx.skip();
    const bytes = await (await fetch(URL_)).arrayBuffer();
    const sha256 = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const cache = await OpfsModelCache.open({ dir: 'friday-test-sha' });
    await cache.clear();
    const tokens = await run(await openSource({ url: URL_, sha256 }, { cache }));
    expect(cache.stats.stored).toBe(1);
    performance.clearResourceTimings();
    const hit = await openSource({ url: URL_, sha256 }, { cache });
    expect(performance.getEntriesByType('resource').filter((e) => e.name === URL_)).toEqual([]);
    expect(await run(hit)).toEqual(tokens);
    const wrong = await openSource({ url: URL_, sha256: 'f'.repeat(64) }, { cache });
    await expect(run(wrong)).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining(`SHA-256 ${sha256}`) });
    expect(await cache.list()).toHaveLength(1); // the corrupt download was not cached
    await cache.clear();
  });

  it('offline: a model cached by ETag loads from the cache when its server can\'t be reached (with a warning); a 404 does not', async (ctx) => {
    if (!have) return ctx.skip();
    const cache = await OpfsModelCache.open({ dir: 'friday-test-offline' });
    await cache.clear();
    const bytes = new Uint8Array(await (await fetch(URL_)).arrayBuffer());
    const tokens = await run(await openSource(URL_, { cache: false }));
    // Cached as a load would have cached it, keyed by ETag, under URLs that now fail: port 9
    // refuses connections, and the fixture's name with a suffix is a 404.
    const dead = 'http://127.0.0.1:9/stories260K.gguf';
    const gone = `${URL_}.gone`;
    for (const url of [dead, gone]) {
      const w = (await cache.put({ url, etag: '"v1"' }, bytes.length, () => {}))!;
      await w.write(bytes);
      await w.commit();
    }
    const warnings: string[] = [];
    const stale = await openSource(dead, { cache, onWarning: (w) => warnings.push(w) });
    expect((stale as { fromCache?: boolean }).fromCache).toBe(true);
    expect(warnings.join('\n')).toMatch(/could not be checked with its server .*loading the copy cached on \d{4}-/);
    expect(await run(stale)).toEqual(tokens);
    await expect(openSource(gone, { cache, onWarning: () => {} })).rejects.toMatchObject({ code: 'IO_ERROR', details: { status: 404 } });
    // A split model whose server answers for one part and not the other: the stale part may be
    // another version, so the load fails rather than mix them.
    await expect(openSource([URL_, dead], { cache, onWarning: () => {} })).rejects.toMatchObject({ code: 'IO_ERROR', details: { stale: [dead] } });
    await cache.clear();
  });

  it('an aborted second write of a cached model leaves the cached copy intact', async () => {
    const cache = await OpfsModelCache.open({ dir: 'friday-test-rewrite' });
    await cache.clear();
    const key = { url: 'https://example.test/m.gguf', sha256: 'a'.repeat(64) };
    const bytes = new Uint8Array(1000).map((_, i) => i & 255);
    const first = (await cache.put(key, bytes.length, () => {}))!;
    await first.write(bytes);
    await first.commit();
    const second = (await cache.put(key, bytes.length, () => {}))!; // e.g. a reload that re-downloads
    await second.write(bytes.subarray(0, 10));
    await second.abort();
    const src = await cache.get(key);
    expect(src, 'the committed copy is still there').toBeDefined();
    expect(await src!.read(0, 1000)).toEqual(bytes);
    await cache.clear();
  });

  it('hits stay hits while other hits record their last use (page and worker share the cache)', async () => {
    const cache = await OpfsModelCache.open({ dir: 'friday-test-touch' });
    const other = await OpfsModelCache.open({ dir: 'friday-test-touch' }); // a second context's instance
    await cache.clear();
    const key = { url: 'https://example.test/t.gguf', size: 64 };
    const w = (await cache.put(key, 64, () => {}))!;
    await w.write(new Uint8Array(64).fill(7));
    await w.commit();
    let misses = 0;
    for (let i = 0; i < 40; i++) {
      const got = await Promise.all([cache.get(key), other.get(key), cache.get(key)]);
      misses += got.filter((g) => g === undefined).length;
      await new Promise((r) => setTimeout(r, i % 3)); // let the best-effort last-use writes land in between
    }
    expect(misses).toBe(0);
    const [entry] = await cache.list();
    expect(entry!.lastUsedAt).toBeGreaterThan(entry!.storedAt - 1);
    await cache.clear();
  });

  it('a quota error still loads the model, uncached, with a warning', async (ctx) => {
    if (!have) return ctx.skip();
    const warnings: string[] = [];
    // Write-time failure: skip the estimate() pre-check so Chromium's own QuotaExceededError is hit.
    const cache = await OpfsModelCache.open({ dir: 'friday-test-quota', checkQuota: false });
    await cache.clear();
    await session().send('Storage.overrideQuotaForOrigin', { origin: location.origin, quotaSize: 64 * 1024 });
    try {
      const tokens = await run(await openSource(URL_, { cache, onWarning: (w) => warnings.push(w) }));
      expect(tokens).toHaveLength(24);
      expect(warnings.join('\n')).toMatch(/will not be cached: the storage quota is full/);
      expect(cache.stats).toMatchObject({ stored: 0, failed: 1 });
      expect(await cache.list()).toEqual([]);
      // With the estimate() pre-check on (the default) the outcome is the same, whichever catches it.
      const checked = await OpfsModelCache.open({ dir: 'friday-test-quota' });
      warnings.length = 0;
      expect(await run(await openSource(URL_, { cache: checked, onWarning: (w) => warnings.push(w) }))).toEqual(tokens);
      expect(warnings.join('\n')).toMatch(/will not be cached: .*quota/);
      expect(await checked.list()).toEqual([]);
    } finally {
      await session().send('Storage.overrideQuotaForOrigin', { origin: location.origin });
      await cache.clear();
    }
  });
});
