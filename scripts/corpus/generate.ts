// Writes the procedural training corpus as JSON lines: {"text": story} or {"messages": [...]}.
//   node --import tsx scripts/corpus/generate.ts --seed 1 --stories 10000 --out /tmp/friday-default/corpus.jsonl
// Deterministic: the same flags give a byte-identical file. The text is the project's own (CC0).
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { chat } from './chat.js';
import { story } from './stories.js';
import { Dice } from './writer.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    stories: { type: 'string', default: '10000' },
    /** One chat example per this many stories. */
    'chat-every': { type: 'string', default: '12' },
    out: { type: 'string', default: '/tmp/friday-default/corpus.jsonl' },
    print: { type: 'string' },
  },
});

const d = new Dice(Number(values.seed));
const n = Number(values.stories);
const every = Number(values['chat-every']);
if (values.print) {
  // Preview: print a few stories and one chat to stdout.
  for (let i = 0; i < Number(values.print); i++) process.stdout.write(story(d) + '\n\n');
  process.stdout.write(JSON.stringify(chat(d), null, 1) + '\n');
  process.exit(0);
}
const lines: string[] = [];
let chars = 0, chats = 0;
for (let i = 0; i < n; i++) {
  const s = story(d);
  chars += s.length;
  lines.push(JSON.stringify({ text: s }));
  if (every > 0 && i % every === every - 1) {
    const m = chat(d);
    chars += m.reduce((a, x) => a + x.content.length, 0);
    lines.push(JSON.stringify({ messages: m }));
    chats++;
  }
}
mkdirSync(dirname(values.out!), { recursive: true });
writeFileSync(values.out!, lines.join('\n') + '\n');
process.stderr.write(`corpus: ${n} stories + ${chats} chats, ${(chars / 1e6).toFixed(2)} M characters -> ${values.out}\n`);
