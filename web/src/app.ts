// The demo UI: plain DOM. A model picker (embedded default, URL, local file by drop or picker,
// native dialog in Electron, cached models for offline use) with a phased progress bar and the
// fit verdict; settings; several chats streaming at once from one batching engine; live engine
// stats. mountApp() builds everything inside a container, so tests can mount it too. This file
// wires it together: chat-panel.ts is one chat, load-view.ts draws the model card's progress and
// cached models, template.ts holds the markup.
import { FridayError, toFridayError } from '../../src/api/errors.js';
import type { Engine, EngineStats } from '../../src/api/types.js';
import { deleteCachedModel, listCachedModels, type CachedModel } from '../../src/model/cache/index.js';
import type { GpuLimits } from '../../src/model/inspect.js';
import { unwrap, type FridayBridge } from './bridge-client.js';
import { ChatPanel } from './chat-panel.js';
import { baseName, bytes, pct, RateMeter } from './format.js';
import { renderCachedList, setProgressText, showProgress } from './load-view.js';
import {
  cachedEntryFor, DEFAULT_MODEL_PATH, inspectChoice, loadChoice, probeGguf, remoteEngine, routedEngine, type EngineSettings,
  type ModelChoice, type SessionDeps,
} from './session.js';
import { $, TEMPLATE } from './template.js';

export interface AppOptions extends SessionDeps {
  /** WebGPU entry point; default navigator.gpu (tests pass undefined-like values to simulate none). */
  gpu?: GPU | null;
  /** URL of the embedded default model; default models/friday-default.gguf next to the page. */
  defaultModelUrl?: string;
}

export interface FridayApp {
  /** The engine serving chats now (local, router or remote), if any. */
  readonly engine: Engine | undefined;
  load(choice: ModelChoice): Promise<void>;
  newChat(): ChatPanel;
  readonly chats: readonly ChatPanel[];
  destroy(): Promise<void>;
}

class AppImpl implements FridayApp {
  engine: Engine | undefined;
  /** The local engine (in a worker) when one is loaded; `engine` may wrap it in a router. */
  private local: Engine | undefined;
  private remote: Engine | undefined;
  private remoteUrl = '';
  readonly chats: ChatPanel[] = [];
  private chatSeq = 0;
  private loading: AbortController | undefined;
  private limits: GpuLimits | undefined;
  private adapterInfo: GPUAdapterInfo | undefined;
  private webgpu: 'checking' | 'available' | 'missing' = 'checking';
  private readonly rate = new RateMeter();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly deps: SessionDeps;
  private bundledAvailable = false;
  private readonly defaultUrl: string;
  private disposed = false;
  private readonly docListeners = new AbortController();

  constructor(private readonly root: HTMLElement, private readonly opts: AppOptions) {
    this.deps = { bridge: opts.bridge, createWorker: opts.createWorker };
    this.defaultUrl = new URL(opts.defaultModelUrl ?? DEFAULT_MODEL_PATH, document.baseURI).href;
    root.classList.add('friday-app');
    root.innerHTML = TEMPLATE;
    this.wire();
    this.newChat();
    this.newChat();
    this.timer = setInterval(() => this.tick(), 500);
    void this.detectGpu();
    void this.detectDefault();
    void this.refreshCached();
    if (opts.bridge) void this.initBridge(opts.bridge);
  }

  private q<T extends HTMLElement>(sel: string): T {
    return $<T>(this.root, sel);
  }

  settings() {
    return {
      temperature: Number(this.q<HTMLInputElement>('#temperature').value),
      maxTokens: Math.max(1, Math.floor(Number(this.q<HTMLInputElement>('#max-tokens').value) || 256)),
      system: this.q<HTMLTextAreaElement>('#system-prompt').value.trim(),
    };
  }

  engineSettings(): EngineSettings {
    const maxSeqs = Math.min(16, Math.max(1, Math.floor(Number(this.q<HTMLInputElement>('#max-seqs').value) || 4)));
    return { contextLength: Math.max(64, Math.floor(Number(this.q<HTMLInputElement>('#ctx').value) || 1024)), maxSeqs, maxBatchTokens: 128 };
  }

  private wire(): void {
    const temp = this.q<HTMLInputElement>('#temperature');
    temp.addEventListener('input', () => { this.q('#temp-out').textContent = temp.value; });
    this.q('#load-default').addEventListener('click', () => {
      if (this.bundledAvailable && this.opts.bridge) void this.loadBundled(this.opts.bridge);
      else void this.load({ kind: 'url', url: this.defaultUrl, label: 'friday-default.gguf' });
    });
    this.q('#url-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const raw = this.q<HTMLInputElement>('#model-url').value.trim();
      if (!raw) return;
      const url = new URL(raw, document.baseURI).href;
      void this.load({ kind: 'url', url, label: baseName(url) });
    });
    const input = this.q<HTMLInputElement>('#file-input');
    input.addEventListener('change', () => {
      const f = input.files?.[0];
      if (f) void this.load({ kind: 'file', file: f, label: f.name });
      input.value = '';
    });
    const zone = this.q('#drop-zone');
    // Files dropped anywhere must not make the browser navigate to them.
    const signal = this.docListeners.signal; // removed by destroy()
    for (const t of [document, zone] as EventTarget[]) t.addEventListener('dragover', (e) => { e.preventDefault(); }, { signal });
    document.addEventListener('drop', (e) => e.preventDefault(), { signal });
    zone.addEventListener('dragenter', () => zone.classList.add('over'));
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      zone.classList.remove('over');
      const f = (e as DragEvent).dataTransfer?.files?.[0];
      if (!f) return;
      if (!/\.gguf$/i.test(f.name)) { this.progressText(`${f.name} is not a .gguf file.`, 'error'); return; }
      void this.load({ kind: 'file', file: f, label: f.name });
    });
    this.q('#open-native').addEventListener('click', () => void this.openNative());
    this.q('#cancel-load').addEventListener('click', () => this.loading?.abort(new FridayError('ABORTED', 'Load cancelled.')));
    this.q('#new-chat').addEventListener('click', () => this.newChat());
    this.q('#remote-form').addEventListener('submit', (e) => { e.preventDefault(); void this.useRemote(this.q<HTMLInputElement>('#remote-url').value.trim()); });
  }

  private async initBridge(bridge: FridayBridge): Promise<void> {
    this.q('#open-native').hidden = false;
    try {
      const st = unwrap(await bridge.remoteStatus());
      if (st.configured) this.q('#remote-status').textContent = `Remote (in the app): ${st.endpoints.map((e) => e.name + (e.authenticated ? ' 🔑' : '')).join(', ')}`;
    } catch { /* status is informative only */ }
  }

  /** The model the Electron app ships, opened by main (a handle per load: the load closes it). */
  private async loadBundled(bridge: FridayBridge): Promise<void> {
    try {
      const file = unwrap(await bridge.openBundledModel());
      if (file) await this.load({ kind: 'bridge', file, label: 'friday-default.gguf (bundled)' });
    } catch (e) {
      this.progressText(toFridayError(e).message, 'error');
    }
  }

  private async openNative(): Promise<void> {
    const bridge = this.opts.bridge;
    if (!bridge) return;
    try {
      const file = unwrap(await bridge.openModelDialog());
      if (file) await this.load({ kind: 'bridge', file, label: file.name });
    } catch (e) {
      this.progressText(toFridayError(e).message, 'error');
    }
  }

  private async detectGpu(): Promise<void> {
    const gpu = this.opts.gpu === undefined ? (navigator as Navigator & { gpu?: GPU }).gpu : this.opts.gpu;
    let adapter: GPUAdapter | null = null;
    try {
      adapter = gpu ? await gpu.requestAdapter() : null;
    } catch {
      adapter = null;
    }
    const pill = this.q('#gpu-status');
    if (!adapter) {
      this.webgpu = 'missing';
      pill.dataset.webgpu = 'missing';
      pill.textContent = 'WebGPU: not available';
      this.q('#no-webgpu').hidden = false;
      for (const sel of ['#load-default', '#load-url']) this.q<HTMLButtonElement>(sel).disabled = true;
      this.q('#drop-zone').classList.add('disabled');
      this.q('#adapter').textContent = 'Adapter: none (WebGPU unavailable)';
      this.progressText('No WebGPU: local models cannot run here. Set a remote endpoint to chat.', 'error');
      return;
    }
    this.webgpu = 'available';
    this.adapterInfo = adapter.info;
    this.limits = { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };
    const i = adapter.info;
    const software = (i as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|software/i.test(`${i.vendor} ${i.architecture} ${i.description}`);
    pill.dataset.webgpu = 'available';
    pill.textContent = `WebGPU: ${i.vendor || 'unknown'}${software ? ' (software)' : ''}`;
    this.q('#adapter').textContent = `Adapter: ${[i.vendor, i.architecture, i.description].filter(Boolean).join(' · ') || 'unknown'}${software ? ' — software rasterizer, ~100× slower than a GPU' : ''} · max binding ${bytes(this.limits.maxStorageBufferBindingSize)}`;
  }

  private async detectDefault(): Promise<void> {
    const btn = this.q<HTMLButtonElement>('#load-default');
    const note = this.q('#default-note');
    let ok = false;
    if (this.opts.bridge) {
      try {
        const f = unwrap(await this.opts.bridge.openBundledModel());
        if (f) await this.opts.bridge.closeModel(f.handle);
        ok = this.bundledAvailable = f !== null;
      } catch { ok = false; }
    }
    // In Electron the default model comes from main (app:// URLs are not loadable by URL).
    if (!ok && !this.opts.bridge) ok = (await probeGguf(this.defaultUrl)) || (await cachedEntryFor(this.defaultUrl).catch(() => undefined)) !== undefined;
    if (this.webgpu === 'checking') await new Promise((r) => setTimeout(r, 50));
    btn.disabled = !ok || this.webgpu === 'missing';
    note.textContent = ok ? 'friday-default.gguf' : navigator.onLine === false ? 'offline and not cached' : 'not built yet — load a URL or a file';
    btn.dataset.available = String(ok);
  }

  private async refreshCached(): Promise<void> {
    let list: CachedModel[] = [];
    try {
      list = await listCachedModels();
    } catch { /* no cache in this browser */ }
    renderCachedList(this.root, list, {
      load: (entry, label) => void this.load({ kind: 'cached', entry, label }),
      remove: (entry) => void deleteCachedModel(entry.id).then(() => this.refreshCached()),
    });
  }

  private progressText(text: string, phase?: string): void {
    setProgressText(this.root, text, phase);
  }

  async load(choice: ModelChoice): Promise<void> {
    if (this.webgpu === 'checking') await this.detectGpu();
    if (this.webgpu === 'missing') {
      this.progressText('WebGPU is not available, so local models cannot run here.', 'error');
      return;
    }
    // Offline: a URL we have cached loads from the cache instead of failing on the network.
    if (choice.kind === 'url' && navigator.onLine === false) {
      const entry = await cachedEntryFor(choice.url);
      if (entry) choice = { kind: 'cached', entry, label: choice.label };
    }
    this.loading?.abort(new FridayError('ABORTED', 'Another model was picked.'));
    const ac = new AbortController();
    this.loading = ac;
    await this.unloadLocal();
    const settings = this.engineSettings();
    const box = this.q('#load-progress');
    box.querySelectorAll<HTMLElement>('[data-step]').forEach((li) => { li.className = ''; });
    this.q<HTMLProgressElement>('#progress-bar').value = 0;
    this.q('#cancel-load').hidden = false;
    this.progressText(`Reading the header of ${choice.label}…`, 'inspect');
    const verdict = this.q('#verdict');
    verdict.hidden = true;
    this.setEngineStatus('loading', `loading ${choice.label}`);
    let handedOff = false; // once loadChoice has the model, it closes what it opened
    try {
      const insp = await inspectChoice(choice, settings, this.limits!, this.deps);
      if (ac.signal.aborted) return;
      verdict.hidden = false;
      verdict.dataset.fits = String(insp.fits);
      verdict.textContent = `${insp.fits ? '✓' : '✗'} ${insp.summary}`;
      const c = insp.requirements.config;
      this.facts({ Model: choice.label, File: bytes(insp.fileBytes), Layers: `${c.nLayers} × ${c.dim}`, Context: `${insp.requirements.contextLength} tokens`, Types: Object.keys(insp.requirements.bytesByType).join(', ') });
      if (!insp.fits) {
        this.progressText("The model won't fit this GPU with these settings.", 'error');
        this.setEngineStatus('error', "won't fit");
        return;
      }
      handedOff = true;
      const local = await loadChoice(choice, settings, this.deps, { signal: ac.signal, onProgress: (p) => { if (!ac.signal.aborted) showProgress(this.root, p); } });
      if (ac.signal.aborted || this.disposed) { await local.close(); return; }
      this.local = local;
      this.markReady();
      this.q('#progress-text').textContent = `Ready: ${local.info.model} · context ${local.info.contextLength} · up to ${settings.maxSeqs} chats batched`;
      this.rate.reset();
      this.composeEngine();
      if (local.info.adapter) this.q('#adapter').textContent = `Adapter: ${local.info.adapter.vendor} · ${local.info.adapter.architecture}${local.info.adapter.is_software ? ' (software)' : ''}${this.adapterInfo?.description ? ` · ${this.adapterInfo.description}` : ''}`;
      void this.refreshCached();
    } catch (e) {
      const err = toFridayError(e);
      if (ac.signal.aborted || err.code === 'ABORTED') {
        this.progressText('Load cancelled.', 'idle');
        this.setEngineStatus(this.engine ? 'ready' : 'none', this.engine ? this.engine.info.model : 'no model');
      } else {
        this.progressText(`${err.code}: ${err.message}`, 'error');
        this.setEngineStatus('error', 'load failed');
      }
    } finally {
      if (!handedOff && choice.kind === 'bridge') void this.opts.bridge?.closeModel(choice.file.handle).catch(() => undefined);
      if (this.loading === ac) {
        this.loading = undefined;
        this.q('#cancel-load').hidden = true;
      }
    }
  }

  private markReady(): void {
    this.q('#load-progress').dataset.phase = 'ready';
    this.q('#load-progress').querySelectorAll<HTMLElement>('[data-step]').forEach((li) => { li.className = 'done'; });
    this.q<HTMLProgressElement>('#progress-bar').value = 1;
  }

  private facts(f: Record<string, string>): void {
    const dl = this.q('#model-info');
    dl.replaceChildren();
    for (const [k, v] of Object.entries(f)) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      dl.append(dt, dd);
    }
  }

  private async unloadLocal(): Promise<void> {
    const old = this.local;
    this.local = undefined;
    this.composeEngine();
    await old?.close().catch(() => undefined);
  }

  /** Which engine serves chats: local (maybe with the remote as fallback), else the remote. */
  private composeEngine(): void {
    const prev = this.engine;
    if (this.local && this.remoteUrl && !this.opts.bridge) this.engine = routedEngine(this.local, this.remoteUrl, false);
    else this.engine = this.local ?? this.remote;
    if (prev && prev !== this.engine && prev !== this.local && prev !== this.remote) void prev.close().catch(() => undefined);
    if (this.engine) {
      const where = this.engine === this.remote ? `remote · ${baseName(this.remoteUrl) || this.remoteUrl}` : this.engine === this.local ? `local · ${this.engine.info.model}` : `local + remote fallback · ${this.engine.info.model}`;
      this.setEngineStatus('ready', where);
    }
    else if (!this.loading) this.setEngineStatus('none', 'no model');
    for (const c of this.chats) c.refresh();
  }

  private async useRemote(raw: string): Promise<void> {
    const status = this.q('#remote-status');
    const old = this.remote;
    this.remote = undefined;
    this.remoteUrl = '';
    if (!raw) {
      status.textContent = 'Remote fallback off.';
      this.composeEngine();
      if (old && old !== this.engine) await old.close().catch(() => undefined);
      return;
    }
    try {
      const url = new URL(raw).href.replace(/\/+$/, '');
      this.remote = await remoteEngine(url, this.deps);
      this.remoteUrl = url;
      status.textContent = this.local ? `Remote ${url} takes over when the local engine can't serve.` : `Chats go to ${url}.`;
      status.dataset.state = 'on';
    } catch (e) {
      status.textContent = `Remote not set: ${toFridayError(e).message}`;
      status.dataset.state = 'error';
    }
    this.composeEngine();
    if (old) await old.close().catch(() => undefined);
  }

  private setEngineStatus(state: string, text: string): void {
    const el = this.q('#engine-status');
    el.dataset.state = state;
    el.textContent = text;
  }

  newChat(): ChatPanel {
    const c = new ChatPanel(++this.chatSeq, this);
    this.chats.push(c);
    this.q('#chats').append(c.el);
    return c;
  }

  closeChat(c: ChatPanel): void {
    c.stop();
    c.el.remove();
    this.chats.splice(this.chats.indexOf(c), 1);
  }

  private tick(): void {
    const e = this.engine;
    if (!e) return;
    let s: EngineStats;
    try {
      s = e.stats();
    } catch {
      return;
    }
    const tps = this.rate.sample(s.tokensGenerated);
    const maxSeqs = this.local ? this.engineSettings().maxSeqs : Math.max(1, s.running);
    this.q('#stat-tps').textContent = tps.toFixed(1);
    this.q<HTMLMeterElement>('#stat-batch-bar').value = Math.min(1, s.running / maxSeqs);
    this.q('#stat-batch').textContent = `${s.running}/${maxSeqs} running${s.waiting ? `, ${s.waiting} waiting` : ''}`;
    const kv = s.kvPagesTotal ? s.kvPagesUsed / s.kvPagesTotal : 0;
    this.q<HTMLMeterElement>('#stat-kv-bar').value = kv;
    this.q('#stat-kv').textContent = s.kvPagesTotal ? `${s.kvPagesUsed}/${s.kvPagesTotal} pages (${pct(kv)})` : '–';
    this.q('#stat-prefix').textContent = pct(s.prefixCacheHitRate);
    this.q('#stat-steps').textContent = String(s.steps);
  }

  async destroy(): Promise<void> {
    this.disposed = true;
    clearInterval(this.timer);
    this.docListeners.abort();
    this.loading?.abort();
    for (const c of this.chats) c.stop();
    const engines = new Set([this.engine, this.local, this.remote].filter((x): x is Engine => x !== undefined));
    this.engine = this.local = this.remote = undefined;
    await Promise.all([...engines].map((e) => e.close().catch(() => undefined)));
    this.root.replaceChildren();
  }
}

/** Builds the demo inside `root`. */
export function mountApp(root: HTMLElement, opts: AppOptions = {}): FridayApp {
  return new AppImpl(root, opts);
}
