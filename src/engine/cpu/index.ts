// The CPU path: a compact f32 Llama forward pass for machines without any WebGPU adapter.
export { CpuLlama, type CpuLoadOptions } from './llama.js';
export { generateCpu } from './generate.js';
export { dequantize, f16ToF32 } from './dequant.js';
