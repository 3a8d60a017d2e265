// The demo page's markup (one template, filled in by app.ts and chat-panel.ts) and the lookup
// into it that fails loudly when the markup and the code disagree.

export const TEMPLATE = `
<header class="topbar">
  <div class="brand"><span class="logo">◆</span> Friday <span class="tagline">LLMs on your GPU, in the page</span></div>
  <div class="status">
    <span id="gpu-status" class="pill" data-webgpu="checking">WebGPU: checking…</span>
    <span id="engine-status" class="pill" data-state="none">no model</span>
  </div>
</header>
<div id="no-webgpu" class="banner" hidden>
  <strong>WebGPU is not available here.</strong>
  Friday runs models on your GPU through WebGPU, which this browser does not offer (or has turned off).
  Use a recent Chrome or Edge, or enable WebGPU in your browser's settings.
  <span id="no-webgpu-remote">You can still chat through a remote OpenAI-compatible server: set its URL under <em>Remote fallback</em>.</span>
</div>
<div class="layout">
  <aside class="sidebar">
    <section class="card" id="model-card">
      <h2>Model</h2>
      <div class="row">
        <button id="load-default" class="primary" disabled>Embedded default</button>
        <span id="default-note" class="note">checking…</span>
      </div>
      <form id="url-form" class="row">
        <input id="model-url" type="text" inputmode="url" spellcheck="false" placeholder="https://…/model.gguf" aria-label="Model URL" autocomplete="off" />
        <button id="load-url" type="submit">Load URL</button>
      </form>
      <div id="drop-zone" class="drop" tabindex="0">
        Drop a <b>.gguf</b> file here, or <label class="link">choose one<input id="file-input" type="file" accept=".gguf" hidden /></label>
        <button id="open-native" class="link" hidden>Open GGUF…</button>
      </div>
      <div id="cached" hidden>
        <h3>Cached (work offline)</h3>
        <ul id="cached-list"></ul>
      </div>
      <div id="load-progress" class="progress" data-phase="idle">
        <ol class="phases">
          <li data-step="header">header</li><li data-step="transfer">weights</li><li data-step="compile">compile</li><li data-step="warmup">warm-up</li><li data-step="ready">ready</li>
        </ol>
        <progress id="progress-bar" max="1" value="0"></progress>
        <div id="progress-text" class="note">Pick a model to start.</div>
        <button id="cancel-load" class="link" hidden>Cancel</button>
      </div>
      <div id="verdict" class="verdict" hidden></div>
      <dl id="model-info" class="facts"></dl>
      <div id="adapter" class="note adapter">Adapter: –</div>
    </section>
    <section class="card">
      <h2>Settings</h2>
      <label>Temperature <output id="temp-out">0.8</output><input id="temperature" type="range" min="0" max="2" step="0.05" value="0.8" /></label>
      <label>Max tokens <input id="max-tokens" type="number" min="1" max="8192" value="256" /></label>
      <label>System prompt <textarea id="system-prompt" rows="2">You are Friday, a helpful assistant.</textarea></label>
      <details>
        <summary>Engine (applies on next load)</summary>
        <label>Context length <input id="ctx" type="number" min="64" max="32768" step="64" value="1024" /></label>
        <label>Parallel sequences <input id="max-seqs" type="number" min="1" max="16" value="4" /></label>
      </details>
      <h3>Remote fallback</h3>
      <form id="remote-form" class="row">
        <input id="remote-url" type="url" placeholder="http://host:8080 (OpenAI-compatible)" aria-label="Remote endpoint URL" autocomplete="off" />
        <button type="submit">Use</button>
      </form>
      <div id="remote-status" class="note"></div>
    </section>
  </aside>
  <main class="chats-area">
    <div class="toolbar">
      <button id="new-chat">+ New chat</button>
      <span class="note">Chats run at the same time: one engine batches them.</span>
    </div>
    <div class="statsbar" id="stats">
      <div class="stat"><span class="k">Tokens/s</span><span class="v" id="stat-tps">–</span></div>
      <div class="stat"><span class="k">Batch occupancy</span><span class="v"><meter id="stat-batch-bar" min="0" max="1" value="0"></meter> <span id="stat-batch">–</span></span></div>
      <div class="stat"><span class="k">KV cache</span><span class="v"><meter id="stat-kv-bar" min="0" max="1" value="0"></meter> <span id="stat-kv">–</span></span></div>
      <div class="stat"><span class="k">Prefix-cache hits</span><span class="v" id="stat-prefix">–</span></div>
      <div class="stat"><span class="k">Steps</span><span class="v" id="stat-steps">–</span></div>
    </div>
    <div id="chats" class="chats"></div>
  </main>
</div>`;

/** The element `sel` finds under `root`; throws if the markup has none. */
export function $<T extends HTMLElement>(root: ParentNode, sel: string): T {
  const el = root.querySelector<T>(sel);
  if (!el) throw new Error(`missing ${sel}`);
  return el;
}
