// Ops are data: a forward step is a list of dispatches, encoded into one command buffer, so it
// can be counted, profiled and dumped.
import type { GpuContext } from './context.js';

export interface Op {
  /** e.g. "blk.3.attn_q matmul[Q8_0]{K=128,N=128}" */
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  dispatch: readonly [number, number, number];
}

/** Records all ops into one compute pass; dispatches in a pass see each other's writes in order. */
export function encodeOps(gpu: GpuContext, encoder: GPUCommandEncoder, ops: readonly Op[]): void {
  const pass = encoder.beginComputePass();
  for (const op of ops) {
    if (op.dispatch[0] === 0 || op.dispatch[1] === 0 || op.dispatch[2] === 0) continue;
    pass.setPipeline(op.pipeline);
    pass.setBindGroup(0, op.bindGroup);
    pass.dispatchWorkgroups(op.dispatch[0], op.dispatch[1], op.dispatch[2]);
    gpu.counters.dispatches++;
  }
  pass.end();
}

/** Encodes and submits ops as one command buffer. */
export function runOps(gpu: GpuContext, ops: readonly Op[]): void {
  const enc = gpu.device.createCommandEncoder();
  encodeOps(gpu, enc, ops);
  gpu.submit(enc.finish());
}

/** Splits a large 1-D workgroup count over x and y (maxComputeWorkgroupsPerDimension is 65535). */
export function grid1d(workgroups: number): [number, number, number] {
  if (workgroups <= 65535) return [workgroups, 1, 1];
  const y = Math.ceil(workgroups / 65535);
  return [Math.ceil(workgroups / y), y, 1];
}

export function dumpOps(ops: readonly Op[]): string {
  return ops.map((o, i) => `${String(i).padStart(4)} ${o.label} dispatch(${o.dispatch.join(',')})`).join('\n');
}
