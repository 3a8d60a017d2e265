import { parseFlags, requireString } from './args.js';
import { openModelFile } from './model-file.js';
import { createTokenizer } from '../tokenizer/index.js';

/** Prints token ids with no BOS added (llama.cpp's test convention: add_special=false, parse_special=true). */
export async function tokenizeCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, { model: { type: 'string' }, text: { type: 'string' }, json: { type: 'boolean' } });
  const text = requireString(flags, 'text');
  const { gguf, close } = await openModelFile(requireString(flags, 'model'));
  try {
    const tok = createTokenizer(gguf.metadata);
    const ids = tok.encode(text, { addSpecial: false, parseSpecial: true });
    if (flags.json) {
      process.stdout.write(JSON.stringify({ ids, pieces: ids.map((id) => tok.decode([id])) }) + '\n');
    } else {
      process.stdout.write(ids.join(' ') + '\n');
    }
    return 0;
  } finally {
    await close();
  }
}
