// `npm start` / `friday start`: the first minute with Friday. Streams a short story from the small
// model shipped in models/ (no download, no flags needed) and reports the speed. Runs on WebGPU
// when there is any adapter (a software one included); with no adapter at all it says so in one
// line and runs the same model on the CPU path (src/engine/cpu).
import { fileURLToPath } from 'node:url';
import { FridayError } from '../api/errors.js';
import { CpuLlama, generateCpu } from '../engine/cpu/index.js';
import { LoadedModel } from '../engine/model.js';
import { generateSolo, type SoloParams, type SoloResult } from '../engine/solo.js';
import { FileSource } from '../model/source/file.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { inRange, isInt, optNumber, parseFlags } from './args.js';

/** models/friday-default.gguf, from src/cli (tsx) or dist/cli (compiled) alike. */
export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../models/friday-default.gguf', import.meta.url));
export const DEFAULT_PROMPT = 'Once upon a time';

interface Runner {
  tokenizer: Tokenizer;
  /** "WebGPU (google swiftshader)" or "CPU". */
  label: string;
  generate(promptIds: number[], p: SoloParams, onToken: (id: number) => void): Promise<SoloResult>;
  destroy(): void;
}

export async function startCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    model: { type: 'string' }, prompt: { type: 'string' }, 'max-tokens': { type: 'string' }, temperature: { type: 'string' },
    seed: { type: 'string' }, cpu: { type: 'boolean' },
  });
  const modelPath = typeof flags.model === 'string' ? flags.model : DEFAULT_MODEL_PATH;
  const prompt = typeof flags.prompt === 'string' ? flags.prompt : DEFAULT_PROMPT;
  const seed = optNumber(flags, 'seed', isInt(0, 2 ** 32 - 1), 'an integer in [0, 2^32)') ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
  const params: SoloParams = {
    maxTokens: optNumber(flags, 'max-tokens', isInt(1), 'a positive integer') ?? 240,
    temperature: optNumber(flags, 'temperature', inRange(0, 100), 'a number >= 0') ?? 0.8,
    seed,
  };

  const source = await FileSource.open(modelPath);
  let runner: Runner | undefined;
  try {
    runner = flags.cpu === true ? await cpuRunner(source) : await gpuRunner(source).catch(async (e: unknown) => {
      if (!(e instanceof FridayError && (e.code === 'NO_WEBGPU' || e.code === 'DEVICE_LOST'))) throw e;
      const why = e.code === 'NO_WEBGPU' ? 'no WebGPU adapter on this machine' : 'the WebGPU device was lost';
      process.stderr.write(`friday: ${why}; running the model on the CPU instead (slower, same text).\n`);
      return cpuRunner(source);
    });
    const tok = runner.tokenizer;
    const promptIds = tok.encode(prompt, { addSpecial: true });
    // The prompt is printed as typed; the continuation keeps its SentencePiece spaces.
    const decoder = tok.createDecoder({ atStart: promptIds.length === (tok.addBos ? 1 : 0) });
    process.stdout.write(prompt);
    const res = await runner.generate(promptIds, params, (id) => process.stdout.write(decoder.push(id)));
    process.stdout.write(decoder.flush() + '\n\n');
    const n = res.tokens.length;
    const rate = n > 1 ? ((n - 1) * 1000) / res.decodeMs : 0;
    process.stdout.write(`${n} tokens at ${rate.toFixed(1)} tokens/s on ${runner.label} (temperature ${params.temperature}, seed ${seed}${res.finishReason === 'stop' ? '' : ', stopped at the token limit'})\n`);
    return 0;
  } finally {
    runner?.destroy();
    await source.close();
  }
}

async function gpuRunner(source: FileSource): Promise<Runner> {
  const model = await LoadedModel.load(source, { maxBatchTokens: 64 });
  if (model.deviceNote) process.stderr.write(`friday: ${model.deviceNote}\n`);
  const info = model.gpu.info;
  return {
    tokenizer: model.tokenizer,
    label: `WebGPU (${[info.vendor, info.architecture].filter((s) => s && s !== 'unknown').join(' ') || 'unknown adapter'}${info.is_software ? ', software' : ''})`,
    generate: (ids, p, onToken) => generateSolo(model, ids, p, onToken),
    destroy: () => model.destroy(),
  };
}

async function cpuRunner(source: FileSource): Promise<Runner> {
  const model = await CpuLlama.load(source);
  return {
    tokenizer: model.tokenizer,
    label: 'the CPU',
    generate: (ids, p, onToken) => generateCpu(model, ids, p, onToken),
    destroy: () => {},
  };
}
