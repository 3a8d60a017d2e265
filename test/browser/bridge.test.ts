// The Electron renderer side without Electron: a fake bridge that implements the same typed
// FridayBridge as electron/preload.ts, over an in-page MessageChannel (structured clone, as
// Electron's IPC), talking to the real main-process handlers (electron/lib/ipc.ts: validation,
// per-window handles, the file registry, the remote proxy). The demo is mounted with it and loads
// a model the way the Electron app does: native dialog → handle → chunks over the channel →
// relayed to the engine's Web Worker. Chromium with WebGPU on SwiftShader.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import type { ChatCompletionChunk, Engine, GenerateEvent, GenerateRequest } from '../../src/api/types.js';
import { BlobSource } from '../../src/model/source/blob.js';
import type { RemoteMetrics } from '../../src/remote/engine.js';
import { generationStream } from '../../src/remote/chunks.js';
import {
  BRIDGE_VERSION, Channels, isFinalMessage, LIMITS, type BridgeResult, type FridayBridge, type RemoteStreamMessage,
} from '../../electron/lib/bridge-types.js';
import { registerIpc, type IpcEventLike, type IpcMainLike } from '../../electron/lib/ipc.js';
import { ModelFileRegistry } from '../../electron/lib/model-files.js';
import { RemoteProxy } from '../../electron/lib/remote-proxy.js';
import { mountApp, type FridayApp } from '../../web/src/app.js';
import { BridgeRemoteEngine, BridgeSource, unwrap } from '../../web/src/bridge-client.js';
import { until } from '../helpers/until.js';

declare const __FIXTURES__: string;
const MODEL_URL = `/@fs${__FIXTURES__}/models/stories260K.gguf`;
const res = await fetch(MODEL_URL).catch(() => undefined);
const have = res?.ok === true;
if (!have) console.warn(`shared fixtures not found at ${__FIXTURES__}: skipping the bridge browser tests`);
const modelBlob = have ? await res!.blob() : undefined;

/** What "disk" holds for the fake main process: paths → blobs. */
const DISK = new Map<string, Blob>();
const APP_URL = 'app://friday/index.html';

/** A canned remote engine: tokens 'a', 'b', 'c', ... (what main's RemoteEngine would stream). */
function cannedRemote(seen: { requests: unknown[] }): Engine & { metrics(): RemoteMetrics } {
  const events = async function* (n: number, signal?: AbortSignal): AsyncGenerator<GenerateEvent> {
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, 5));
      if (signal?.aborted) throw new FridayError('ABORTED', 'aborted');
      yield { done: false, token: 97 + i, text: String.fromCharCode(97 + (i % 26)), index: i };
    }
    yield { done: true, text: '', index: n, finish_reason: 'length', usage: { prompt_tokens: 1, completion_tokens: n, total_tokens: n + 1 }, served_by: 'canned' };
  };
  const engine = {
    info: { kind: 'remote' as const, model: 'canned', contextLength: 0 },
    generate: (req: GenerateRequest, o?: { signal?: AbortSignal }) => { seen.requests.push(req); return generationStream(events(req.max_tokens ?? 4, o?.signal)); },
    chat: {
      completions: {
        create: async (p: { max_tokens?: number }, o?: { signal?: AbortSignal }) => {
          seen.requests.push(p);
          return (async function* (): AsyncGenerator<ChatCompletionChunk> {
            for await (const ev of events(p.max_tokens ?? 4, o?.signal)) {
              yield { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'canned', choices: [{ index: 0, delta: ev.done ? {} : { content: ev.text }, finish_reason: ev.done ? 'length' : null }], ...(ev.done ? { served_by: 'canned' } : {}) };
            }
          })();
        },
      },
    },
    completions: { create: async () => { throw new FridayError('INVALID_REQUEST', 'not used'); } },
    stats: () => ({ running: 0, waiting: 0, kvPagesUsed: 0, kvPagesTotal: 0, prefixCacheHitRate: 0, tokensGenerated: 0, steps: 0 }),
    close: async () => {},
    metrics: () => ({ endpoints: [{ name: 'gpu-box', url: 'https://gpu-box.example', healthy: true, circuit: 'closed' }] }) as unknown as RemoteMetrics,
  };
  return engine as unknown as Engine & { metrics(): RemoteMetrics };
}

interface FakeMain {
  bridge: FridayBridge;
  files: ModelFileRegistry;
  /** Every modelRead the "main process" answered: [offset, length]. */
  reads: [number, number][];
  remoteRequests: unknown[];
  /** The next path the "native dialog" returns. */
  nextDialogPath: string | undefined;
  dispose(): void;
}

/**
 * The main process (the real handlers from electron/lib) on one end of a MessageChannel, and on
 * the other a FridayBridge built exactly like electron/preload.ts, with postMessage standing in
 * for ipcRenderer.invoke/send/on.
 */
function fakeElectron(): FakeMain {
  const { port1: rendererPort, port2: mainPort } = new MessageChannel();
  const fake: FakeMain = {
    bridge: fakePreload(rendererPort), files: undefined as unknown as ModelFileRegistry, reads: [], remoteRequests: [], nextDialogPath: undefined,
    dispose: () => { unregister(); rendererPort.close(); mainPort.close(); },
  };
  const unregister = fakeMain(mainPort, fake);
  rendererPort.start();
  mainPort.start();
  return fake;
}

/** The "main" end: electron/lib's registerIpc() on a fake ipcMain, answering over `port`; returns its unregister. */
function fakeMain(port: MessagePort, fake: FakeMain): () => void {
  const handlers = new Map<string, (ev: IpcEventLike, ...args: unknown[]) => unknown>();
  const listeners = new Map<string, (ev: IpcEventLike, ...args: unknown[]) => void>();
  const ipcMain: IpcMainLike = {
    handle: (c, fn) => { handlers.set(c, fn); },
    removeHandler: (c) => { handlers.delete(c); },
    on: (c, fn) => listeners.set(c, fn),
    removeListener: (c) => listeners.delete(c),
  };
  fake.files = new ModelFileRegistry({
    open: async (path) => {
      const blob = DISK.get(path);
      if (!blob) throw new FridayError('IO_ERROR', `Cannot open model file ${path}: no such file.`);
      const src = new BlobSource(blob, path);
      const read = src.read.bind(src);
      src.read = (o, n, s) => { fake.reads.push([o, n]); return read(o, n, s); };
      return src;
    },
  });
  const remote = new RemoteProxy({ endpoints: [{ url: 'https://gpu-box.example', apiKey: 'sk-secret' }], createEngine: () => cannedRemote({ requests: fake.remoteRequests }) });
  const sender = {
    id: 7,
    send: (channel: string, message: unknown) => port.postMessage({ kind: 'event', channel, message }),
    isDestroyed: () => false,
    once: () => undefined,
  };
  const event: IpcEventLike = { sender, senderFrame: { url: APP_URL } };
  const unregister = registerIpc(ipcMain, {
    files: fake.files, remote, isTrustedUrl: (u) => u.startsWith('app://friday/'),
    showOpenDialog: async () => fake.nextDialogPath,
    bundledModelPath: () => 'models/friday-default.gguf',
  });
  port.onmessage = async (ev) => {
    const m = ev.data as { kind: 'invoke'; id: number; channel: string; args: unknown[] } | { kind: 'send'; channel: string; args: unknown[] };
    if (m.kind === 'invoke') {
      const h = handlers.get(m.channel);
      const value = h ? await h(event, ...m.args) : { ok: false, error: { name: 'FridayError', code: 'INTERNAL', message: `no handler for ${m.channel}` } };
      port.postMessage({ kind: 'result', id: m.id, value });
    } else {
      listeners.get(m.channel)?.(event, ...m.args);
    }
  };
  return unregister;
}

/** The "preload" end: a FridayBridge of the same shape as electron/preload.ts, over `port`. */
function fakePreload(port: MessagePort): FridayBridge {
  let nextInvoke = 0, nextStream = 0;
  const pending = new Map<number, (v: unknown) => void>();
  const streamListeners = new Map<string, (m: RemoteStreamMessage) => void>();
  port.onmessage = (ev) => {
    const m = ev.data as { kind: 'result'; id: number; value: unknown } | { kind: 'event'; channel: string; message: RemoteStreamMessage };
    if (m.kind === 'result') { pending.get(m.id)?.(m.value); pending.delete(m.id); return; }
    if (m.channel !== Channels.remoteEvent) return;
    const l = streamListeners.get(m.message.id);
    if (!l) return;
    if (isFinalMessage(m.message)) streamListeners.delete(m.message.id);
    l(m.message);
  };
  const invoke = <T>(channel: string, ...args: unknown[]) => new Promise<BridgeResult<T>>((resolve) => {
    const id = ++nextInvoke;
    pending.set(id, resolve as (v: unknown) => void);
    port.postMessage({ kind: 'invoke', id, channel, args });
  });
  const send = (channel: string, ...args: unknown[]) => port.postMessage({ kind: 'send', channel, args });
  return {
    version: BRIDGE_VERSION,
    platform: 'test',
    openModelDialog: () => invoke(Channels.modelOpenDialog),
    openBundledModel: () => invoke(Channels.modelOpenBundled),
    readModel: (h, o, n) => invoke(Channels.modelRead, h, o, n),
    closeModel: (h) => invoke(Channels.modelClose, h),
    remoteStatus: () => invoke(Channels.remoteStatus),
    configureRemote: (e) => invoke(Channels.remoteConfigure, e),
    remoteStart(start, onMessage) {
      const id = `s${++nextStream}`;
      streamListeners.set(id, onMessage);
      send(Channels.remoteStart, { ...start, id });
      return id;
    },
    remoteAbort(id) { streamListeners.delete(id); send(Channels.remoteAbort, id); },
  };
}

describe.skipIf(!have)('the demo over the Electron bridge (fake main over a MessageChannel)', () => {
  let electron: FakeMain;
  let app: FridayApp | undefined;
  let root: HTMLElement;

  beforeAll(() => {
    DISK.set('/home/me/models/stories260K.gguf', modelBlob!);
    DISK.set('models/friday-default.gguf', modelBlob!);
    DISK.set('/home/me/notes.txt', new Blob(['hello, not a model']));
    electron = fakeElectron();
    root = document.createElement('div');
    document.body.append(root);
  });
  afterAll(async () => {
    await app?.destroy();
    electron?.dispose();
    root?.remove();
  });

  it('bridge calls are validated and scoped by the main-process handlers', async () => {
    const b = electron.bridge;
    electron.nextDialogPath = '/home/me/notes.txt';
    const notModel = await b.openModelDialog();
    expect(notModel.ok).toBe(false);
    expect(!notModel.ok && notModel.error.code).toBe('GGUF_INVALID');
    electron.nextDialogPath = undefined;
    expect(await b.openModelDialog()).toEqual({ ok: true, value: null }); // cancelled

    electron.nextDialogPath = '/home/me/models/stories260K.gguf';
    const file = unwrap(await b.openModelDialog())!;
    expect(file).toMatchObject({ name: 'stories260K.gguf', size: modelBlob!.size });
    expect(file.handle).toMatch(/^[a-f0-9]{32}$/);
    const head = unwrap(await b.readModel(file.handle, 0, 4));
    expect(new TextDecoder().decode(head)).toBe('GGUF');
    for (const [o, n] of [[-1, 4], [0, 0], [0, LIMITS.maxReadBytes + 1], [0.5, 4]] as const) {
      const r = await b.readModel(file.handle, o, n);
      expect(!r.ok && r.error.code).toBe('INVALID_REQUEST');
    }
    const unknown = await b.readModel('0'.repeat(32), 0, 4);
    expect(!unknown.ok && unknown.error.code).toBe('INVALID_REQUEST');
    // A BridgeSource splits reads bigger than one IPC chunk.
    const src = new BridgeSource(b, file);
    const big = await src.read(0, modelBlob!.size);
    expect(big.byteLength).toBe(modelBlob!.size);
    await src.close();
    expect(electron.files.countFor(7)).toBe(0);
    const bad = await b.configureRemote(['file:///etc/passwd']);
    expect(!bad.ok && bad.error.code).toBe('INVALID_REQUEST');
  });

  it('the remote pool in main streams through the bridge; keys never reach the renderer', async () => {
    const status = unwrap(await electron.bridge.remoteStatus());
    expect(status.endpoints).toEqual([expect.objectContaining({ name: 'gpu-box', authenticated: true })]);
    expect(JSON.stringify(status)).not.toContain('sk-secret');
    const engine = new BridgeRemoteEngine(electron.bridge);
    let text = '';
    for await (const ev of engine.generate({ prompt: 'x', max_tokens: 5 })) text += ev.text;
    expect(text).toBe('abcde');
    let chatText = '';
    for await (const c of await engine.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true })) chatText += c.choices[0]?.delta.content ?? '';
    expect(chatText).toBe('abc');
    // Aborting mid-stream rejects with ABORTED and stops the stream in main.
    const ac = new AbortController();
    const got: string[] = [];
    await expect((async () => {
      for await (const ev of engine.generate({ prompt: 'x', max_tokens: 500 }, { signal: ac.signal })) { got.push(ev.text); if (got.length === 3) ac.abort(); }
    })()).rejects.toMatchObject({ code: 'ABORTED' });
    expect(got).toHaveLength(3);
    await until(() => engine.stats().running === 0, 2000, 'the stream to settle');
  });

  it('mounted with the bridge, the demo loads a model chosen in the native dialog and chats', async () => {
    electron.reads.length = 0;
    electron.nextDialogPath = '/home/me/models/stories260K.gguf';
    app = mountApp(root, { bridge: electron.bridge });
    const $ = <T extends HTMLElement>(sel: string) => root.querySelector<T>(sel)!;
    await until(() => $('#gpu-status').dataset.webgpu !== 'checking', 30_000, 'WebGPU detection');
    expect($('#gpu-status').dataset.webgpu).toBe('available');
    expect($('#open-native').hidden).toBe(false);
    // The bundled default model is found through main (its handle is released again).
    await until(() => $('#load-default').dataset.available !== undefined, 10_000, 'the default model check');
    expect($('#load-default').dataset.available).toBe('true');
    expect($('#remote-status').textContent).toContain('gpu-box');

    const phases: string[] = [];
    new MutationObserver(() => { if (phases.at(-1) !== $('#load-progress').dataset.phase) phases.push($('#load-progress').dataset.phase!); })
      .observe($('#load-progress'), { attributes: true, attributeFilter: ['data-phase'] });
    $('#open-native').click();
    await until(() => ['ready', 'error'].includes($('#load-progress').dataset.phase!), 180_000, 'the model load');
    expect($('#load-progress').dataset.phase, $('#progress-text').textContent!).toBe('ready');
    expect($('#verdict').dataset.fits).toBe('true');
    expect(phases).toContain('header');
    expect(phases).toContain('upload'); // a file from main: "upload", not "download"
    // The weights came over the channel in bounded chunks, and the file was released after the load.
    expect(electron.reads.length).toBeGreaterThan(1);
    expect(Math.max(...electron.reads.map(([, n]) => n))).toBeLessThanOrEqual(LIMITS.maxReadBytes);
    const covered = new Set(electron.reads.map(([o]) => o));
    expect(covered.has(0)).toBe(true);
    await until(() => electron.files.countFor(7) === 0, 5000, 'the model handle to be closed');

    expect(app.engine?.info.kind).toBe('worker');
    const c = app.chats[0]!;
    (root.querySelector('#max-tokens') as HTMLInputElement).value = '16';
    c.input.value = 'Hello';
    c.sendBtn.click();
    await until(() => c.el.dataset.state === 'done' || c.el.dataset.state === 'error', 120_000, 'the chat');
    expect(c.el.dataset.state).toBe('done');
    expect(c.transcript.querySelector('.msg.assistant')!.textContent!.length).toBeGreaterThan(0);
  });
});
