import { inRange, isInt, optNumber, parseFlags, requireString } from './args.js';
import { openSource } from '../model/source/open.js';
import { createProgressPrinter } from '../engine/load-progress.js';
import { LoadedModel } from '../engine/model.js';
import { generateSolo } from '../engine/solo.js';
import { cliRequest, generateRemote } from '../remote/cli-support.js';

type Flags = ReturnType<typeof parseFlags>;
type Params = ReturnType<typeof samplingParams>;

export async function generateCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    model: { type: 'string' }, prompt: { type: 'string' }, 'max-tokens': { type: 'string' }, temperature: { type: 'string' },
    'top-k': { type: 'string' }, 'top-p': { type: 'string' }, 'min-p': { type: 'string' }, 'repeat-penalty': { type: 'string' },
    seed: { type: 'string' }, ctx: { type: 'string' }, json: { type: 'boolean' }, remote: { type: 'string' },
  });
  const prompt = typeof flags.prompt === 'string' ? flags.prompt : '';
  const params = samplingParams(flags);
  const ctx = optNumber(flags, 'ctx', isInt(8), 'an integer >= 8');
  const json = flags.json === true;
  if (typeof flags.remote === 'string' && flags.remote) {
    // Same request and output, served by an OpenAI-compatible server instead of the local GPU.
    const res = await generateRemote(flags.remote, cliRequest(prompt, params), { onText: json ? undefined : (s) => process.stdout.write(s) });
    process.stdout.write(json ? JSON.stringify(res) + '\n' : '\n');
    return 0;
  }
  const modelPath = requireString(flags, 'model');
  const source = await openSource(modelPath); // a path, a split set, or an http(s) URL
  let model: LoadedModel | undefined;
  try {
    // One sequence: size the batch so the whole prompt is prefilled in one pass.
    // Load progress goes to stderr: a bar on a terminal, plain lines otherwise; stdout stays clean.
    const tty = process.stderr.isTTY === true;
    const onProgress = createProgressPrinter((s) => process.stderr.write(s), { tty, width: process.stderr.columns ?? 80 });
    model = await LoadedModel.load(source, { contextLength: ctx, maxBatchTokens: Math.min(ctx ?? 2048, 512), onProgress });
    if (model.deviceNote && !json) process.stderr.write(`friday: ${model.deviceNote}\n`);
    await generateLocal(model, prompt, params, json);
    return 0;
  } finally {
    model?.destroy();
    await source.close();
  }
}

function samplingParams(flags: Flags) {
  return {
    maxTokens: optNumber(flags, 'max-tokens', isInt(1), 'a positive integer') ?? 128,
    temperature: optNumber(flags, 'temperature', inRange(0, 100), 'a number >= 0') ?? 0,
    topK: optNumber(flags, 'top-k', isInt(0), 'an integer >= 0'),
    topP: optNumber(flags, 'top-p', inRange(0, 1), 'a number in [0, 1]'),
    minP: optNumber(flags, 'min-p', inRange(0, 1), 'a number in [0, 1]'),
    repeatPenalty: optNumber(flags, 'repeat-penalty', inRange(0, 100), 'a positive number'),
    seed: optNumber(flags, 'seed', isInt(0, 2 ** 32 - 1), 'an integer in [0, 2^32)'),
  };
}

/** Generates on the loaded model; text streams to stdout, or one JSON line at the end with `json`. */
async function generateLocal(model: LoadedModel, prompt: string, params: Params, json: boolean): Promise<void> {
  const tok = model.tokenizer;
  const promptIds = tok.encode(prompt, { addSpecial: true, parseSpecial: false });
  // With only BOS before it, the first piece's SentencePiece space is dropped (as llama2.c prints).
  const decoder = tok.createDecoder({ atStart: promptIds.length === (tok.addBos ? 1 : 0) });
  let text = '';
  const res = await generateSolo(model, promptIds, params, (id) => {
    const piece = decoder.push(id);
    text += piece;
    if (!json) process.stdout.write(piece);
  });
  const tail = decoder.flush();
  text += tail;
  if (!json) {
    process.stdout.write(tail + '\n');
    return;
  }
  const info = model.gpu.info;
  process.stdout.write(JSON.stringify({
    prompt_tokens: promptIds,
    tokens: res.tokens,
    text,
    finish_reason: res.finishReason,
    timings: {
      load_ms: round(model.loadMs), prefill_ms: round(res.prefillMs), decode_ms: round(res.decodeMs),
      decode_tokens_per_s: round(res.tokens.length > 1 ? ((res.tokens.length - 1) * 1000) / res.decodeMs : 0),
    },
    adapter: { vendor: info.vendor, architecture: info.architecture, is_software: info.is_software },
  }) + '\n');
}

const round = (x: number) => Math.round(x * 100) / 100;
