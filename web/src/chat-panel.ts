// One chat of the demo: its transcript, input and stop button, streaming a reply from whichever
// engine the app serves chats with now (several panels stream at once from one batching engine).
import { FridayError, toFridayError } from '../../src/api/errors.js';
import type { ChatCompletionChunk, ChatMessage, Engine } from '../../src/api/types.js';
import { $ } from './template.js';

/** What a chat needs from the app around it. */
export interface ChatHost {
  /** The engine serving chats now, if any. */
  readonly engine: Engine | undefined;
  settings(): { temperature: number; maxTokens: number; system: string };
  closeChat(c: ChatPanel): void;
}

export class ChatPanel {
  readonly el: HTMLElement;
  readonly transcript: HTMLElement;
  readonly input: HTMLTextAreaElement;
  readonly sendBtn: HTMLButtonElement;
  readonly stopBtn: HTMLButtonElement;
  private readonly rateEl: HTMLElement;
  private readonly history: ChatMessage[] = [];
  private ac: AbortController | undefined;

  constructor(readonly id: number, private readonly app: ChatHost) {
    const el = document.createElement('section');
    el.className = 'chat card';
    el.dataset.chat = String(id);
    el.dataset.state = 'idle';
    el.innerHTML = `
      <header class="chat-head"><h3>Chat ${id}</h3><span class="chat-rate note"></span>
        <button class="chat-stop" disabled>Stop</button><button class="chat-close link" title="Close chat">×</button></header>
      <div class="transcript" aria-live="polite"></div>
      <form class="chat-form"><textarea class="chat-input" rows="2" placeholder="Say something… (Enter to send)"></textarea><button class="chat-send primary" type="submit">Send</button></form>`;
    this.el = el;
    this.transcript = $(el, '.transcript');
    this.input = $(el, '.chat-input');
    this.sendBtn = $(el, '.chat-send');
    this.stopBtn = $(el, '.chat-stop');
    this.rateEl = $(el, '.chat-rate');
    $<HTMLFormElement>(el, '.chat-form').addEventListener('submit', (e) => { e.preventDefault(); void this.send(); });
    this.input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); void this.send(); } });
    this.stopBtn.addEventListener('click', () => this.stop());
    $(el, '.chat-close').addEventListener('click', () => this.app.closeChat(this));
    this.refresh();
  }

  get busy(): boolean {
    return this.ac !== undefined;
  }

  refresh(): void {
    this.sendBtn.disabled = this.busy || !this.app.engine;
    this.stopBtn.disabled = !this.busy;
  }

  stop(): void {
    this.ac?.abort(new FridayError('ABORTED', 'Stopped.'));
  }

  private bubble(role: string, text: string): HTMLElement {
    const m = document.createElement('div');
    m.className = `msg ${role}`;
    m.textContent = text;
    this.transcript.append(m);
    this.transcript.scrollTop = this.transcript.scrollHeight;
    return m;
  }

  async send(text = this.input.value): Promise<void> {
    const engine = this.app.engine;
    text = text.trim();
    if (!engine || this.busy || !text) return;
    this.input.value = '';
    this.history.push({ role: 'user', content: text });
    this.bubble('user', text);
    const out = this.bubble('assistant', '');
    out.classList.add('streaming');
    const s = this.app.settings();
    const messages: ChatMessage[] = [...(s.system ? [{ role: 'system' as const, content: s.system }] : []), ...this.history];
    const ac = new AbortController();
    this.ac = ac;
    this.el.dataset.state = 'streaming';
    this.refresh();
    let tokens = 0, t0 = 0, reply = '', servedBy = '';
    const showRate = () => {
      const dt = (performance.now() - t0) / 1000;
      this.rateEl.textContent = `${tokens} tok${dt > 0.2 ? ` · ${(tokens / dt).toFixed(1)} tok/s` : ''}${servedBy ? ` · ${servedBy}` : ''}`;
    };
    try {
      const chunks = await engine.chat.completions.create({ messages, stream: true, max_tokens: s.maxTokens, temperature: s.temperature }, { signal: ac.signal });
      for await (const c of chunks as AsyncIterable<ChatCompletionChunk>) {
        const delta = c.choices[0]?.delta.content ?? '';
        if (c.served_by) servedBy = c.served_by;
        if (delta) {
          if (!t0) t0 = performance.now();
          tokens++;
          reply += delta;
          out.textContent = reply;
          this.transcript.scrollTop = this.transcript.scrollHeight;
        }
        showRate();
      }
      this.el.dataset.state = 'done';
    } catch (e) {
      const err = toFridayError(e);
      if (err.code === 'ABORTED') {
        this.el.dataset.state = 'stopped';
        out.classList.add('stopped');
      } else {
        this.el.dataset.state = 'error';
        this.bubble('error', `${err.code}: ${err.message}`);
      }
    } finally {
      out.classList.remove('streaming');
      if (reply) this.history.push({ role: 'assistant', content: reply });
      else if (!out.textContent) out.textContent = '…';
      this.ac = undefined;
      this.refresh();
    }
  }
}
