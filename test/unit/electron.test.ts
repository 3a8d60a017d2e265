// The Electron main-process logic (electron/lib), without Electron: argument validation, model
// files streamed from disk behind opaque per-window handles, the IPC handlers, the remote pool
// proxy (keys stay in main), window security, the app:// protocol handler, and the bundling of
// main + preload.
import { spawn } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { createAppHandler } from '../../electron/lib/app-protocol.js';
import { Channels, LIMITS, type BridgeResult, type RemoteStreamMessage } from '../../electron/lib/bridge-types.js';
import { registerIpc, type IpcEventLike, type IpcMainLike } from '../../electron/lib/ipc.js';
import { ModelFileRegistry } from '../../electron/lib/model-files.js';
import { parseRange } from '../../electron/lib/range.js';
import { loadRemoteConfig, RemoteProxy } from '../../electron/lib/remote-proxy.js';
import {
  APP_ENTRY, contentSecurityPolicy, denyAllPermissions, isAppUrl, lockDown, mainWindowOptions, secureWebPreferences,
} from '../../electron/lib/security.js';
import { chatParamsArg, endpointsArg, generateRequestArg, readArgs, remoteStartArg } from '../../electron/lib/validate.js';

const ROOT = resolve(import.meta.dirname, '../..');
let tmp = '';
let modelPath = '';
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'friday-electron-'));
  modelPath = join(tmp, 'tiny.gguf');
  const bytes = new Uint8Array(100_000);
  bytes.set([0x47, 0x47, 0x55, 0x46]);
  for (let i = 4; i < bytes.length; i++) bytes[i] = i % 251;
  await writeFile(modelPath, bytes);
  await writeFile(join(tmp, 'notes.txt'), 'not a model');
});
afterAll(async () => { if (tmp) await rm(tmp, { recursive: true, force: true }); });

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as FridayError).code;
  }
  return 'no error';
};

describe('argument validation', () => {
  it('model reads: a handle, a non-negative integer offset, a bounded length', () => {
    const h = 'a'.repeat(32);
    expect(readArgs(h, 0, 4)).toEqual({ handle: h, offset: 0, length: 4 });
    for (const args of [[h, -1, 4], [h, 0.5, 4], [h, 0, 0], [h, 0, LIMITS.maxReadBytes + 1], [h, '0', 4], ['../etc', 0, 4], [42, 0, 4], [h, Number.NaN, 4]] as const) {
      expect(code(() => readArgs(args[0], args[1], args[2]))).toBe('INVALID_REQUEST');
    }
  });

  it('endpoints: http(s) only, no credentials, bounded', () => {
    expect(endpointsArg(['http://127.0.0.1:8080/', 'https://gpu.example/v1'])).toEqual(['http://127.0.0.1:8080', 'https://gpu.example/v1']);
    for (const bad of [['file:///etc/passwd'], ['javascript:alert(1)'], ['https://user:pw@x.example'], 'http://x', [1], Array(LIMITS.maxEndpoints + 1).fill('http://x')]) {
      expect(code(() => endpointsArg(bad))).toBe('INVALID_REQUEST');
    }
  });

  it('requests are rebuilt from known fields only', () => {
    const chat = chatParamsArg({ messages: [{ role: 'user', content: 'hi', extra: 1 }], max_tokens: 8, temperature: 0.5, evil: 'x', stream: false });
    expect(chat).toEqual({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, temperature: 0.5, stream: true });
    expect(generateRequestArg({ prompt: [1, 2, 3], seed: 4, stop: ['\n'], __proto__: { x: 1 } })).toEqual({ prompt: [1, 2, 3], seed: 4, stop: ['\n'] });
    for (const bad of [{ messages: [] }, { messages: [{ role: 'root', content: 'x' }] }, { messages: [{ role: 'user', content: 'x' }], temperature: -1 }, { messages: [{ role: 'user', content: 'x' }], max_tokens: 1.5 }, { messages: [{ role: 'user', content: 'x' }], stop: ['a', 'b', 'c', 'd', 'e'] }]) {
      expect(code(() => chatParamsArg(bad))).toBe('INVALID_REQUEST');
    }
    expect(code(() => generateRequestArg({ prompt: [1.5] }))).toBe('INVALID_REQUEST');
    expect(code(() => remoteStartArg({ id: 'a b', kind: 'generate', request: { prompt: 'x' } }))).toBe('INVALID_REQUEST');
    expect(code(() => remoteStartArg({ id: 's1', kind: 'shell', request: { prompt: 'x' } }))).toBe('INVALID_REQUEST');
  });
});

describe('model files streamed from disk', () => {
  it('opens what main chose (FileSource), reads bounded chunks, per window, and closes', async () => {
    const reg = new ModelFileRegistry({ maxOpenPerOwner: 2 });
    const f = await reg.open(1, modelPath);
    expect(f).toMatchObject({ name: 'tiny.gguf', size: 100_000 });
    const disk = await readFile(modelPath);
    const chunk = await reg.read(1, f.handle, 99_990, 64); // past the end: clipped
    expect([...chunk]).toEqual([...disk.subarray(99_990)]);
    expect((await reg.read(1, f.handle, 200_000, 4)).byteLength).toBe(0);
    // Another window's handle is unknown there.
    await expect(reg.read(2, f.handle, 0, 4)).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(reg.close(2, f.handle)).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await reg.open(1, modelPath);
    await expect(reg.open(1, modelPath)).rejects.toMatchObject({ code: 'INVALID_REQUEST' }); // max open
    await reg.closeOwner(1);
    expect(reg.countFor(1)).toBe(0);
    await expect(reg.read(1, f.handle, 0, 4)).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('refuses files that are not GGUF, and missing files, closing what it opened', async () => {
    const closed = vi.fn();
    const reg = new ModelFileRegistry({
      open: async (p) => {
        const { FileSource } = await import('../../src/model/source/file.js');
        const s = await FileSource.open(p);
        const c = s.close.bind(s);
        s.close = async () => { closed(); await c(); };
        return s;
      },
    });
    await expect(reg.open(1, join(tmp, 'notes.txt'))).rejects.toMatchObject({ code: 'GGUF_INVALID' });
    expect(closed).toHaveBeenCalledTimes(1);
    await expect(reg.open(1, join(tmp, 'missing.gguf'))).rejects.toMatchObject({ code: 'IO_ERROR' });
    expect(reg.countFor(1)).toBe(0);
  });
});

/** A fake ipcMain plus a window (sender) that records what main sends it. */
function fakeIpc(url = APP_ENTRY) {
  const handlers = new Map<string, (ev: IpcEventLike, ...a: unknown[]) => unknown>();
  const listeners = new Map<string, (ev: IpcEventLike, ...a: unknown[]) => void>();
  const ipc: IpcMainLike = {
    handle: (c, f) => { handlers.set(c, f); },
    removeHandler: (c) => { handlers.delete(c); },
    on: (c, f) => listeners.set(c, f),
    removeListener: (c) => listeners.delete(c),
  };
  const sent: RemoteStreamMessage[] = [];
  let onDestroyed: (() => void) | undefined;
  const ev: IpcEventLike = {
    sender: { id: 3, send: (_c, m) => { sent.push(m as RemoteStreamMessage); }, isDestroyed: () => false, once: (_e, l) => { onDestroyed = l; } },
    senderFrame: { url },
  };
  return {
    ipc, sent, handlers, listeners,
    invoke: async <T>(c: string, ...a: unknown[]) => (await handlers.get(c)!(ev, ...a)) as BridgeResult<T>,
    send: (c: string, ...a: unknown[]) => listeners.get(c)!(ev, ...a),
    destroy: () => onDestroyed?.(),
  };
}

describe('IPC handlers', () => {
  it('answer only the app page, validate, scope handles to the window and release them with it', async () => {
    const files = new ModelFileRegistry();
    const remote = new RemoteProxy();
    let dialogPath: string | undefined = modelPath;
    const deps = { files, remote, isTrustedUrl: isAppUrl, showOpenDialog: async () => dialogPath, bundledModelPath: () => join(tmp, 'no-default.gguf') };
    const evil = fakeIpc('https://evil.example/');
    registerIpc(evil.ipc, deps);
    const refused = await evil.invoke(Channels.modelOpenDialog);
    expect(refused).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } });

    const w = fakeIpc();
    const off = registerIpc(w.ipc, deps);
    const opened = await w.invoke<{ handle: string; size: number }>(Channels.modelOpenDialog);
    expect(opened.ok).toBe(true);
    const handle = opened.ok ? opened.value.handle : '';
    const read = await w.invoke<Uint8Array>(Channels.modelRead, handle, 0, 4);
    expect(read.ok && new TextDecoder().decode(read.value)).toBe('GGUF');
    expect(await w.invoke(Channels.modelRead, handle, 0, LIMITS.maxReadBytes * 2)).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST', details: { param: 'length' } } });
    expect(await w.invoke(Channels.modelOpenBundled)).toEqual({ ok: true, value: null }); // not shipped
    dialogPath = undefined;
    expect(await w.invoke(Channels.modelOpenDialog)).toEqual({ ok: true, value: null }); // cancelled
    expect(await w.invoke(Channels.remoteConfigure, ['ftp://x'])).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } });
    expect(await w.invoke(Channels.remoteStatus)).toEqual({ ok: true, value: { configured: false, endpoints: [] } });
    // A malformed stream start is answered with an error message, not silence.
    w.send(Channels.remoteStart, { id: 'x1', kind: 'generate', request: { prompt: 5 } });
    expect(w.sent).toEqual([expect.objectContaining({ id: 'x1', type: 'error', error: expect.objectContaining({ code: 'INVALID_REQUEST' }) })]);
    w.send(Channels.remoteStart, { id: 'x2', kind: 'generate', request: { prompt: 'hi' } });
    expect(w.sent[1]).toMatchObject({ id: 'x2', type: 'error', error: { code: 'REMOTE_UNAVAILABLE' } });

    expect(files.countFor(3)).toBe(1);
    w.destroy(); // the window closed
    await vi.waitFor(() => expect(files.countFor(3)).toBe(0));
    off();
    expect(w.handlers.size).toBe(0);
    expect(w.listeners.size).toBe(0);
  });
});

describe('remote pool in main', () => {
  let server: Server;
  let url = '';
  const seen: { path: string; auth: string | undefined; body: Record<string, unknown> }[] = [];
  beforeAll(async () => {
    // A minimal OpenAI-compatible streaming server that records the Authorization header.
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', async () => {
        if (req.method === 'GET') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"status":"ok"}'); return; }
        const j = JSON.parse(body || '{}') as Record<string, unknown>;
        seen.push({ path: req.url!, auth: req.headers.authorization, body: j });
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const n = Number(j.max_tokens ?? 3);
        const chat = req.url!.includes('chat');
        for (let i = 0; i < n && !res.destroyed; i++) {
          const text = String.fromCharCode(97 + (i % 26));
          res.write(`data: ${JSON.stringify({ id: 'x', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 0, model: 'm', choices: [chat ? { index: 0, delta: { content: text }, finish_reason: null } : { index: 0, text, finish_reason: null }] })}\n\n`);
          await new Promise((r) => setTimeout(r, 5));
        }
        if (!res.destroyed) {
          res.write(`data: ${JSON.stringify({ id: 'x', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 0, model: 'm', choices: [chat ? { index: 0, delta: {}, finish_reason: 'length' } : { index: 0, text: '', finish_reason: 'length' }] })}\n\ndata: [DONE]\n\n`);
          res.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => { server.closeAllConnections(); await new Promise((r) => server.close(r)); });

  const collect = (proxy: RemoteProxy, owner: number, msg: Parameters<RemoteProxy['start']>[1]) => new Promise<RemoteStreamMessage[]>((done) => {
    const out: RemoteStreamMessage[] = [];
    proxy.start(owner, msg, (m) => {
      out.push(m);
      if (m.type === 'end' || m.type === 'error' || (m.type === 'event' && m.event.done)) done(out);
    });
  });

  it('streams generate and chat to the window, with the key attached in main only', async () => {
    const proxy = new RemoteProxy({ endpoints: loadRemoteConfig({ FRIDAY_REMOTE_ENDPOINTS: url, FRIDAY_REMOTE_API_KEY: 'sk-main-only' }), engineOptions: { healthIntervalMs: 0, transport: 'undici' } });
    try {
      const status = proxy.status();
      expect(status).toMatchObject({ configured: true, endpoints: [{ url, authenticated: true }] });
      const gen = await collect(proxy, 1, { id: 'g1', kind: 'generate', request: { prompt: 'hi', max_tokens: 4 } });
      expect(gen.filter((m) => m.type === 'event' && !m.event.done).map((m) => (m as { event: { text: string } }).event.text).join('')).toBe('abcd');
      expect(gen.at(-1)).toMatchObject({ type: 'event', event: { done: true } });
      const chat = await collect(proxy, 1, { id: 'c1', kind: 'chat', params: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true } });
      expect(chat.at(-1)).toEqual({ id: 'c1', type: 'end' });
      expect(seen.map((s) => s.auth)).toEqual(['Bearer sk-main-only', 'Bearer sk-main-only']);
      // Nothing sent to the renderer carries the key.
      expect(JSON.stringify([status, gen, chat])).not.toContain('sk-main-only');

      // A renderer-chosen endpoint of another origin gets no key; the same origin keeps it.
      const other = url.replace('127.0.0.1', 'localhost');
      expect(proxy.configure([other]).endpoints[0]).toMatchObject({ authenticated: false });
      await collect(proxy, 1, { id: 'g2', kind: 'generate', request: { prompt: 'hi', max_tokens: 1 } });
      expect(seen.at(-1)!.auth).toBeUndefined();
      expect(proxy.configure([`${url}/v1`]).endpoints[0]).toMatchObject({ authenticated: true });

      // Abort stops a stream of that window only.
      const msgs: RemoteStreamMessage[] = [];
      const ended = new Promise<void>((r) => proxy.start(1, { id: 'long', kind: 'generate', request: { prompt: 'x', max_tokens: 500 } }, (m) => { msgs.push(m); if (m.type === 'error' || (m.type === 'event' && m.event.done)) r(); }));
      await vi.waitFor(() => expect(msgs.length).toBeGreaterThan(2));
      proxy.abort(2, 'long');
      await new Promise((r) => setTimeout(r, 30));
      expect(msgs.at(-1)!.type).toBe('event');
      proxy.abort(1, 'long');
      await ended;
      expect(msgs.at(-1)).toMatchObject({ type: 'error', error: { code: 'ABORTED' } });
      expect(msgs.length).toBeLessThan(400); // stopped, not run to its 500 tokens
      // Ids are unique per stream.
      const dup = await new Promise<RemoteStreamMessage>((r) => {
        proxy.start(1, { id: 'd', kind: 'generate', request: { prompt: 'x', max_tokens: 50 } }, () => {});
        proxy.start(1, { id: 'd', kind: 'generate', request: { prompt: 'x', max_tokens: 1 } }, r);
      });
      expect(dup).toMatchObject({ type: 'error', error: { code: 'INVALID_REQUEST' } });
      proxy.abortOwner(1);
    } finally {
      await proxy.close();
    }
  });

  it('redacts keys from errors sent to the window', async () => {
    const proxy = new RemoteProxy({
      endpoints: [{ url: 'https://gpu.example', apiKey: 'sk-leaky' }],
      createEngine: () => ({
        generate: () => { throw new FridayError('REMOTE_HTTP_4XX', 'bad key sk-leaky for https://gpu.example', { header: 'Bearer sk-leaky' }); },
        metrics: () => ({ endpoints: [] }),
        close: async () => {},
      }) as never,
    });
    const [m] = await collect(proxy, 1, { id: 'e', kind: 'generate', request: { prompt: 'x' } });
    expect(m).toMatchObject({ type: 'error', error: { code: 'REMOTE_HTTP_4XX', message: 'bad key [redacted] for https://gpu.example', details: { header: 'Bearer [redacted]' } } });
    await proxy.close();
  });

  it('reads its configuration from the environment and a JSON file, skipping bad entries', () => {
    const warn = vi.fn();
    const cfg = loadRemoteConfig({ FRIDAY_REMOTE_ENDPOINTS: 'http://a:1, ftp://b', FRIDAY_REMOTE_API_KEY: 'k' }, JSON.stringify({ endpoints: [{ url: 'https://c.example', apiKey: 'kc', name: 'c' }, { nope: 1 }] }), warn);
    expect(cfg).toEqual([{ url: 'http://a:1', apiKey: 'k' }, { url: 'https://c.example', apiKey: 'kc', name: 'c' }]);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(loadRemoteConfig({}, '{not json', warn)).toEqual([]);
  });
});

describe('window security', () => {
  it('isolated, sandboxed, no Node in the renderer', () => {
    const wp = secureWebPreferences('/app/preload.cjs');
    expect(wp).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, nodeIntegrationInSubFrames: false, webSecurity: true, allowRunningInsecureContent: false, webviewTag: false, navigateOnDragDrop: false });
    expect(mainWindowOptions('/p').webPreferences.preload).toBe('/p');
  });

  it('a strict CSP: scripts only from the app, no inline, no eval, no objects or frames', () => {
    const csp = contentSecurityPolicy();
    const d = Object.fromEntries(csp.split(';').map((s) => s.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
    expect(d['default-src']).toEqual(["'self'"]);
    expect(d['script-src']).toEqual(["'self'"]);
    expect(d['worker-src']).toEqual(["'self'"]);
    expect(d['object-src']).toEqual(["'none'"]);
    expect(d['frame-ancestors']).toEqual(["'none'"]);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  });

  it('navigation stays in the app; new windows are denied (links open externally); no webviews; no permissions', () => {
    const on = new Map<string, (e: { preventDefault(): void; url?: string }, url?: string) => void>();
    let openHandler: ((d: { url: string }) => { action: 'deny' }) | undefined;
    lockDown({ on: (ev: string, l: never) => on.set(ev, l), setWindowOpenHandler: (h: typeof openHandler) => { openHandler = h; } } as never, (u) => opened.push(u));
    const opened: string[] = [];
    const nav = (ev: string, url: string) => { const e = { preventDefault: vi.fn(), url }; on.get(ev)!(e, url); return e.preventDefault.mock.calls.length > 0; };
    expect(nav('will-navigate', 'app://friday/index.html')).toBe(false);
    expect(nav('will-navigate', 'https://evil.example/')).toBe(true);
    expect(nav('will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(nav('will-redirect', 'app://other/x')).toBe(true);
    expect(openHandler!({ url: 'https://docs.example/' })).toEqual({ action: 'deny' });
    expect(openHandler!({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    expect(opened).toEqual(['https://docs.example/']);
    const e = { preventDefault: vi.fn() };
    on.get('will-attach-webview')!(e);
    expect(e.preventDefault).toHaveBeenCalled();
    const cb = vi.fn();
    denyAllPermissions(null, 'media', cb);
    expect(cb).toHaveBeenCalledWith(false);
    expect(isAppUrl('app://friday/x')).toBe(true);
    expect(isAppUrl('app://friday.evil/x')).toBe(false);
  });
});

describe('app:// protocol handler', () => {
  it('serves the built app with the CSP, supports Range, refuses traversal and other hosts', async () => {
    const root = join(tmp, 'web');
    await mkdir(join(root, 'assets'), { recursive: true });
    await writeFile(join(root, 'index.html'), '<!doctype html><p>hi</p>');
    await writeFile(join(root, 'assets/a.js'), 'export const x = 1;');
    await writeFile(join(tmp, 'secret.txt'), 'secret');
    const csp = contentSecurityPolicy();
    const h = createAppHandler({ root, csp });
    const get = (url: string, headers: Record<string, string> = {}, method = 'GET') => h(new Request(url, { method, headers }));

    const index = await get('app://friday/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toBe(csp);
    expect(index.headers.get('content-type')).toContain('text/html');
    expect(await index.text()).toContain('<p>hi</p>');
    const js = await get('app://friday/assets/a.js');
    expect(js.headers.get('content-type')).toContain('text/javascript');
    const part = await get('app://friday/assets/a.js', { range: 'bytes=7-11' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 7-11/19');
    expect(await part.text()).toBe('const');
    expect((await get('app://friday/assets/a.js', { range: 'bytes=100-' })).status).toBe(416);
    expect((await get('app://friday/index.html', {}, 'HEAD')).headers.get('content-length')).toBe('24');
    expect((await get('app://friday/index.html', {}, 'POST')).status).toBe(405);
    for (const bad of ['app://friday/../secret.txt', 'app://friday/%2e%2e/secret.txt', 'app://friday/..%2fsecret.txt', 'app://friday/assets/..%2f..%2fsecret.txt', 'app://other/index.html', 'app://friday/missing.js']) {
      const r = await get(bad);
      expect(r.status, bad).toBeGreaterThanOrEqual(400);
      expect(await r.text()).not.toContain('secret');
    }
  });

  it('parses single byte ranges', () => {
    expect(parseRange(undefined, 10)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=0-3', 10)).toEqual({ kind: 'partial', start: 0, end: 3 });
    expect(parseRange('bytes=5-', 10)).toEqual({ kind: 'partial', start: 5, end: 9 });
    expect(parseRange('bytes=-4', 10)).toEqual({ kind: 'partial', start: 6, end: 9 });
    expect(parseRange('bytes=8-100', 10)).toEqual({ kind: 'partial', start: 8, end: 9 });
    expect(parseRange('bytes=10-', 10)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-1,4-5', 10)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=5-2', 10)).toEqual({ kind: 'full' });
  });
});

describe('bundling', () => {
  it('builds main (ESM) and a sandbox-compatible preload (CommonJS requiring only electron)', async () => {
    const out = join(tmp, 'dist-electron');
    const r = await new Promise<{ code: number | null; err: string }>((done) => {
      const p = spawn(process.execPath, [join(ROOT, 'electron/build.mjs'), out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => { err += d; });
      const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('close', (c) => { clearTimeout(t); done({ code: c, err }); });
    });
    expect(r.code, r.err).toBe(0);
    const preload = await readFile(join(out, 'preload.cjs'), 'utf8');
    expect([...preload.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1])).toEqual(['electron']);
    expect(preload).toContain('exposeInMainWorld');
    expect(preload).not.toMatch(/exposeInMainWorld\([^)]*ipcRenderer\)/);
    const main = await readFile(join(out, 'main.js'), 'utf8');
    expect(main).toMatch(/^import .* from "electron";/m);
    expect(main).toContain('contextIsolation: true');
    expect(main).not.toMatch(/readFile\(\s*path/); // models go through FileSource handles
  }, 90_000);
});
