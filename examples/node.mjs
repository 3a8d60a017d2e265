#!/usr/bin/env node
// Friday in Node: load a GGUF model from a path and stream text to stdout.
//   npm run build:lib && node examples/node.mjs path/to/model.gguf ["prompt"] [max tokens]
// In your own project: `import { createEngine } from 'friday'`.
import { createEngine } from '../dist/index.js';

const [model, prompt = 'Once upon a time', maxTokens = '64'] = process.argv.slice(2);
if (!model) {
  console.error('usage: node examples/node.mjs MODEL.gguf [PROMPT] [MAX_TOKENS]');
  process.exit(2);
}

const engine = await createEngine({ model, contextLength: 512 });
try {
  process.stdout.write(prompt);
  for await (const ev of engine.generate({ prompt, max_tokens: Number(maxTokens), temperature: 0 })) {
    process.stdout.write(ev.text);
    if (ev.done) process.stderr.write(`\n[${ev.usage.completion_tokens} tokens, ${ev.finish_reason}, served by ${ev.served_by}]\n`);
  }
} finally {
  await engine.close();
}
