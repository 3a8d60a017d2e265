// Servers the e2e tests run on 127.0.0.1: `friday serve` as a child process (started, waited on
// until healthy, stopped), and free ports for in-process servers (Vite) that need one up front.
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { friday } from './cli.js';

/** A port nothing listens on right now, for servers that take a fixed port (Vite with strictPort). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export interface FridayServe {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
  /** Kills the server (SIGKILL) unless it has exited, and waits for it to go. */
  stop(): Promise<void>;
}

/** Starts `friday serve` on an ephemeral port and resolves with its URL once it listens. */
function listening(args: string[]): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
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

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await gone;
}

/**
 * Starts `friday serve` and resolves once /health says 200. The server listens before the model
 * has loaded, and until then /health must answer 503; anything else fails the start.
 */
export async function startFridayServe(args: string[], timeoutMs = 60_000): Promise<FridayServe> {
  const { proc, url, stderr } = await listening(args);
  const served: FridayServe = { proc, url, stderr, stop: () => stopProcess(proc) };
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      const status = (await fetch(url + '/health')).status;
      if (status === 200) return served;
      if (status !== 503) throw new Error(`friday serve: /health answered ${status} while loading`);
      if (Date.now() > until) throw new Error(`friday serve never became healthy: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await served.stop();
    throw e;
  }
}
