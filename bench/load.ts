// Model load speed and memory (a benchmark, not a test): for synthetic Q8_0 models of 64 MiB,
// 256 MiB and 1 GiB generated into a temp dir, the time to the first token, against the time to
// simply read the same bytes from the same source in the same run (goal: load <= 1.3x read), and
// the peak JS heap and ArrayBuffer memory during the load.
//   file, cold: a fresh device, so pipeline compilation is included (on SwiftShader it dominates);
//   file, warm: a device whose pipelines are already compiled: streaming, allocation and one step;
//   url, warm: the same file from an HTTP server on 127.0.0.1 in another process, unthrottled and
//   throttled (FRIDAY_BENCH_LOAD_MIBPS, default 100 MiB/s asked; the server's timer-paced 64 KiB
//   writes deliver less, so the measured read rate is what is reported).
// FRIDAY_BENCH_LOAD_MIB=64,256 limits the sizes.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GpuContext } from '../src/gpu/context.js';
import type { LoadPhase, LoadProgress } from '../src/engine/load-progress.js';
import { LoadedModel, type LoadOptions } from '../src/engine/model.js';
import { generateSolo } from '../src/engine/solo.js';
import { FileSource } from '../src/model/source/file.js';
import type { ByteSource } from '../src/model/source/types.js';
import { streamBytes } from '../src/model/source/stream.js';
import { UrlSource } from '../src/model/source/url.js';
import { acquireDevice } from '../src/platform/gpu.js';
import { forkServer } from './fork-server.js';
import { layersFor, writeSyntheticModel, type SynthSpec } from '../scripts/lib/synth.js';

const MiB = 2 ** 20;
const SIZES_MIB = (process.env.FRIDAY_BENCH_LOAD_MIB ?? '64,256,1024').split(',').map(Number);
const THROTTLE_MIBPS = Number(process.env.FRIDAY_BENCH_LOAD_MIBPS ?? 100);
// TinyLlama-like proportions at a quarter of the width; every size shares these shapes (and so
// its pipelines), only the layer count changes.
const SHAPE: Omit<SynthSpec, 'layers'> = { dim: 1024, ffnDim: 2816, heads: 8, kvHeads: 4, vocab: 8192, dtype: 'Q8_0', seed: 1, contextLength: 2048 };
// No warm-up step: on SwiftShader one step over a big model takes seconds, and the first token is
// measured anyway (load + one step).
const LOAD: LoadOptions = { contextLength: 256, maxBatchTokens: 32, warmup: false };

interface Peak { heapMiB: number; arrayBuffersMiB: number }

/** Peak growth of heap and ArrayBuffer memory while `fn` runs, sampled every 5 ms. */
async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; peak: Peak }> {
  const m0 = process.memoryUsage();
  const peak = { heapMiB: 0, arrayBuffersMiB: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.heapMiB = Math.max(peak.heapMiB, (m.heapUsed - m0.heapUsed) / MiB);
    peak.arrayBuffersMiB = Math.max(peak.arrayBuffersMiB, (m.arrayBuffers - m0.arrayBuffers) / MiB);
  };
  const timer = setInterval(sample, 5);
  const t0 = performance.now();
  try {
    const value = await fn();
    return { value, ms: performance.now() - t0, peak };
  } finally {
    clearInterval(timer);
    sample();
  }
}

type Open = () => Promise<ByteSource>;
const fileAt = (path: string): Open => () => FileSource.open(path);
const urlAt = (url: string): Open => () => UrlSource.open(url);

/** Reads every byte with the source's own chunking and read-ahead, doing nothing else. */
async function readOnly(open: Open): Promise<number> {
  const src = await open();
  let sum = 0;
  try {
    for await (const c of streamBytes(src, 0, src.size)) sum += c[0]!; // touch it, as the loader reads
  } finally {
    await src.close();
  }
  return sum;
}

interface FirstToken {
  loadMs: number;
  firstTokenMs: number;
  /** Since the load began: header read, weights streamed, pipelines compiled. */
  phases: { headerMs: number; streamMs: number; compileWaitMs: number };
  peak: Peak;
}

/** Load, then generate one token from BOS; returns the timings. */
async function firstToken(open: Open, opts: LoadOptions): Promise<FirstToken> {
  const src = await open();
  const at: Partial<Record<LoadPhase, number>> = {};
  try {
    const t0 = performance.now();
    let loadMs = 0;
    const r = await measure(async () => {
      const m = await LoadedModel.load(src, { ...LOAD, ...opts, onProgress: (p: LoadProgress) => { at[p.phase] ??= p.elapsedMs; } });
      loadMs = performance.now() - t0;
      try {
        await generateSolo(m, [m.tokenizer.bosId!], { maxTokens: 1 });
      } finally {
        m.destroy();
      }
    });
    const streamStart = at.upload ?? at.download ?? 0, streamEnd = at.compile ?? loadMs;
    const phases = { headerMs: round(streamStart), streamMs: round(streamEnd - streamStart), compileWaitMs: round((at.ready ?? loadMs) - streamEnd) };
    return { loadMs: round(loadMs), firstTokenMs: round(r.ms), phases, peak: roundPeak(r.peak) };
  } finally {
    await src.close();
  }
}

const round = (x: number) => Math.round(x * 10) / 10;
const roundPeak = (p: Peak): Peak => ({ heapMiB: round(p.heapMiB), arrayBuffersMiB: round(p.arrayBuffersMiB) });

/** The model server in its own process; resolves with the model's URL and a stop function. */
async function serveInChild(path: string, bytesPerSecond: number): Promise<{ url: string; stop: () => void }> {
  const { url, child } = await forkServer('model-server-proc.ts', [path, String(bytesPerSecond)]);
  return { url, stop: () => child.kill() };
}

/** Plain read, then a warm load to the first token, from the same source (after one unmeasured read, unless `once`). */
async function warmFrom(open: Open, bytes: number, gpu: GpuContext, once = false) {
  if (!once) await readOnly(open); // page cache, server JIT: both runs below see the same warm state
  const read = await measure(() => readOnly(open));
  const warm = await firstToken(open, { gpu });
  return {
    readMs: round(read.ms), readMiBps: round(bytes / MiB / (read.ms / 1000)), ...warm,
    loadToRead: round(warm.loadMs / read.ms), streamToRead: round(warm.phases.streamMs / read.ms),
    streamMiBps: round(bytes / MiB / (warm.phases.streamMs / 1000)),
  };
}

export async function benchLoad(): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'friday-bench-load-'));
  const warmGpu = new GpuContext(await acquireDevice());
  const rows = [];
  try {
    for (const mib of SIZES_MIB) {
      const path = join(dir, `synth-${mib}.gguf`);
      const layers = layersFor(mib * MiB, SHAPE);
      const gen = await measure(() => writeSyntheticModel(path, { ...SHAPE, layers }));
      const bytes = statSync(path).size;
      const read = await measure(() => readOnly(fileAt(path)));
      const cold = await firstToken(fileAt(path), {});
      if (rows.length === 0) await firstToken(fileAt(path), { gpu: warmGpu }); // compiles warmGpu's pipelines; every size shares them
      const file = await warmFrom(fileAt(path), bytes, warmGpu);
      const fast = await serveInChild(path, 0);
      const url = await warmFrom(urlAt(fast.url), bytes, warmGpu).finally(fast.stop);
      const slow = await serveInChild(path, THROTTLE_MIBPS * MiB);
      const throttled = await warmFrom(urlAt(slow.url), bytes, warmGpu, true).finally(slow.stop);
      const row = {
        targetMiB: mib, fileMiB: round(bytes / MiB), layers, generateMs: round(gen.ms),
        readMs: round(read.ms), readMiBps: round(bytes / MiB / (read.ms / 1000)),
        cold: { ...cold, loadToRead: round(cold.loadMs / read.ms) },
        warm: { file, url, url_throttled: throttled },
      };
      console.error(JSON.stringify(row));
      rows.push(row);
      rmSync(path, { force: true });
    }
  } finally {
    warmGpu.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  return { shape: SHAPE, load: LOAD, throttleAskedMiBps: THROTTLE_MIBPS, goal: 'load time <= 1.3x the plain read time of the same bytes from the same source (warm: pipelines already compiled)', rows };
}
