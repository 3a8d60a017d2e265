// JS memory stays bounded while a model much larger than the bound streams to the GPU: a
// synthetic model of 260 MiB, loaded from a file and over HTTP, with ArrayBuffer memory
// (process.memoryUsage().arrayBuffers, sampled at every chunk and every 2 ms) under 64 MiB plus
// one chunk above what it was before the load. GPU work is kept tiny: no warm-up step.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context.js';
import { LoadedModel } from '../../src/engine/model.js';
import { FileSource } from '../../src/model/source/file.js';
import { openSource } from '../../src/model/source/open.js';
import type { ByteSource } from '../../src/model/source/types.js';
import { acquireDevice } from '../../src/platform/gpu.js';
import { serveModels } from '../../scripts/lib/model-server.js';
import { layersFor, writeSyntheticModel, type SynthSpec } from '../../scripts/lib/synth.js';

const MiB = 2 ** 20;
const CHUNK = 4 * MiB;
const BOUND = 64 * MiB + CHUNK;

/** Peak growth of ArrayBuffer and heap memory while `run` runs. */
async function peakDuring(run: (sample: () => void) => Promise<void>): Promise<{ arrayBuffers: number; heap: number }> {
  const m0 = process.memoryUsage();
  const peak = { arrayBuffers: 0, heap: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers - m0.arrayBuffers);
    peak.heap = Math.max(peak.heap, m.heapUsed - m0.heapUsed);
  };
  const timer = setInterval(sample, 2);
  try {
    await run(sample);
  } finally {
    clearInterval(timer);
    sample();
  }
  return peak;
}

describe('memory during a load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'friday-mem-'));
  const path = join(dir, 'big.gguf');
  let gpu: GpuContext;
  let fileBytes = 0;

  beforeAll(async () => {
    const spec: Omit<SynthSpec, 'layers'> = { dim: 1024, dtype: 'F32', seed: 1, vocab: 512, heads: 16, contextLength: 256 };
    await writeSyntheticModel(path, { ...spec, layers: layersFor(260 * MiB, spec) });
    fileBytes = statSync(path).size;
    gpu = new GpuContext(await acquireDevice());
  });
  afterAll(() => {
    gpu?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  async function load(open: () => Promise<ByteSource>): Promise<{ arrayBuffers: number; heap: number }> {
    const src = await open();
    try {
      return await peakDuring(async (sample) => {
        const m = await LoadedModel.load(src, { gpu, contextLength: 64, maxBatchTokens: 8, warmup: false, chunkBytes: CHUNK, progressIntervalMs: 0, onProgress: sample });
        expect(m.weights.totalBytes).toBeGreaterThan(256 * MiB);
        m.destroy();
      });
    } finally {
      await src.close();
    }
  }

  it('from a file: ArrayBuffer memory stays under 64 MiB + one chunk', async () => {
    expect(fileBytes).toBeGreaterThanOrEqual(256 * MiB);
    const peak = await load(() => FileSource.open(path));
    console.info(`file load of ${(fileBytes / MiB).toFixed(0)} MiB: peak +${(peak.arrayBuffers / MiB).toFixed(1)} MiB ArrayBuffers, +${(peak.heap / MiB).toFixed(1)} MiB heap`);
    expect(peak.arrayBuffers).toBeLessThan(BOUND);
    expect(peak.heap).toBeLessThan(BOUND);
  });

  it('over HTTP (streaming fetch): the same bound', async () => {
    const server = await serveModels({ 'big.gguf': path });
    try {
      const peak = await load(() => openSource(server.url('big.gguf'), { cache: false }));
      console.info(`http load of ${(fileBytes / MiB).toFixed(0)} MiB: peak +${(peak.arrayBuffers / MiB).toFixed(1)} MiB ArrayBuffers, +${(peak.heap / MiB).toFixed(1)} MiB heap`);
      expect(peak.arrayBuffers).toBeLessThan(BOUND);
      expect(peak.heap).toBeLessThan(BOUND);
      expect(server.bytesSent()).toBeLessThanOrEqual(fileBytes); // header once, weights once
    } finally {
      await server.close();
    }
  });
});
