// One WebGPU device plus what we need to operate it honestly: captured errors, a live-buffer
// registry (leak tests count it) and per-step counters (benchmarks report them).
import { FridayError } from '../api/errors.js';
import type { AcquiredDevice, AdapterSummary } from '../platform/gpu.js';

export interface GpuCounters {
  submits: number;
  dispatches: number;
  readbackBytes: number;
  pipelinesCreated: number;
  bindGroupsCreated: number;
  buffersCreated: number;
}

export class GpuContext {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  readonly info: AdapterSummary;
  readonly features: AcquiredDevice['features'];
  readonly counters: GpuCounters = { submits: 0, dispatches: 0, readbackBytes: 0, pipelinesCreated: 0, bindGroupsCreated: 0, buffersCreated: 0 };
  private readonly live = new Set<GPUBuffer>();
  private error: FridayError | undefined;
  private lostListeners: ((e: FridayError) => void)[] = [];
  destroyed = false;

  constructor(acq: AcquiredDevice) {
    this.device = acq.device;
    this.adapter = acq.adapter;
    this.info = acq.info;
    this.features = acq.features;
    this.device.addEventListener('uncapturederror', (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error.message;
      const oom = (ev as GPUUncapturedErrorEvent).error instanceof GPUOutOfMemoryError;
      this.error ??= new FridayError(oom ? 'GPU_OUT_OF_MEMORY' : 'GPU_VALIDATION', `WebGPU ${oom ? 'out of memory' : 'validation error'}: ${msg}`, { gpuMessage: msg });
    });
    void this.device.lost.then((info) => {
      const e = new FridayError('DEVICE_LOST', `The GPU device was lost (${info.reason}): ${info.message || 'no details'}. Reload the model to continue.`, { reason: info.reason });
      this.error ??= e;
      for (const l of this.lostListeners) l(e);
    });
  }

  /** Throws the first GPU error seen since the device was created. Call after each step. */
  check(): void {
    if (this.error) throw this.error;
  }

  get lostOrFailed(): FridayError | undefined {
    return this.error;
  }

  onLost(listener: (e: FridayError) => void): void {
    this.lostListeners.push(listener);
  }

  createBuffer(label: string, size: number, usage: GPUBufferUsageFlags, mappedAtCreation = false): GPUBuffer {
    // WebGPU wants sizes in multiples of 4 for copies; storage bindings of size 0 are invalid.
    const padded = Math.max(4, Math.ceil(size / 4) * 4);
    const buf = this.device.createBuffer({ label, size: padded, usage, mappedAtCreation });
    this.live.add(buf);
    this.counters.buffersCreated++;
    return buf;
  }

  /** A storage buffer initialised from `data` (weights, tables). */
  createBufferFrom(label: string, data: ArrayBufferView, usage: GPUBufferUsageFlags = GPUBufferUsage.STORAGE): GPUBuffer {
    const buf = this.createBuffer(label, data.byteLength, usage | GPUBufferUsage.COPY_DST);
    this.write(buf, 0, data);
    return buf;
  }

  write(buf: GPUBuffer, offset: number, data: ArrayBufferView): void {
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const whole = bytes.byteLength & ~3;
    if (whole > 0) this.device.queue.writeBuffer(buf, offset, bytes, 0, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(buf, offset + whole, tail);
    }
  }

  destroyBuffer(buf: GPUBuffer | undefined): void {
    if (!buf || !this.live.delete(buf)) return;
    buf.destroy();
  }

  get liveBuffers(): number {
    return this.live.size;
  }

  get liveBufferBytes(): number {
    let n = 0;
    for (const b of this.live) n += b.size;
    return n;
  }

  createBindGroup(label: string, pipeline: GPUComputePipeline, buffers: (GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number })[]): GPUBindGroup {
    this.counters.bindGroupsCreated++;
    return this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((b, i) => ({ binding: i, resource: 'buffer' in b ? b : { buffer: b } })),
    });
  }

  submit(cmd: GPUCommandBuffer): void {
    this.device.queue.submit([cmd]);
    this.counters.submits++;
  }

  /** Reads back bytes with a fresh staging buffer (tests and one-off reads; the engine keeps its own). */
  async read(src: GPUBuffer, offset = 0, size = src.size): Promise<ArrayBuffer> {
    const staging = this.createBuffer('readback', size, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ);
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, offset, staging, 0, Math.ceil(size / 4) * 4);
    this.submit(enc.finish());
    try {
      await staging.mapAsync(GPUMapMode.READ);
      this.counters.readbackBytes += size;
      return staging.getMappedRange(0, Math.ceil(size / 4) * 4).slice(0, size);
    } catch (e) {
      this.check();
      throw new FridayError('DEVICE_LOST', `GPU readback failed: ${(e as Error).message}`, undefined, { cause: e });
    } finally {
      this.destroyBuffer(staging);
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.live) b.destroy();
    this.live.clear();
    this.device.destroy();
  }
}
