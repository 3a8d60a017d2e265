// Shared set-up for GPU kernel tests: one real device per test file (Dawn in Node, WebGPU in Chromium).
import { acquireDevice } from '../../src/platform/gpu.js';
import { GpuContext } from '../../src/gpu/context.js';
import { PipelineCache } from '../../src/gpu/pipelines.js';
import { StepUniform } from '../../src/gpu/step.js';
import { runOps, type Op } from '../../src/gpu/ops.js';

export interface TestGpu {
  gpu: GpuContext;
  cache: PipelineCache;
  step: StepUniform;
}

export async function testGpu(): Promise<TestGpu> {
  const gpu = new GpuContext(await acquireDevice());
  return { gpu, cache: new PipelineCache(gpu), step: new StepUniform(gpu) };
}

export function storage(t: TestGpu, label: string, data: ArrayBufferView | number): GPUBuffer {
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  if (typeof data === 'number') return t.gpu.createBuffer(label, data, usage);
  return t.gpu.createBufferFrom(label, data, usage);
}

export async function run(t: TestGpu, ops: Op[]): Promise<void> {
  runOps(t.gpu, ops);
  await t.gpu.device.queue.onSubmittedWorkDone();
  t.gpu.check();
}

export async function readF32(t: TestGpu, buf: GPUBuffer, n: number): Promise<Float32Array> {
  return new Float32Array(await t.gpu.read(buf, 0, n * 4));
}

export async function readU32(t: TestGpu, buf: GPUBuffer, n: number): Promise<Uint32Array> {
  return new Uint32Array(await t.gpu.read(buf, 0, n * 4));
}

export { rng } from '../reference/rng.js';

export function randn(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12), v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** Throws naming the first index where |a-e| > atol + rtol*|e|, with its [row, col] for 2-D data. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: { atol: number; rtol?: number; label: string; cols?: number }): void {
  if (actual.length !== expected.length) throw new Error(`${opts.label}: length ${actual.length} != expected ${expected.length}`);
  const rtol = opts.rtol ?? 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= opts.atol + rtol * Math.abs(e))) {
      const where = opts.cols ? ` [row ${Math.floor(i / opts.cols)}, col ${i % opts.cols}]` : '';
      throw new Error(`${opts.label}: first mismatch at index ${i}${where}: got ${a}, expected ${e} (atol ${opts.atol}, rtol ${rtol})`);
    }
  }
}
