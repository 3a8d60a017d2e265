// Runs the real CLI from source in a child process (the same code bin/friday.js runs compiled).
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export function friday(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'src/cli/run.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface RunResult { code: number | null; stdout: string; stderr: string }

export function fridayRun(args: string[], timeoutMs = 300_000): Promise<RunResult> {
  return new Promise((resolveP) => {
    const p = friday(args);
    let stdout = '', stderr = '';
    p.stdout!.on('data', (d) => { stdout += d; });
    p.stderr!.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => { clearTimeout(t); resolveP({ code, stdout, stderr }); });
  });
}

/** Starts `friday serve` on an ephemeral port and resolves with its URL once it listens. */
export function startServer(args: string[]): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
  return new Promise((resolveP, reject) => {
    const proc = friday(['serve', '--port', '0', ...args]);
    let err = '';
    proc.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m) resolveP({ proc, url: m[1]!, stderr: () => err });
    });
    proc.on('close', (code) => reject(new Error(`friday serve exited (${code}) before listening: ${err}`)));
  });
}
