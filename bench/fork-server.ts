// Benchmark servers run in a process of their own, as a real server would, so the measured
// client's event loop and CPU time are its own. The child sends `{ url }` once it listens.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** Starts bench/<script> under tsx with `args`; resolves once it reports its URL. */
export async function forkServer(script: string, args: string[] = []): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(resolve(import.meta.dirname, script), args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const url = await new Promise<string>((res, rej) => {
    child.once('message', (m: { url: string }) => res(m.url));
    child.once('exit', (code) => rej(new Error(`${script} exited with ${code}`)));
  });
  return { url, child };
}

/** A benchmark server in its own process: its connection count and CPU time. */
export class ServerProcess {
  private seq = 0;
  private constructor(private readonly child: ChildProcess, readonly url: string) {}

  /** `script`: bench/sse-server.ts (the token server) or bench/remote-server.ts (the failure server, for its directives). */
  static async start(script = 'sse-server.ts'): Promise<ServerProcess> {
    const { url, child } = await forkServer(script);
    return new ServerProcess(child, url);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The server process's CPU time so far (ms), from /proc; undefined where there is none. */
  cpuMs(): number | undefined {
    try {
      const fields = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
    } catch {
      return undefined;
    }
  }

  connections(): Promise<number> {
    const id = ++this.seq;
    return new Promise((res) => {
      const on = (m: { id?: number; connections?: number }) => {
        if (m.id !== id) return;
        this.child.off('message', on);
        res(m.connections!);
      };
      this.child.on('message', on);
      this.child.send({ op: 'connections', id });
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ op: 'close' });
    await exited;
  }
}

let ticks: number | undefined;
/** Clock ticks per second of /proc's CPU times. */
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

export const minus = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a - b);

/** Server on CPU 1, this process on CPU 0, when taskset is there; says what it did. */
export function pin(server: { readonly pid?: number }): string {
  try {
    execFileSync('taskset', ['-pc', '1', String(server.pid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
    return 'server on CPU 1, client on CPU 0 (taskset)';
  } catch {
    return 'not pinned (no taskset)';
  }
}

