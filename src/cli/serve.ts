import { isInt, optNumber, parseFlags, requireString } from './args.js';
import { FileSource } from '../model/source/file.js';
import { LocalEngine } from '../engine/local.js';
import { FridayServer } from '../server/http.js';
import { createFallbackRouter } from '../remote/cli-support.js';

export async function serveCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    model: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, 'max-seqs': { type: 'string' },
    ctx: { type: 'string' }, 'max-queue': { type: 'string' }, 'drain-timeout': { type: 'string' },
    fallback: { type: 'string' }, 'overflow-queue': { type: 'string' },
  });
  const modelPath = requireString(flags, 'model');
  const port = optNumber(flags, 'port', isInt(0, 65535), 'a port number') ?? 8080;
  const maxSeqs = optNumber(flags, 'max-seqs', isInt(1, 256), 'an integer in [1, 256]') ?? 8;
  const ctx = optNumber(flags, 'ctx', isInt(8), 'an integer >= 8');
  const maxQueue = optNumber(flags, 'max-queue', isInt(0), 'an integer >= 0') ?? 256;
  const drainMs = (optNumber(flags, 'drain-timeout', (n) => n >= 0, 'seconds >= 0') ?? 30) * 1000;
  const log = (s: string) => process.stderr.write(`friday: ${s}\n`);

  const source = await FileSource.open(modelPath); // fail fast on a bad path, before listening
  let engine: LocalEngine | undefined;
  const loading = LocalEngine.create(source, { maxSeqs, contextLength: ctx, maxQueue }).then((e) => {
    engine = e;
    log(`model ready: ${e.info.model} (context ${e.info.contextLength}, ${maxSeqs} sequences)`);
    return e;
  });
  // --fallback: overflow, still-loading and device-lost requests go to these servers.
  const overflow = optNumber(flags, 'overflow-queue', isInt(0), 'an integer >= 0');
  const router = typeof flags.fallback === 'string' ? createFallbackRouter(loading, flags.fallback, { overflowWaiting: overflow }) : undefined;
  if (router) log(`fallback: ${router.remote!.endpoints.map((e) => e.name).join(', ')}`);
  const metrics = () => (engine?.prometheus() ?? '') + (router?.prometheus() ?? '');
  const server = new FridayServer(router ?? loading, { host: typeof flags.host === 'string' ? flags.host : '127.0.0.1', port, log, metrics });
  const { url } = await server.listen();
  log(`listening on ${url}`);
  loading.catch(() => undefined);

  return new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: draining for up to ${drainMs / 1000}s`);
      void server.drain(drainMs).then(() => source.close()).then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
