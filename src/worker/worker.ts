// The dedicated-worker entry: `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`,
// then `WorkerEngine.create(worker, { model })` on the main thread. Everything else is in host.ts.
import { toFridayError } from '../api/errors.js';
import { serveEngine } from './host.js';
import type { Endpoint, ErrorMsg } from './protocol.js';

// The DOM lib types `self` as a Window; in a dedicated worker it is the worker's global scope.
const scope = self as unknown as Endpoint & { close(): void };

// An error escaping the host is a bug; tell the main thread (it fails every pending request)
// instead of leaving it to wait for answers that will never come.
const fatal = (e: unknown) => {
  const msg: ErrorMsg = { type: 'error', error: toFridayError(e).toJSON() };
  scope.postMessage(msg);
};
scope.addEventListener('unhandledrejection', (ev) => fatal((ev as PromiseRejectionEvent).reason));
scope.addEventListener('error', (ev) => fatal((ev as ErrorEvent).error ?? (ev as ErrorEvent).message));

serveEngine(scope, { onClosed: () => scope.close() });
