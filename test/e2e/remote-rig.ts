// What the remote e2e tests share: a failure-injecting server on 127.0.0.1 (failure-server.ts),
// started once per describe(); engines made through the rig and closed after each test; and the
// check, after each test, that the pools are idle and the server holds exactly the sockets the
// pools hold (nothing leaks).
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { FridayError } from '../../src/api/errors.js';
import type { FinalEvent, GenerateEvent, GenerateRequest } from '../../src/api/types.js';
import { RemoteEngine, type RemoteEngineOptions } from '../../src/remote/engine.js';
import { startFailureServer, type FailureServer } from './failure-server.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Outcome { tokens: number[]; text: string; final?: FinalEvent; error?: FridayError; ms: number }

export async function run(r: RemoteEngine, req: GenerateRequest, opts: { signal?: AbortSignal; onToken?: (n: number) => boolean | void } = {}): Promise<Outcome> {
  const t0 = performance.now();
  const o: Outcome = { tokens: [], text: '', ms: 0 };
  try {
    for await (const ev of r.generate(req, { signal: opts.signal }) as AsyncIterable<GenerateEvent>) {
      o.text += ev.text;
      if (ev.done) o.final = ev;
      else {
        o.tokens.push(ev.token);
        if (opts.onToken?.(o.tokens.length) === true) break;
      }
    }
  } catch (e) {
    o.error = e as FridayError;
  }
  o.ms = performance.now() - t0;
  return o;
}

export const text = (ids: number[]) => ids.map((t) => String.fromCharCode(t)).join('');

export interface RemoteRig {
  /** The server (from the describe's beforeAll on). */
  readonly s: FailureServer;
  /** A RemoteEngine closed after the test (no health checks, short backoff unless given). */
  engine(o: Partial<RemoteEngineOptions> & Pick<RemoteEngineOptions, 'endpoints'>): RemoteEngine;
  /** An endpoint on the server with failure directives (`drop=2`, `status=503`, ...), named after them. */
  ep(directives: string, extra?: object): { url: string; name: string };
  expectSettled(...only: RemoteEngine[]): Promise<void>;
}

/** Registers the calling describe()'s hooks and returns the rig. */
export function remoteRig(): RemoteRig {
  let s: FailureServer | undefined;
  const engines: RemoteEngine[] = [];
  const engine = (o: Partial<RemoteEngineOptions> & Pick<RemoteEngineOptions, 'endpoints'>) => {
    const e = new RemoteEngine({ healthIntervalMs: 0, backoffBaseMs: 20, ...o });
    engines.push(e);
    return e;
  };
  const ep = (directives: string, extra: object = {}) => ({ url: `${s!.url}/fail/${directives}`, name: directives, ...extra });

  /**
   * Waits until no request is running, every pool socket is idle, and the server holds exactly the
   * sockets the pools hold (summed over this test's engines).
   */
  async function expectSettled(...only: RemoteEngine[]): Promise<void> {
    const es = only.length ? only : engines;
    let state: unknown;
    for (let i = 0; i < 150; i++) {
      const pools = es.map((e) => e.poolStats()).filter((p) => p !== undefined);
      const connected = pools.reduce((n, p) => n + p.connected, 0);
      state = { pools, serverSockets: s!.openSockets(), inFlight: es.map((e) => e.stats().running) };
      const idle = es.every((e) => e.stats().running === 0) && pools.every((p) => p.running === 0 && p.pending === 0 && p.connected === p.free);
      if (idle && (only.length > 0 || s!.openSockets() === connected)) return;
      await sleep(20);
    }
    expect(state, 'pool and server sockets did not settle').toBe('settled');
  }

  beforeAll(async () => { s = await startFailureServer(); });
  afterEach(async () => {
    await expectSettled();
    for (const e of engines) await e.close();
    engines.length = 0;
    for (let i = 0; i < 100 && s!.openSockets() > 0; i++) await sleep(20);
    expect(s!.openSockets(), 'sockets left open after the engines closed').toBe(0);
  });
  afterAll(async () => { await s?.close(); });

  return { get s() { return s!; }, engine, ep, expectSettled };
}
