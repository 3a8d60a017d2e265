// Benchmark servers run in a process of their own, as a real server would, so the measured
// client's event loop and CPU time are its own. The child sends `{ url }` once it listens.
import { fork, type ChildProcess } from 'node:child_process';
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
