// `npm run bench [-- <suite>]`: measurements, not tests. Results go to bench/results/<suite>.json;
// docs/BENCHMARKS.md quotes them with the command and the machine.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';

const suites: Record<string, () => Promise<unknown>> = {
  models: async () => (await import('./models.js')).benchModels(),
  batching: async () => (await import('./batching.js')).benchBatching(),
  remote: async () => (await import('./remote.js')).benchRemote(),
  load: async () => (await import('./load.js')).benchLoad(),
  tokenizer: async () => (await import('./tokenizer.js')).benchTokenizer(),
};

const name = process.argv[2] ?? 'models';
const run = suites[name];
if (!run) {
  console.error(`unknown bench suite "${name}"; one of: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
const started = new Date().toISOString();
const result = await run();
const machine = { cpu: cpus()[0]?.model, cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
const out = resolve(import.meta.dirname, 'results', `${name}.json`);
mkdirSync(resolve(import.meta.dirname, 'results'), { recursive: true });
// Node/V8 flags beyond npm run bench's own (a diagnostic run) are part of the command.
const flags = process.execArgv.filter((f) => f !== '--expose-gc' && f !== '--import' && f !== 'tsx');
const command = flags.length ? `npm run build:node && node --expose-gc ${flags.join(' ')} --import tsx bench/run.ts ${name}` : `npm run bench -- ${name}`;
writeFileSync(out, JSON.stringify({ suite: name, started, command, machine, result }, null, 2) + '\n');
console.log(`wrote ${out}`);
process.exit(0);
