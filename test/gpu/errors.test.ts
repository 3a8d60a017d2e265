// WebGPU validation errors and device loss surface as typed FridayErrors; they are never swallowed.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FridayError } from '../../src/api/errors.js';
import { GpuContext } from '../../src/gpu/context.js';
import { LoadedModel } from '../../src/engine/model.js';
import { generateSolo } from '../../src/engine/solo.js';
import { FileSource } from '../../src/model/source/file.js';
import { acquireDevice } from '../../src/platform/gpu.js';
import { until } from '../helpers/until.js';

const STORIES = resolve(process.cwd(), '../shared/fixtures/models/stories260K.gguf');

describe('GPU errors become FridayErrors', () => {
  it('a validation error is captured and rethrown as GPU_VALIDATION', async () => {
    const gpu = new GpuContext(await acquireDevice());
    try {
      // MAP_READ may only be combined with COPY_DST: this is a validation error.
      gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      await gpu.device.queue.onSubmittedWorkDone();
      await until(() => gpu.lostOrFailed !== undefined, 10_000, 'the validation error'); // errors arrive as events
      expect(() => gpu.check()).toThrow(FridayError);
      try {
        gpu.check();
      } catch (e) {
        expect((e as FridayError).code).toBe('GPU_VALIDATION');
        expect((e as FridayError).message).toMatch(/validation/i);
      }
    } finally {
      gpu.destroy();
    }
  });

  it.skipIf(!existsSync(STORIES))('device loss mid-generation rejects with DEVICE_LOST and frees buffers', async () => {
    const src = await FileSource.open(STORIES);
    const m = await LoadedModel.load(src, { contextLength: 64, maxBatchTokens: 16 });
    await src.close();
    let lost: FridayError | undefined;
    m.gpu.onLost((e) => { lost = e; });
    let steps = 0;
    const run = generateSolo(m, [1], { maxTokens: 50 }, () => {
      if (++steps === 3) m.gpu.device.destroy();
    });
    const err = await run.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(FridayError);
    expect((err as FridayError).code).toBe('DEVICE_LOST');
    expect(lost?.code).toBe('DEVICE_LOST');
    m.destroy();
    expect(m.gpu.liveBuffers).toBe(0);
  });
});
