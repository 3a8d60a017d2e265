// The `friday` command line, run as a real child process.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeGGUF } from '../../src/model/gguf/writer.js';
import { fridayRun } from './cli.js';

const FIXTURES = resolve(process.cwd(), '../shared/fixtures');
const have = existsSync(FIXTURES);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping CLI model tests`);
const STORIES = resolve(FIXTURES, 'models/stories260K.gguf');
const Q8 = resolve(FIXTURES, 'models/TinyStories-656K-Q8_0.gguf');

/** stderr lines that are ours (Dawn's native warnings about other Vulkan drivers are not). */
const ours = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('friday:'));

describe.skipIf(!have)('friday CLI with a model', () => {
  it('generate --json prints one object with the documented fields and llama.cpp\'s tokens', async () => {
    const golden = JSON.parse(readFileSync(resolve(process.cwd(), 'test/goldens/TinyStories-656K-Q8_0.llamacpp.json'), 'utf8')).cases[1];
    const r = await fridayRun(['generate', '--model', Q8, '--prompt', golden.prompt, '--max-tokens', '8', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);
    expect(out.prompt_tokens).toEqual(golden.prompt_tokens);
    expect(out.tokens).toEqual(golden.tokens.slice(0, 8));
    expect(out.finish_reason).toBe('length');
    expect(out.text).toBe(golden.text.slice(0, out.text.length));
    expect(Object.keys(out.timings).sort()).toEqual(['decode_ms', 'decode_tokens_per_s', 'load_ms', 'prefill_ms']);
    expect(out.adapter).toMatchObject({ vendor: expect.any(String), architecture: expect.any(String), is_software: expect.any(Boolean) });
  });

  it('generate streams text to stdout', async () => {
    const r = await fridayRun(['generate', '--model', STORIES, '--prompt', 'Once upon a time', '--max-tokens', '12']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^, there was a little/);
  });

  it('tokenize prints llama.cpp\'s ids (no BOS)', async () => {
    const tk = JSON.parse(readFileSync(resolve(process.cwd(), 'test/goldens/stories260K.llamacpp.json'), 'utf8')).tokenize as { text: string; ids: number[] | null }[];
    for (const t of tk.filter((x) => x.ids && x.text.length > 0).slice(0, 3)) {
      const r = await fridayRun(['tokenize', '--model', STORIES, '--text', t.text, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).ids, JSON.stringify(t.text)).toEqual(t.ids);
    }
  });

  it('info reports dims, types, bytes and the fit verdict', async () => {
    const r = await fridayRun(['info', '--model', Q8]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/architecture llama/);
    expect(r.stdout).toMatch(/layers=2 dim=128 ffn=384 heads=8 kv_heads=4/);
    expect(r.stdout).toMatch(/Q8_0 x\d+/);
    expect(r.stdout).toMatch(/fits\s+yes/);
  });
});

describe('friday CLI bad input: one line on stderr, non-zero exit, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'friday-cli-'));
  const notGguf = join(dir, 'notes.txt');
  writeFileSync(notGguf, 'hello, I am not a model\n');
  const mamba = join(dir, 'mamba.gguf');
  writeFileSync(mamba, writeGGUF({ 'general.architecture': { type: 'string', value: 'mamba' } }, []));
  const cases: [string, string[], number, RegExp][] = [
    ['missing file', ['generate', '--model', join(dir, 'nope.gguf'), '--prompt', 'x'], 1, /no such file/],
    ['not a GGUF', ['generate', '--model', notGguf, '--prompt', 'x'], 1, /Invalid GGUF at byte 0: bad magic/],
    ['unsupported architecture', ['info', '--model', mamba], 1, /architecture "mamba" is not supported/],
    ['bad flag', ['generate', '--model', mamba, '--temprature', '1'], 2, /--temprature/],
    ['bad value', ['generate', '--model', mamba, '--max-tokens', 'lots'], 2, /--max-tokens must be a positive integer/],
    ['missing --model', ['tokenize', '--text', 'x'], 2, /--model is required/],
    ['unknown command', ['fly'], 2, /unknown command "fly"/],
  ];
  for (const [name, args, code, msg] of cases) {
    it(name, async () => {
      const r = await fridayRun(args);
      expect(r.code).toBe(code);
      expect(ours(r.stderr)).toHaveLength(1);
      expect(ours(r.stderr)[0]).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout).toBe('');
    });
  }

  it.skipIf(!have)('exits 2 with one line when there is no WebGPU adapter at all', async () => {
    const { friday } = await import('./cli.js');
    const p = friday(['generate', '--model', STORIES, '--prompt', 'x'], { VK_ICD_FILENAMES: join(dir, 'no-driver.json') });
    let err = '';
    p.stderr!.on('data', (d) => { err += d; });
    const code = await new Promise((r) => p.on('close', r));
    expect(code).toBe(2);
    expect(ours(err)).toHaveLength(1);
    expect(ours(err)[0]).toMatch(/No WebGPU adapter/);
  });
});
