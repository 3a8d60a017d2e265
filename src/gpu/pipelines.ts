// Compiles each distinct (shader, variant, override constants) once, at load, asynchronously.
import { FridayError } from '../api/errors.js';
import type { GpuContext } from './context.js';
import { loadShaderSource, preprocess } from './shaders.js';

export interface PipelineSpec {
  shader: string; // file name in shaders/ without .wgsl
  defines?: string[];
  constants?: Record<string, number>;
  entryPoint?: string;
}

/** A readable key: `matmul[Q8_0]{K=128,N=384,TT=8}` (ratchet style), used for caching and dumps. */
export function pipelineKey(spec: PipelineSpec): string {
  const d = spec.defines?.length ? `[${[...spec.defines].sort().join(',')}]` : '';
  const c = spec.constants ? `{${Object.entries(spec.constants).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',')}}` : '';
  return `${spec.shader}${d}${c}${spec.entryPoint && spec.entryPoint !== 'main' ? `.${spec.entryPoint}` : ''}`;
}

export class PipelineCache {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  constructor(private readonly gpu: GpuContext) {}

  get(spec: PipelineSpec): Promise<GPUComputePipeline> {
    const key = pipelineKey(spec);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.compile(spec, key);
      this.pipelines.set(key, p);
    }
    return p;
  }

  get size(): number {
    return this.pipelines.size;
  }

  private async compile(spec: PipelineSpec, key: string): Promise<GPUComputePipeline> {
    const code = preprocess(await loadShaderSource(spec.shader), new Set(spec.defines ?? []));
    const device = this.gpu.device;
    const module = device.createShaderModule({ label: key, code });
    try {
      const pipeline = await device.createComputePipelineAsync({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint: spec.entryPoint ?? 'main', constants: spec.constants },
      });
      this.gpu.counters.pipelinesCreated++;
      return pipeline;
    } catch (e) {
      const info = await module.getCompilationInfo();
      const msgs = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
      throw new FridayError('GPU_VALIDATION', `Failed to compile pipeline ${key}: ${msgs.join('; ') || (e as Error).message}`, { pipeline: key, messages: msgs });
    }
  }
}
