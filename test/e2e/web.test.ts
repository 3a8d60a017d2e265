// The web demo end to end, as shipped: `vite build` of web/ into a scratch dir, served by
// `vite preview` on 127.0.0.1, driven in Chromium (WebGPU on SwiftShader) with Playwright. A model
// loads with a progress bar that completes, two chats stream at once and one is stopped while the
// other goes on, a GGUF dropped on the page loads, and without WebGPU the fallback message shows
// and chats go to a remote OpenAI-compatible server. Screenshots go to test-results/web/.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFiles } from '../../web/build/models-plugin.js';
import { startFailureServer, type FailureServer } from './failure-server.js';
import { freePort } from './servers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURES = resolve(ROOT, '../shared/fixtures');
const MODEL = join(FIXTURES, 'models/stories260K.gguf');
const have = existsSync(MODEL);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping the web demo tests`);

const SHOTS = join(ROOT, 'test-results/web');
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'];

const chat = (n: number) => `.chat[data-chat="${n}"]`;
const replyLength = (page: Page, n: number) => page.$eval(`${chat(n)} .msg.assistant:last-of-type`, (el) => el.textContent?.length ?? 0).catch(() => 0);

async function waitForLoad(page: Page, timeout = 180_000): Promise<void> {
  await page.waitForSelector('#load-progress[data-phase="ready"], #load-progress[data-phase="error"]', { timeout });
  const phase = await page.getAttribute('#load-progress', 'data-phase');
  expect(phase, (await page.textContent('#progress-text')) ?? '').toBe('ready');
}

describe.skipIf(!have)('web demo (vite build + preview, Chromium WebGPU on SwiftShader)', () => {
  let outDir = '';
  let server: PreviewServer | undefined;
  let remote: FailureServer | undefined;
  let base = '';
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    outDir = await mkdtemp(join(tmpdir(), 'friday-web-'));
    await build({ configFile: join(ROOT, 'vite.config.ts'), mode: 'production', logLevel: 'error', build: { outDir, sourcemap: false } });
    remote = await startFailureServer({ tokenDelayMs: 20 });
    const port = await freePort();
    server = await preview({
      configFile: join(ROOT, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir },
      // The fixtures are served like models (Range support); /remote proxies to a canned
      // OpenAI-compatible server, same-origin so no CORS is involved.
      plugins: [{ name: 'test-fixtures', configurePreviewServer: (s) => { s.middlewares.use(serveFiles({ '/fixtures/': FIXTURES })); } }],
      preview: { host: '127.0.0.1', port, strictPort: true, proxy: { '/remote': { target: remote.url, rewrite: (p) => p.replace(/^\/remote/, '') } } },
    });
    base = `http://127.0.0.1:${port}/`;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...BASE_ARGS, ...WEBGPU_ARGS], timeout: 60_000 });
    page = await browser.newPage({ viewport: { width: 1440, height: 960 } });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(base);
  }, 180_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    await remote?.close().catch(() => undefined);
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('loads a model: phased progress bar to ready, fits verdict, adapter info', async () => {
    await page.waitForSelector('#gpu-status[data-webgpu="available"]', { timeout: 60_000 });
    await page.waitForSelector('#load-default[data-available]', { timeout: 30_000 });
    expect(await page.isVisible('#no-webgpu')).toBe(false);
    // Record every phase the progress box goes through.
    await page.evaluate(() => {
      const box = document.querySelector<HTMLElement>('#load-progress')!;
      const seen: string[] = ((window as unknown as { seenPhases: string[] }).seenPhases = []);
      new MutationObserver(() => { if (seen.at(-1) !== box.dataset.phase) seen.push(box.dataset.phase!); }).observe(box, { attributes: true, attributeFilter: ['data-phase'] });
    });
    if ((await page.getAttribute('#load-default', 'data-available')) === 'true') {
      await page.click('#load-default'); // the embedded default model exists: the demo's first choice
    } else {
      await page.fill('#model-url', '/fixtures/models/stories260K.gguf');
      await page.click('#load-url');
    }
    await waitForLoad(page);
    const seen = await page.evaluate(() => (window as unknown as { seenPhases: string[] }).seenPhases);
    expect(seen[0]).toBe('inspect');
    expect(seen).toContain('header');
    expect(seen.some((p) => p === 'download' || p === 'upload')).toBe(true);
    expect(seen.at(-1)).toBe('ready');
    expect(await page.$eval('#progress-bar', (el) => (el as HTMLProgressElement).value)).toBe(1);
    expect(await page.$$eval('.phases li', (lis) => lis.every((li) => li.className === 'done'))).toBe(true);
    expect(await page.getAttribute('#verdict', 'data-fits')).toBe('true');
    expect(await page.textContent('#verdict')).toMatch(/fits: .* of weights/);
    expect(await page.textContent('#adapter')).toMatch(/Adapter: .*software/);
    expect(await page.getAttribute('#engine-status', 'data-state')).toBe('ready');
    await page.screenshot({ path: join(SHOTS, '1-loaded.png') });
  }, 240_000);

  it('runs two chats at once; stop ends one while the other continues', async () => {
    await page.fill('#max-tokens', '120');
    await page.$eval('#temperature', (el) => { (el as HTMLInputElement).value = '0'; }); // greedy: the same replies every run
    await page.fill(`${chat(1)} .chat-input`, 'Tell me a story about a cat.');
    await page.fill(`${chat(2)} .chat-input`, 'Tell me a story about a dog.');
    await page.click(`${chat(1)} .chat-send`);
    await page.click(`${chat(2)} .chat-send`);
    // Both stream at the same time, batched by one engine.
    await page.waitForFunction(() => [1, 2].every((n) => (document.querySelector(`.chat[data-chat="${n}"] .msg.assistant:last-of-type`)?.textContent?.length ?? 0) >= 1), undefined, { timeout: 90_000 });
    expect(await page.getAttribute(chat(1), 'data-state')).toBe('streaming');
    expect(await page.getAttribute(chat(2), 'data-state')).toBe('streaming');
    await page.waitForFunction(() => /^2\/4 running/.test(document.querySelector('#stat-batch')?.textContent ?? ''), undefined, { timeout: 10_000 });
    await page.waitForFunction(() => Number(document.querySelector('#stat-tps')?.textContent) > 0, undefined, { timeout: 10_000 });
    expect(await page.textContent('#stat-kv')).toMatch(/^\d+\/\d+ pages/);
    await page.screenshot({ path: join(SHOTS, '2-two-chats-streaming.png') });

    await page.click(`${chat(1)} .chat-stop`);
    await page.waitForSelector(`${chat(1)}[data-state="stopped"]`, { timeout: 10_000 });
    const stopped = await replyLength(page, 1);
    const other = await replyLength(page, 2);
    expect(await page.getAttribute(chat(2), 'data-state')).toBe('streaming');
    // The other chat keeps streaming...
    await page.waitForFunction((n0) => (document.querySelector('.chat[data-chat="2"] .msg.assistant:last-of-type')?.textContent?.length ?? 0) > n0 + 5, other, { timeout: 60_000 });
    // ...to its end, while the stopped one stays as it was.
    await page.waitForSelector(`${chat(2)}[data-state="done"]`, { timeout: 90_000 });
    expect(await replyLength(page, 1)).toBe(stopped);
    expect(await page.$eval(`${chat(1)} .msg.assistant:last-of-type`, (el) => el.classList.contains('stopped'))).toBe(true);
    expect(await page.$$(`${chat(1)} .msg.error`)).toHaveLength(0);
    expect(await page.textContent(`${chat(2)} .chat-rate`)).toMatch(/tok\/s · local/);
    expect(await page.isEnabled(`${chat(1)} .chat-send`)).toBe(true);
    await page.screenshot({ path: join(SHOTS, '3-one-stopped.png') });
  }, 240_000);

  it('loads a GGUF dropped on the page', async () => {
    const dropped = await page.evaluate(async () => {
      const bytes = await (await fetch('/fixtures/models/stories260K.gguf')).arrayBuffer();
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'stories260K.gguf', { type: 'application/octet-stream' }));
      const zone = document.querySelector('#drop-zone')!;
      zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true }));
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      return zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    expect(dropped).toBe(false); // the demo handled (and cancelled) the drop: no navigation to the file
    await page.waitForSelector('#load-progress:not([data-phase="ready"])', { timeout: 10_000 });
    await waitForLoad(page);
    expect(await page.textContent('#model-info')).toContain('stories260K.gguf');
    await page.fill('#max-tokens', '12');
    await page.fill(`${chat(1)} .chat-input`, 'Hello');
    await page.click(`${chat(1)} .chat-send`);
    await page.waitForSelector(`${chat(1)}[data-state="done"]`, { timeout: 90_000 });
    expect(await replyLength(page, 1)).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, '4-dropped.png') });
    expect(pageErrors).toEqual([]);
  }, 240_000);

  it('works offline once the model is cached: the shell from the service worker, the model from OPFS', async () => {
    // The service worker registered on the first visit has precached the shell.
    const active = await page.evaluate(() => Promise.race([navigator.serviceWorker.ready.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]));
    expect(active, 'the service worker is active').toBe(true);
    const ctx = page.context();
    await ctx.setOffline(true);
    try {
      await page.reload({ timeout: 30_000 });
      await page.waitForSelector('#gpu-status[data-webgpu="available"]', { timeout: 30_000 });
      expect(await page.evaluate(() => navigator.onLine)).toBe(false);
      await page.waitForSelector('#cached:not([hidden]) #cached-list li button', { timeout: 10_000 });
      await page.evaluate(() => {
        const texts: string[] = ((window as unknown as { progressTexts: string[] }).progressTexts = []);
        const el = document.querySelector('#progress-text')!;
        new MutationObserver(() => texts.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
      });
      await page.click('#cached-list li button'); // "Load" on the first cached model
      await waitForLoad(page, 120_000);
      const texts = await page.evaluate(() => (window as unknown as { progressTexts: string[] }).progressTexts);
      expect(texts.some((t) => t.includes('(from cache)')), texts.join('\n')).toBe(true);
      await page.fill('#max-tokens', '8');
      await page.fill(`${chat(1)} .chat-input`, 'Offline?');
      await page.click(`${chat(1)} .chat-send`);
      await page.waitForSelector(`${chat(1)}[data-state="done"]`, { timeout: 60_000 });
      await page.screenshot({ path: join(SHOTS, '5-offline-from-cache.png') });
    } finally {
      await ctx.setOffline(false);
    }
  }, 180_000);

  it('without WebGPU: a clear message, and chats go to the configured remote endpoint', async () => {
    const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...BASE_ARGS, '--disable-webgpu'], timeout: 60_000 });
    try {
      const p = await b.newPage({ viewport: { width: 1440, height: 900 } });
      await p.goto(base);
      await p.waitForSelector('#gpu-status[data-webgpu="missing"]', { timeout: 30_000 });
      expect(await p.isVisible('#no-webgpu')).toBe(true);
      expect(await p.textContent('#no-webgpu')).toContain('WebGPU is not available');
      expect(await p.isDisabled('#load-url')).toBe(true);
      expect(await p.isDisabled(`${chat(1)} .chat-send`)).toBe(true);
      await p.fill('#remote-url', `${base}remote`);
      await p.click('#remote-form button');
      await p.waitForFunction(() => document.querySelector('#engine-status')?.getAttribute('data-state') === 'ready', undefined, { timeout: 10_000 });
      await p.fill('#max-tokens', '16');
      await p.fill(`${chat(1)} .chat-input`, 'Hi there');
      await p.click(`${chat(1)} .chat-send`);
      await p.waitForSelector(`${chat(1)}[data-state="done"]`, { timeout: 30_000 });
      expect(await replyLength(p, 1)).toBeGreaterThan(0);
      expect(await p.textContent(`${chat(1)} .chat-rate`)).toContain('127.0.0.1');
      expect(remote!.requests.some((r) => r.path === '/v1/chat/completions')).toBe(true);
      await p.screenshot({ path: join(SHOTS, '6-no-webgpu-remote.png') });
    } finally {
      await b.close();
    }
  }, 120_000);
});
