// Load progress: the events LoadedModel.load emits, and how the CLI shows them (a bar on a TTY,
// plain lines otherwise).
//
// Phases, in order: header (read and check the GGUF header; the tokenizer is ready after it),
// download or upload (weights streaming to the GPU: "download" when they come over the network,
// "upload" from a file, a Blob or the browser cache; pipelines compile meanwhile), compile (waiting
// for pipelines still compiling once the bytes are in), warmup (one 1-token step), ready.
import type { UploadProgress } from '../model/weights.js';

export type LoadPhase = 'header' | 'download' | 'upload' | 'compile' | 'warmup' | 'ready';

export interface LoadProgress {
  phase: LoadPhase;
  /** Weight bytes on the GPU so far, of bytesTotal (0 of 0 until the header is read). */
  bytesDone: number;
  bytesTotal: number;
  tensorsDone: number;
  tensorsTotal: number;
  /** Weight bytes per second since streaming began (0 before). */
  rate: number;
  /** Seconds of streaming left at that rate; undefined when unknown or done. */
  etaSeconds: number | undefined;
  /** Since the load began. */
  elapsedMs: number;
  /** Where the weights come from. */
  source: 'network' | 'cache' | 'local';
}

/** Turns phase changes and upload counters into throttled LoadProgress events. */
export class ProgressTracker {
  private readonly t0 = performance.now();
  private streamStart = 0;
  private lastEmit = -Infinity;
  private readonly ev: LoadProgress;

  constructor(private readonly onProgress: ((p: LoadProgress) => void) | undefined, source: LoadProgress['source'], private readonly intervalMs = 100) {
    this.ev = { phase: 'header', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0, rate: 0, etaSeconds: undefined, elapsedMs: 0, source };
  }

  get current(): Readonly<LoadProgress> {
    return this.ev;
  }

  /** Enters a phase; always emitted. */
  phase(phase: LoadPhase, totals?: { bytesTotal: number; tensorsTotal: number }): void {
    if (totals) Object.assign(this.ev, totals);
    if ((phase === 'download' || phase === 'upload') && !this.streamStart) this.streamStart = performance.now();
    this.ev.phase = phase;
    this.emit(true);
  }

  /** Upload counters; emitted at most every intervalMs, and when complete. */
  bytes(p: UploadProgress): void {
    Object.assign(this.ev, p);
    this.emit(p.bytesDone === p.bytesTotal);
  }

  private emit(force: boolean): void {
    if (!this.onProgress) return;
    const now = performance.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    const secs = this.streamStart ? (now - this.streamStart) / 1000 : 0;
    const e = this.ev;
    e.elapsedMs = now - this.t0;
    e.rate = secs > 0 ? e.bytesDone / secs : 0;
    e.etaSeconds = e.rate > 0 && e.bytesDone < e.bytesTotal ? (e.bytesTotal - e.bytesDone) / e.rate : undefined;
    this.onProgress({ ...e });
  }
}

export interface RenderOptions {
  /** A terminal: one line to redraw in place (write it after "\r", then clear to end of line). */
  tty: boolean;
  /** Columns available; the bar shrinks to fit. Default 80. */
  width?: number;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

function unitFor(n: number): number {
  let u = 0;
  while (u < UNITS.length - 1 && n >= 1024 ** (u + 1)) u++;
  return u;
}

const inUnit = (n: number, u: number) => (n / 1024 ** u).toFixed(u === 0 ? 0 : 1);

function bytesPair(done: number, total: number): string {
  const u = unitFor(total);
  return `${inUnit(done, u)}/${inUnit(total, u)} ${UNITS[u]}`;
}

function bytesText(n: number): string {
  const u = unitFor(n);
  return `${inUnit(n, u)} ${UNITS[u]}`;
}

const rateText = (rate: number) => `${bytesText(rate)}/s`;

function etaText(s: number, tty: boolean): string {
  const t = Math.ceil(s);
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  if (tty) return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** What a phase without a byte count is doing. */
function phaseNote(e: LoadProgress): string {
  switch (e.phase) {
    case 'header': return 'reading the model header';
    case 'compile': return 'compiling GPU pipelines';
    case 'warmup': return 'first step';
    case 'ready': return `loaded ${bytesText(e.bytesTotal)} in ${(e.elapsedMs / 1000).toFixed(1)} s${e.rate ? ` (${rateText(e.rate)})` : ''}`;
    default: return '';
  }
}

/**
 * One line describing a progress event, without a newline. On a TTY: a bar sized to `width`
 * (redraw it in place); otherwise a plain line for logs (print one per event you keep; see
 * createProgressPrinter for a throttled printer).
 */
export function renderProgress(e: LoadProgress, opts: RenderOptions): string {
  const width = Math.max(20, opts.width ?? 80);
  const label = e.phase.padEnd(opts.tty ? 8 : 0);
  const streaming = e.phase === 'download' || e.phase === 'upload';
  if (!streaming) return clip(`${label}${opts.tty ? '' : ':'} ${phaseNote(e)}`, width);
  const frac = e.bytesTotal > 0 ? e.bytesDone / e.bytesTotal : 0;
  const pct = `${Math.floor(frac * 100)}%`;
  const facts = [bytesPair(e.bytesDone, e.bytesTotal), `${e.tensorsDone}/${e.tensorsTotal} tensors`];
  if (e.rate > 0) facts.push(rateText(e.rate));
  if (e.etaSeconds !== undefined) facts.push(`ETA ${etaText(e.etaSeconds, opts.tty)}`);
  if (!opts.tty) return clip(`${label} ${pct} ${facts.join(', ')}`, width);
  // Drop facts from the end until a bar of at least 10 cells fits.
  for (let n = facts.length; n >= 0; n--) {
    const tail = ` ${pct.padStart(4)}  ${facts.slice(0, n).join('  ')}`.trimEnd();
    const barCells = width - label.length - 3 - tail.length;
    if (barCells >= 10 || n === 0) return clip(`${label} ${bar(frac, Math.max(barCells, 10))}${tail}`, width);
  }
  return clip(label, width);
}

function bar(frac: number, cells: number): string {
  const full = Math.min(cells, Math.floor(frac * cells));
  const head = full < cells && frac > 0 ? '>' : '';
  return `[${'='.repeat(full)}${head}${' '.repeat(cells - full - head.length)}]`;
}

const clip = (s: string, width: number) => (s.length > width ? s.slice(0, width) : s);

/**
 * A progress sink for a CLI: on a TTY redraws one line ("\r" + line + clear to end of line, a
 * newline at "ready"); otherwise prints a line per phase change and per 10% of bytes.
 */
export function createProgressPrinter(write: (s: string) => void, opts: RenderOptions): (e: LoadProgress) => void {
  let lastPhase: LoadPhase | undefined, lastDecile = -1;
  return (e) => {
    if (opts.tty) {
      write(`\r${renderProgress(e, opts)}\x1b[K${e.phase === 'ready' ? '\n' : ''}`);
      return;
    }
    const decile = e.bytesTotal ? Math.floor((10 * e.bytesDone) / e.bytesTotal) : 0;
    if (e.phase === lastPhase && decile === lastDecile) return;
    lastPhase = e.phase;
    lastDecile = decile;
    write(renderProgress(e, opts) + '\n');
  };
}
