// Runs the real CLI from source in a child process (the same code bin/friday.js runs compiled).
// `friday serve` as a test server is in servers.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export function friday(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'src/cli/run.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface RunResult { code: number | null; stdout: string; stderr: string }

/** Collects a piped child's output until it exits; past `timeoutMs` it is killed (SIGKILL). */
export function outputOf(p: ChildProcess, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolveP) => {
    let stdout = '', stderr = '';
    p.stdout!.on('data', (d) => { stdout += d; });
    p.stderr!.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => { clearTimeout(t); resolveP({ code, stdout, stderr }); });
  });
}

export function fridayRun(args: string[], timeoutMs = 300_000): Promise<RunResult> {
  return outputOf(friday(args), timeoutMs);
}
