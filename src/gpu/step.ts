// The per-step uniform every kernel binds at binding 0: the only sizes that change between steps.
// Model sizes are WGSL override constants, fixed when pipelines compile at load.
import type { GpuContext } from './context.js';

/** WGSL: struct Step { n_tokens: u32, n_out: u32, _pad0: u32, _pad1: u32 } */
export const STEP_UNIFORM_BYTES = 16;

export class StepUniform {
  readonly buffer: GPUBuffer;
  private readonly data = new Uint32Array(4);
  constructor(private readonly gpu: GpuContext, label = 'step') {
    this.buffer = gpu.createBuffer(label, STEP_UNIFORM_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  }
  /** nTokens: rows in this step's batch; nOut: rows that produce logits. */
  set(nTokens: number, nOut: number): void {
    this.data[0] = nTokens;
    this.data[1] = nOut;
    this.gpu.write(this.buffer, 0, this.data);
  }
  destroy(): void {
    this.gpu.destroyBuffer(this.buffer);
  }
}

/** Which step count a row-wise kernel iterates over: the batch's tokens or its logit rows. */
export type RowSource = 'tokens' | 'out';
export const rowsFromOut = (r: RowSource): number => (r === 'out' ? 1 : 0);
