// The main-thread transport: request ids, routing of responses, abort signals, and noticing that
// the worker is gone. A Worker has no "exited" event in browsers, so besides `error`,
// `messageerror` and a port's `close` event (Node, newer browsers), a heartbeat probes the worker
// while requests are pending: a crashed, hung or terminated worker fails them instead of leaving
// them hanging.
import { abortedError, FridayError } from '../api/errors.js';
import { isWorkerResponse, type Endpoint, type WorkerRequest, type WorkerResponse } from './protocol.js';

export interface Pending {
  onMessage(m: WorkerResponse): void;
  /** The request failed on this side (abort, crash, close); it must not touch the link again. */
  fail(e: FridayError): void;
}

export interface LinkOptions {
  /** Ping the worker this often while requests are pending; 0 disables the heartbeat. Default 2000. */
  heartbeatMs?: number;
  /** A ping unanswered this long means the worker is gone. Default 30000. */
  heartbeatTimeoutMs?: number;
  /** Kills the worker (when there is one) once it is known to be dead or closed. */
  terminate?: () => void;
  /** Called on stats snapshots that ride along on responses. */
  onStats?: (m: WorkerResponse) => void;
}

export class Link {
  private readonly pending = new Map<number, Pending & { unlisten?: () => void }>();
  private nextId = 1;
  private timer: ReturnType<typeof setInterval> | undefined;
  private pingSentAt: number | undefined;
  /** Set once the worker is dead or closed: every later request fails with it. */
  dead: FridayError | undefined;

  constructor(private readonly ep: Endpoint, private readonly opts: LinkOptions = {}) {
    ep.addEventListener('message', this.onMessage);
    ep.addEventListener('error', this.onError);
    ep.addEventListener('messageerror', this.onMessageError);
    ep.addEventListener('close', this.onClose);
    ep.start?.();
  }

  id(): number {
    return this.nextId++;
  }

  /**
   * Tracks request `id` and sends `msg`. Fails `p` instead (and returns false) when the link is
   * dead, the signal already fired, or the message cannot be cloned.
   */
  request(id: number, msg: WorkerRequest, p: Pending, signal?: AbortSignal): boolean {
    if (this.dead) { p.fail(this.dead); return false; }
    if (signal?.aborted) { p.fail(abortedError()); return false; }
    const entry: Pending & { unlisten?: () => void } = { ...p };
    if (signal) {
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        this.settle(id);
        this.send({ type: 'abort', id });
        p.fail(abortedError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry.unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    this.pending.set(id, entry);
    const err = this.send(msg);
    if (err) {
      this.settle(id);
      p.fail(err);
      return false;
    }
    this.watch();
    return true;
  }

  /** The request is over on this side: stop routing to it. */
  settle(id: number): void {
    const e = this.pending.get(id);
    if (!e) return;
    e.unlisten?.();
    this.pending.delete(id);
    if (this.pending.size === 0) this.unwatch();
  }

  /** Aborts request `id` in the worker; the caller fails its own end. */
  abort(id: number): void {
    if (!this.pending.has(id)) return;
    this.settle(id);
    this.send({ type: 'abort', id });
  }

  /** Posts a message; a value that cannot be cloned becomes INVALID_REQUEST. */
  send(msg: WorkerRequest): FridayError | undefined {
    if (this.dead) return this.dead;
    try {
      this.ep.postMessage(msg);
      return undefined;
    } catch (e) {
      return new FridayError('INVALID_REQUEST', `The request cannot be sent to the worker: ${(e as Error).message}`, undefined, { cause: e });
    }
  }

  /** Marks the link dead, fails everything pending with `e`, and kills the worker. */
  die(e: FridayError): void {
    if (this.dead) return;
    this.dead = e;
    const all = [...this.pending.values()];
    for (const id of [...this.pending.keys()]) this.settle(id);
    for (const p of all) p.fail(e);
    this.detach();
    this.opts.terminate?.();
  }

  private detach(): void {
    this.unwatch();
    this.ep.removeEventListener('message', this.onMessage);
    this.ep.removeEventListener('error', this.onError);
    this.ep.removeEventListener('messageerror', this.onMessageError);
    this.ep.removeEventListener('close', this.onClose);
  }

  private readonly onMessage = (ev: Event) => {
    const m = (ev as MessageEvent).data;
    if (!isWorkerResponse(m)) return;
    this.pingSentAt = undefined; // any message proves the worker is alive
    this.opts.onStats?.(m);
    if (m.type === 'pong') return;
    if (m.type === 'error' && m.id === undefined) {
      // The host itself failed outside any request: nothing it serves can be trusted to finish.
      this.die(FridayError.fromJSON(m.error));
      return;
    }
    if (m.id !== undefined) this.pending.get(m.id)?.onMessage(m);
  };

  private readonly onError = (ev: Event) => {
    const msg = (ev as ErrorEvent).message || 'the worker script failed to load or threw an uncaught error';
    this.die(new FridayError('INTERNAL', `The engine worker crashed: ${msg}`, { reason: 'worker-error' }));
  };

  private readonly onMessageError = () => {
    this.die(new FridayError('INTERNAL', 'A message from the engine worker could not be deserialized.', { reason: 'worker-messageerror' }));
  };

  private readonly onClose = () => {
    this.die(new FridayError('INTERNAL', 'The engine worker terminated (its port closed).', { reason: 'worker-closed' }));
  };

  private watch(): void {
    const every = this.opts.heartbeatMs ?? 2000;
    if (this.timer !== undefined || every <= 0) return;
    this.pingSentAt = undefined;
    this.timer = setInterval(() => this.tick(), every);
    // Node: a pending heartbeat must not keep the process alive on its own.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private unwatch(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = performance.now();
    // Staleness counts from the unanswered ping, not from the last message: throttled timers in a
    // background tab then delay the verdict instead of faking one.
    if (this.pingSentAt === undefined) {
      this.pingSentAt = now;
      this.send({ type: 'ping' });
      return;
    }
    if (now - this.pingSentAt > (this.opts.heartbeatTimeoutMs ?? 30_000)) {
      this.die(new FridayError('INTERNAL', `The engine worker stopped responding (no answer for ${Math.round(now - this.pingSentAt)} ms): it crashed, hung or was terminated.`, { reason: 'worker-unresponsive' }));
    }
  }
}
