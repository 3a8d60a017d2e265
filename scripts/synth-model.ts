// Writes a synthetic Llama GGUF (random weights from a seed, a small built-in vocabulary) of any
// shape and weight type, streaming to disk so multi-GB models need no RAM:
//
//   node --import tsx scripts/synth-model.ts --out /tmp/m.gguf --dim 256 --layers 4 --dtype Q8_0 --seed 1
//     [--ffn N] [--heads N] [--kv-heads N] [--vocab N] [--ctx N] [--tied] [--split N]
//     [--target-mib N]   (instead of --layers: as many layers as it takes to reach N MiB of weights)
//
// llama.cpp check (node-llama-cpp 3.x, prebuilt CPU binary, `build: "never"`, via
// scripts/goldens/llamacpp-generate.mjs in a child process):
//   node --import tsx scripts/synth-model.ts --out /tmp/synth-q8.gguf --dim 128 --layers 2 --dtype Q8_0 --seed 7 --heads 4 --kv-heads 2
//   node scripts/goldens/llamacpp-generate.mjs --llamacpp-dir /tmp/llamacpp --model /tmp/synth-q8.gguf --prompt "Once upon a time" --max-new-tokens 16
// Result (node-llama-cpp 3.22.1, prebuilt CPU backend): loads and generates. Prompt tokens
//   [1,259,289,500,260,345,278,442,335,334,476,260]; 16 greedy tokens
//   [402,402,354,144,348,456,9,205,243,223,365,380,207,315,289,279] (random weights: not text).
//   The same model written with --split 3 loads from its first part and gives the same tokens, and
//   Friday (LoadedModel + generateSolo, Dawn/SwiftShader) gives exactly these tokens for both.
//   F32, F16 and Q4_0 variants (same shape) also load and generate in llama.cpp.
import { parseArgs } from 'node:util';
import { layersFor, writeSyntheticModel, type SynthDtype, type SynthSpec } from './lib/synth.js';

const DTYPES: SynthDtype[] = ['F32', 'F16', 'Q8_0', 'Q4_0'];

function int(v: string | undefined, name: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const { values: f } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' }, dim: { type: 'string' }, layers: { type: 'string' }, dtype: { type: 'string' }, seed: { type: 'string' },
      ffn: { type: 'string' }, heads: { type: 'string' }, 'kv-heads': { type: 'string' }, vocab: { type: 'string' }, ctx: { type: 'string' },
      tied: { type: 'boolean' }, split: { type: 'string' }, 'target-mib': { type: 'string' },
    },
  });
  if (!f.out) throw new Error('pass --out PATH.gguf');
  const dtype = (f.dtype ?? 'Q8_0').toUpperCase() as SynthDtype;
  if (!DTYPES.includes(dtype)) throw new Error(`--dtype must be one of ${DTYPES.join(', ')}`);
  const base: Omit<SynthSpec, 'layers'> = {
    dim: int(f.dim, 'dim') ?? 256, dtype, seed: int(f.seed, 'seed', 0) ?? 0, ffnDim: int(f.ffn, 'ffn'), heads: int(f.heads, 'heads'),
    kvHeads: int(f['kv-heads'], 'kv-heads'), vocab: int(f.vocab, 'vocab'), contextLength: int(f.ctx, 'ctx'), tied: f.tied, split: int(f.split, 'split'),
  };
  const target = int(f['target-mib'], 'target-mib');
  const layers = target ? layersFor(target * 2 ** 20, base) : (int(f.layers, 'layers') ?? 2);
  const t0 = performance.now();
  const { files, bytes } = await writeSyntheticModel(f.out, { ...base, layers });
  const secs = (performance.now() - t0) / 1000;
  console.log(`wrote ${files.join(', ')}: ${(bytes / 2 ** 20).toFixed(1)} MiB, ${layers} layers, ${dtype}, in ${secs.toFixed(1)} s`);
}

main(process.argv.slice(2)).catch((e: Error) => {
  console.error(`synth-model: ${e.message}`);
  process.exit(2);
});
