// Cross-entropy of a GGUF on the trainer's validation windows, computed by Friday's CPU engine:
// it should equal train.py's fp32 "val loss" up to F16/Q8_0 rounding, which checks the export
// end to end (tensor layout, RoPE convention, tokenizer ids).
//   node --import tsx scripts/train/eval-gguf.ts --dir /tmp/friday-default --model models/friday-default.gguf --windows 20
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CpuLlama } from '../../src/engine/cpu/index.js';
import { FileSource } from '../../src/model/source/file.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '/tmp/friday-default' },
    model: { type: 'string', default: 'models/friday-default.gguf' },
    windows: { type: 'string', default: '20' },
  },
});
const src = await FileSource.open(values.model!);
const model = await CpuLlama.load(src);
await src.close();
const raw = readFileSync(join(values.dir!, 'val.bin'));
const val = new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const seq = model.contextLength;
let total = 0, n = 0;
for (let w = 0; w < Number(values.windows) && (w + 1) * seq + 1 <= val.length; w++) {
  for (let p = 0; p < seq; p++) {
    const logits = model.forward(val[w * seq + p]!, p);
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    let sum = 0;
    for (const v of logits) sum += Math.exp(v - max);
    total += Math.log(sum) + max - logits[val[w * seq + p + 1]!]!;
    n++;
  }
}
process.stdout.write(`${values.model}: mean cross-entropy ${(total / n).toFixed(4)} over ${n} val tokens (${n / seq} windows of ${seq})\n`);
