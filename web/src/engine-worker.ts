// The demo's engine worker: the library's worker host (src/worker/host.ts, the same as
// src/worker/worker.ts), plus one extension: a model given as `friday-port:<key>` is read over a
// MessagePort the page offered first (PortSource), for model bytes that only the page can reach
// (a file opened by Electron's main process, a model in the browser cache opened offline).
import { toFridayError } from '../../src/api/errors.js';
import { createEngine, type CreateEngineOptions } from '../../src/index.js';
import { serveEngine } from '../../src/worker/host.js';
import type { Endpoint, ErrorMsg } from '../../src/worker/protocol.js';
import { isSourceOffer, PORT_MODEL_PREFIX, PortSource, type SourceOfferMsg } from './port-source.js';

const scope = self as unknown as Endpoint & { close(): void };

const offers = new Map<string, SourceOfferMsg>();
scope.addEventListener('message', (ev) => {
  const m = (ev as MessageEvent).data;
  if (isSourceOffer(m)) offers.set(m.key, m);
});

const fatal = (e: unknown) => scope.postMessage({ type: 'error', error: toFridayError(e).toJSON() } satisfies ErrorMsg);
scope.addEventListener('unhandledrejection', (ev) => fatal((ev as PromiseRejectionEvent).reason));
scope.addEventListener('error', (ev) => fatal((ev as ErrorEvent).error ?? (ev as ErrorEvent).message));

serveEngine(scope, {
  onClosed: () => scope.close(),
  async createEngine(options: CreateEngineOptions) {
    const { model } = options;
    if (typeof model === 'string' && model.startsWith(PORT_MODEL_PREFIX)) {
      const offer = offers.get(model.slice(PORT_MODEL_PREFIX.length));
      if (!offer) throw toFridayError(new Error(`No byte source was offered for ${model}.`));
      offers.delete(offer.key);
      // createEngine closes the source once the weights are on the GPU.
      return createEngine({ ...options, model: new PortSource(offer.port, offer) });
    }
    return createEngine(options);
  },
});
