// The model card's moving parts, drawn from plain data: the phased progress (steps, bar, text)
// and the list of cached models. The app decides what to show; these only draw it.
import { renderProgress } from '../../src/engine/load-progress.js';
import type { CachedModel } from '../../src/model/cache/index.js';
import { baseName, bytes, duration } from './format.js';
import type { LoadProgress } from './session.js';
import { $ } from './template.js';

const PHASE_STEP: Record<string, string> = { header: 'header', download: 'transfer', upload: 'transfer', compile: 'compile', warmup: 'warmup', ready: 'ready' };
const STEPS = ['header', 'transfer', 'compile', 'warmup', 'ready'];

export function setProgressText(root: ParentNode, text: string, phase?: string): void {
  $(root, '#progress-text').textContent = text;
  if (phase) $(root, '#load-progress').dataset.phase = phase;
}

/** The steps done and the one under way, the bar, and a line of bytes, rate and ETA. */
export function showProgress(root: ParentNode, p: LoadProgress): void {
  const box = $(root, '#load-progress');
  box.dataset.phase = p.phase;
  const step = PHASE_STEP[p.phase] ?? 'header';
  const at = STEPS.indexOf(step);
  box.querySelectorAll<HTMLElement>('[data-step]').forEach((li) => {
    const i = STEPS.indexOf(li.dataset.step!);
    li.className = i < at || p.phase === 'ready' ? 'done' : i === at ? 'active' : '';
    if (li.dataset.step === 'transfer' && (p.phase === 'download' || p.phase === 'upload')) li.textContent = p.phase === 'download' ? 'download' : 'upload';
  });
  const bar = $<HTMLProgressElement>(root, '#progress-bar');
  const frac = p.phase === 'ready' ? 1 : p.bytesTotal ? p.bytesDone / p.bytesTotal : 0;
  bar.value = Math.min(1, frac);
  const eta = p.etaSeconds !== undefined ? ` · ETA ${duration(p.etaSeconds)}` : '';
  const src = p.source === 'cache' ? ' (from cache)' : '';
  setProgressText(root, p.phase === 'download' || p.phase === 'upload' ? `${p.phase}${src}: ${bytes(p.bytesDone)} / ${bytes(p.bytesTotal)} · ${p.tensorsDone}/${p.tensorsTotal} tensors${p.rate ? ` · ${bytes(p.rate)}/s` : ''}${eta}` : renderProgress(p, { tty: false, width: 200 }));
}

/** The cached models, each with Load and Delete; the section hides when there are none. */
export function renderCachedList(root: ParentNode, list: CachedModel[], on: { load(entry: CachedModel, label: string): void; remove(entry: CachedModel): void }): void {
  const ul = $(root, '#cached-list');
  ul.replaceChildren();
  $(root, '#cached').hidden = list.length === 0;
  for (const entry of list) {
    const li = document.createElement('li');
    const label = baseName(entry.url);
    const name = document.createElement('span');
    name.textContent = `${label} · ${bytes(entry.size)}`;
    name.title = entry.url;
    const load = document.createElement('button');
    load.className = 'link';
    load.textContent = 'Load';
    load.addEventListener('click', () => on.load(entry, label));
    const del = document.createElement('button');
    del.className = 'link';
    del.textContent = 'Delete';
    del.addEventListener('click', () => on.remove(entry));
    li.append(name, load, del);
    ul.append(li);
  }
}
