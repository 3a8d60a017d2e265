// The progress formatter the CLI uses (no GPU needed): a bar that fits the terminal, plain lines
// for logs, and a printer that throttles plain output to phase changes and tenths.
import { describe, expect, it } from 'vitest';
import { createProgressPrinter, ProgressTracker, renderProgress, type LoadProgress } from '../../src/engine/load-progress.js';

const MiB = 2 ** 20;
const ev = (over: Partial<LoadProgress>): LoadProgress => ({
  phase: 'download', bytesDone: 123.4 * MiB, bytesTotal: 274 * MiB, tensorsDone: 40, tensorsTotal: 91,
  rate: 12.3 * MiB, etaSeconds: 12.3, elapsedMs: 11_000, source: 'network', ...over,
});

describe('renderProgress', () => {
  it('draws a bar that fits the width on a TTY, dropping details when narrow', () => {
    const wide = renderProgress(ev({}), { tty: true, width: 100 });
    expect(wide).toBe('download [=============>                ]  45%  123.4/274.0 MiB  40/91 tensors  12.3 MiB/s  ETA 0:13');
    expect(wide).toHaveLength(100);
    const narrow = renderProgress(ev({}), { tty: true, width: 40 });
    expect(narrow.length).toBeLessThanOrEqual(40);
    expect(narrow).toMatch(/^download \[=+>? *\]  45%/);
    expect(renderProgress(ev({ bytesDone: 274 * MiB, etaSeconds: undefined }), { tty: true, width: 60 })).toMatch(/\[=+\] 100%/);
  });

  it('writes plain lines for logs', () => {
    expect(renderProgress(ev({}), { tty: false })).toBe('download 45% 123.4/274.0 MiB, 40/91 tensors, 12.3 MiB/s, ETA 13s');
    expect(renderProgress(ev({ etaSeconds: 3725 }), { tty: false })).toMatch(/ETA 1h02m$/);
    expect(renderProgress(ev({ phase: 'header' }), { tty: false })).toBe('header: reading the model header');
    expect(renderProgress(ev({ phase: 'compile' }), { tty: false })).toBe('compile: compiling GPU pipelines');
    expect(renderProgress(ev({ phase: 'ready', bytesDone: 274 * MiB, rate: 25 * MiB }), { tty: false })).toBe('ready: loaded 274.0 MiB in 11.0 s (25.0 MiB/s)');
    expect(renderProgress(ev({ phase: 'upload', bytesTotal: 3 * 2 ** 30, bytesDone: 2 ** 30 }), { tty: false })).toMatch(/^upload 33% 1\.0\/3\.0 GiB/);
  });

  it('prints a line per phase and per tenth when not a TTY; redraws in place on a TTY', () => {
    const out: string[] = [];
    const print = createProgressPrinter((s) => out.push(s), { tty: false });
    print(ev({ phase: 'header', bytesDone: 0 }));
    for (let i = 0; i <= 100; i++) print(ev({ bytesDone: (i / 100) * 274 * MiB }));
    print(ev({ phase: 'ready', bytesDone: 274 * MiB }));
    expect(out).toHaveLength(1 + 11 + 1);
    const tty: string[] = [];
    const draw = createProgressPrinter((s) => tty.push(s), { tty: true, width: 80 });
    draw(ev({}));
    draw(ev({ phase: 'ready' }));
    expect(tty[0]).toMatch(/^\rdownload .*\x1b\[K$/);
    expect(tty[1]).toMatch(/\n$/);
  });

  it('the tracker throttles byte events but never phase changes or the last bytes', () => {
    const got: LoadProgress[] = [];
    const t = new ProgressTracker((p) => got.push(p), 'local', 1000);
    t.phase('header');
    t.phase('upload', { bytesTotal: 100, tensorsTotal: 2 });
    for (let b = 1; b <= 100; b++) t.bytes({ bytesDone: b, bytesTotal: 100, tensorsDone: b === 100 ? 2 : 0, tensorsTotal: 2 });
    t.phase('ready');
    expect(got.map((g) => g.phase)).toEqual(['header', 'upload', 'upload', 'ready']);
    expect(got[2]).toMatchObject({ bytesDone: 100, tensorsDone: 2, etaSeconds: undefined });
  });
});
