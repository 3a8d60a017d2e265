// The embedding examples: examples/node.mjs (the built library, dist/) run as a child process, and
// examples/index.html (a worker-hosted engine streaming into a <pre>) served by a Vite dev server
// on 127.0.0.1 and opened in Chromium (WebGPU on SwiftShader). Both greedy: the page must print
// exactly the continuation the Node script printed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputOf, type RunResult } from './cli.js';
import { freePort } from './servers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURES = resolve(ROOT, '../shared/fixtures');
const MODEL = join(FIXTURES, 'models/stories260K.gguf');
const have = existsSync(MODEL);
if (!have) console.warn(`shared fixtures not found at ${FIXTURES}: skipping the examples tests`);

const PROMPT = 'Once upon a time';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs: number }): Promise<RunResult> {
  return outputOf(spawn(cmd, args, { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] }), opts.timeoutMs);
}

describe.skipIf(!have)('examples', () => {
  let tmp = '';
  let nodeText: string | undefined;
  let server: ViteDevServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'friday-examples-'));
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('examples/node.mjs streams text from a GGUF path with the built library', async () => {
    // The library built as `npm run build:lib` does, into a scratch tree laid out like the package
    // (dist/, shaders/, node_modules/, examples/), so the shared dist/ is left alone.
    const lib = join(tmp, 'pkg');
    await mkdir(join(lib, 'examples'), { recursive: true });
    const tsc = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(lib, 'dist'), '--sourceMap', 'false', '--declaration', 'false'], { timeoutMs: 120_000 });
    expect(existsSync(join(lib, 'dist/index.js')), `tsc did not emit dist/index.js:\n${tsc.stdout}${tsc.stderr}`).toBe(true);
    await cp(join(ROOT, 'examples/node.mjs'), join(lib, 'examples/node.mjs'));
    await symlink(join(ROOT, 'node_modules'), join(lib, 'node_modules'));
    await symlink(join(ROOT, 'shaders'), join(lib, 'shaders'));
    await writeFile(join(lib, 'package.json'), JSON.stringify({ name: 'friday', type: 'module' }));

    const r = await run(process.execPath, [join(lib, 'examples/node.mjs'), MODEL, PROMPT, '48'], { cwd: lib, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith(PROMPT)).toBe(true);
    expect(r.stderr).toContain('[48 tokens, length, served by local]');
    nodeText = r.stdout.slice(PROMPT.length);
    expect(nodeText.length).toBeGreaterThan(40);
  }, 240_000);

  it('examples/index.html streams into its <pre> from a worker-hosted engine', async () => {
    const port = await freePort();
    server = await createServer({
      configFile: join(ROOT, 'examples/vite.config.ts'),
      logLevel: 'warn',
      // Others may edit src/ meanwhile: no watching, so no HMR reload mid-test.
      server: { port, strictPort: true, hmr: false, watch: null },
    });
    await server.listen();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 60_000 });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/examples/index.html?model=${encodeURIComponent(`/@fs${MODEL}`)}`);
    await page.waitForSelector('#out[data-done]', { timeout: 150_000 });
    const text = (await page.textContent('#out')) ?? '';
    expect(await page.getAttribute('#out', 'data-done'), text).toBe('true');
    expect(errors).toEqual([]);
    expect(text.length).toBeGreaterThan(40);
    // Greedy on the same kernels: Chromium's WebGPU in a worker prints what Dawn in Node printed.
    expect(text.startsWith(PROMPT)).toBe(true);
    if (nodeText !== undefined) expect(text.slice(PROMPT.length)).toBe(nodeText);
    await mkdir(join(ROOT, 'test-results/examples'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results/examples/embedded.png') });
  }, 240_000);
});
